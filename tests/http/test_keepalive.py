"""The HTTP transport keeps its connection to the master alive between requests.

Each new connection cost the client about half a millisecond and the server a thread;
a kept connection the server closed meanwhile (its idle timeout) is replaced without
sending a request twice.
"""
import time

from discolite import Disco, Job, result_iterator
from discolite.master import Master
from discolite.master.httpserver import serve


def count_map(line, params):
    yield line, 1


class Counting(object):
    def __init__(self, server):
        self.accepted = 0
        original = server.process_request

        def process_request(request, address):
            self.accepted += 1
            return original(request, address)
        server.process_request = process_request


def test_one_connection_serves_a_whole_job():
    with Master(DISCOLITE_WORKERS=1) as master:
        server, url = serve(master)
        counting = Counting(server)
        try:
            disco = Disco(url)
            assert disco.master_version() == '0.5.4'
            job = Job(master=disco).run(input=['raw://a', 'raw://b'], map=count_map)
            results = job.wait(poll_interval=0.01)
            disco.purge(job.name)
            assert disco.results(job.name) == ('unknown job', [])
            assert results and all(r[0].startswith('dir://') for r in results)
            assert counting.accepted == 1
        finally:
            server.shutdown()
            server.server_close()


def test_a_connection_closed_by_the_server_is_replaced_and_nothing_is_sent_twice():
    with Master(DISCOLITE_WORKERS=1, DISCOLITE_SERVER_IDLE_TIMEOUT=0.2) as master:
        server, url = serve(master)
        counting = Counting(server)
        try:
            disco = Disco(url)
            assert disco.master_version() == '0.5.4'
            deadline = time.time() + 10
            while server.connections and time.time() < deadline:  # the server hung up
                time.sleep(0.05)
            assert server.connections == 0
            job = Job(master=disco).run(input=['raw://a'], map=count_map)  # a POST
            assert [n for _t, _s, n in disco.joblist()] == [job.name]  # submitted once
            assert list(result_iterator(job.wait(poll_interval=0.01))) == [('a', 1)]
            assert counting.accepted == 2
        finally:
            server.shutdown()
            server.server_close()
