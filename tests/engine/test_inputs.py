"""Input schemes, replicas and chaining (DISCO-SPEC §2.8, §3.4-3.5, §11.2 Chaining)."""
import http.server

import pytest

from discolite import Job, JobChain, result_iterator
from discolite.util import read_index
from discolite.worker.classic.func import chain_reader, nop_map, sum_reduce

from tests.engine.common import POLL, fails, results, run, run_results, task_messages
from tests.helpers import serve_http


class Handler(http.server.BaseHTTPRequestHandler):
    routes = {}     # path -> bytes
    flaky = {}      # path -> number of 500 answers still to give
    hits = {}

    def do_GET(self):
        path = self.path
        Handler.hits[path] = Handler.hits.get(path, 0) + 1
        if path.startswith('/chunked/'):
            body = Handler.routes[path]
            self.send_response(200)
            self.send_header('Transfer-Encoding', 'chunked')
            self.end_headers()
            for i in range(0, len(body), 4):
                part = body[i:i + 4]
                self.wfile.write(b'%x\r\n%s\r\n' % (len(part), part))
            self.wfile.write(b'0\r\n\r\n')
            return
        if Handler.flaky.get(path, 0) > 0 or path.endswith('_fail') or path not in Handler.routes:
            if Handler.flaky.get(path, 0) > 0:
                Handler.flaky[path] -= 1
            code = 404 if path not in Handler.routes and not path.endswith('_fail') else 500
            self.send_response(code)
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        body = Handler.routes[path]
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope='module')
def http_base():
    with serve_http(Handler) as url:
        yield url


def lines_map(line, params):
    yield line, type(line).__name__


def int_map(line, params):
    yield 'sum', int(line)


def test_raw_inputs_give_str_lines(disco):
    got = run_results(disco, input=['raw://one', 'raw://two\nthree'], map=lines_map)
    assert sorted(got) == [('one', 'str'), ('three', 'str'), ('two\n', 'str')]


def test_file_paths_and_file_urls_give_bytes_lines(disco, tmp_path):
    a = tmp_path / 'a.txt'
    a.write_bytes(b'first\nsecond\n')
    b = tmp_path / 'b.txt'
    b.write_bytes(b'no newline at end')
    got = run_results(disco, input=[str(a), 'file://' + str(b)], map=lines_map)
    assert sorted(got) == [(b'first\n', 'bytes'), (b'no newline at end', 'bytes'),
                           (b'second\n', 'bytes')]


def test_http_inputs_give_bytes_lines(disco, http_base):
    Handler.routes.update({'/h/%d' % i: b'%d\n%d\n' % (i, i) for i in range(10)})

    def fmap(line, params):
        assert isinstance(line, bytes) and line.endswith(b'\n')
        yield int(line), line.strip()

    def freduce(iter, out, params):
        for k, v in sorted(iter):
            out.add(k, v)
    inputs = ['%s/h/%d' % (http_base, i) for i in range(10)]
    got = run_results(disco, input=inputs, map=fmap, reduce=freduce, partitions=None)
    assert got == sorted((i, b'%d' % i) for i in range(10) for _ in range(2))


def test_reduce_only_over_http_inputs_reads_raw_lines(disco, http_base):
    Handler.routes.update({'/r/%d' % i: b'%d\n' % i for i in range(5)})

    def freduce(iter, params):
        yield 'sum', sum(int(line) for line in iter)
    got = run_results(disco, input=['%s/r/%d' % (http_base, i) for i in range(5)],
                      reduce=freduce, reduce_reader=None)
    assert got == [('sum', 10)]


def test_chunked_http_input(disco, http_base):
    Handler.routes['/chunked/hello'] = b'Hello World'

    def fmap(line, params):
        for w in line.split():
            yield w, 1
    got = run_results(disco, input=[http_base + '/chunked/hello'], map=fmap, reduce=sum_reduce)
    assert sorted(got) == [(b'Hello', 1), (b'World', 1)]


def test_transient_http_500_is_retried(disco, http_base):
    Handler.routes['/flaky/1'] = b'5\n'
    Handler.flaky['/flaky/1'] = 1
    got = run_results(disco, input=[http_base + '/flaky/1', 'raw://7'], map=int_map,
                      reduce=sum_reduce)
    assert got == [('sum', 12)]
    assert Handler.hits['/flaky/1'] >= 2


def test_redundant_inputs_fall_through_failing_replicas(disco, http_base):
    for n in ('1', '200', '3', '400'):
        Handler.routes['/red/' + n] = n.encode() + b'\n'
    u = lambda p: '%s/red/%s' % (http_base, p)  # noqa: E731
    inputs = [u('1'), [u('2_fail'), u('2_still_fail'), u('200')], u('3'), [u('4_fail'), u('400')]]
    job = run(disco, input=inputs, map=int_map, reduce=sum_reduce)
    assert results(job) == [('sum', 604)]
    assert any('2_fail failed, trying the next replica' in m for m in task_messages(job, 'map'))


def test_unreadable_input_kills_the_job_with_its_url(disco, tmp_path):
    missing = str(tmp_path / 'does-not-exist.txt')
    text, events = fails(run(disco, input=[missing], map=lines_map))
    assert missing in text
    assert missing in events


def test_all_replicas_failing_names_every_url(disco, http_base):
    urls = [http_base + '/gone_fail', http_base + '/also_gone_fail']
    text, events = fails(run(disco, input=[urls], map=lines_map))
    for url in urls:
        assert url in text


def test_map_over_earlier_results_has_one_task_per_indexed_file(disco):
    first = run(disco, input=['raw://a b', 'raw://c', 'raw://d e f'], map=lines_map,
                partitions=2)
    first_results = first.wait(poll_interval=POLL)
    files = [url for [d] in first.stageresults('map') for _l, url, _s in read_index(d)]
    shuffled = [url for [d] in first_results for _l, url, _s in read_index(d)]

    def fmap(kv, params):
        yield kv[0].strip(), 'again'
    second = run(disco, input=first_results, map=fmap, map_reader=chain_reader)
    assert sorted(results(second)) == [('a b', 'again'), ('c', 'again'), ('d e f', 'again')]
    assert second.jobinfo()['pipeline'][0][4] == len(shuffled) == 2
    # the dir:// results were expanded on the client into the data URLs they index
    assert sorted(second.jobinfo()['inputs']) == sorted(shuffled)
    assert len(files) == 3


def test_map_without_reader_gets_raw_lines_of_internal_format(disco):
    first = run(disco, input=['raw://x'], map=lines_map)

    def fmap(line, params):
        yield 'type', type(line).__name__
    got = run_results(disco, input=first.wait(poll_interval=POLL), map=fmap)
    assert got and {v for _k, v in got} == {'bytes'}


def test_disco_urls_as_inputs(disco):
    first = run(disco, input=['raw://p', 'raw://q'], map=lines_map)
    urls = [url for [d] in first.wait(poll_interval=POLL) for _l, url, _s in read_index(d)]
    assert urls and all(u.startswith('disco://') for u in urls)

    def reader(fd, size, url, params):
        # the data of a local job is read from a local file (force_local semantics)
        from discolite.worker.task_io import chain_reader as cr
        for k, v in cr(fd, size, url, params):
            yield k, hasattr(fd, 'fileno')
    got = run_results(disco, input=urls, map=nop_map, map_reader=reader,
                      scheduler={'force_local': True, 'max_cores': 2})
    assert sorted(got) == [('p', True), ('q', True)]


def test_reduce_only_over_dir_results_uses_their_labels(disco):
    def fmap(line, params):
        for w in line.split():
            yield w, 1
    words = 'a b c d e f g h'
    maps = [run(disco, input=['raw://' + words, 'raw://a c e'], map=fmap, partitions=3)
            for _ in range(2)]
    labels = {l for [d] in maps[0].wait(poll_interval=POLL) for l, _u, _s in read_index(d)}
    assert len(labels) > 1

    def freduce(iter, params):
        for k, v in iter:
            yield k, (v, this_partition())  # noqa: F821
    outs = []
    for m in maps:
        job = run(disco, input=m.wait(poll_interval=POLL), reduce=freduce)
        outs.append(sorted(results(job)))
        assert len(job.wait(poll_interval=POLL)) == len(labels)
    assert outs[0] == outs[1]
    assert sorted(k for k, _ in outs[0]) == sorted((words + ' a c e').split())


def test_job_object_as_input(disco):
    first = Job(master=disco).run(input=['raw://1', 'raw://2'], map=int_map)
    got = run_results(disco, input=[first], map=nop_map, map_reader=chain_reader,
                      reduce=sum_reduce)
    assert got == [('sum', 3)]
    got = run_results(disco, input=first, reduce=sum_reduce)
    assert got == [('sum', 3)]


def test_sequential_chain_of_jobs(disco):
    def incr(kv, params):
        k, v = kv
        yield k, v + 1
    last = run(disco, input=['raw://0'], map=int_map)
    for _ in range(5):
        last = run(disco, input=last.wait(poll_interval=POLL), map=incr, map_reader=chain_reader)
    assert results(last) == [('sum', 5)]


def test_jobchain_suffixes_keys_through_two_jobs(disco):
    from tests.engine.jobs_mod import SuffixA, SuffixB
    a = SuffixA(master=disco)
    b = SuffixB(master=disco)
    chain = JobChain({a: ['raw://x', 'raw://y'], b: a})
    assert chain.wait(poll_interval=POLL) is chain
    assert sorted(result_iterator(b.wait(poll_interval=POLL))) == [('x-a-b', 1), ('y-a-b', 1)]


def test_jobchain_with_a_list_of_jobs_as_input(disco):
    from tests.engine.jobs_mod import Collect, SuffixA
    a = SuffixA(master=disco)
    b = SuffixA(master=disco)
    c = Collect(master=disco)
    chain = JobChain({a: ['raw://p', 'raw://q', 'raw://r'], b: ['raw://s', 'raw://t', 'raw://u'],
                      c: [a, b]})
    chain.wait(poll_interval=POLL)
    got = sorted(result_iterator(c.wait(poll_interval=POLL)))
    assert got == [(w + '-a', 1) for w in 'pqrstu']


def test_jobchain_wait_raises_when_a_job_fails(disco):
    from discolite.error import JobError
    from tests.engine.jobs_mod import Broken, SuffixA
    chain = JobChain({SuffixA(master=disco): ['raw://a'], Broken(master=disco): ['raw://b']})
    with pytest.raises(JobError) as info:
        chain.wait(poll_interval=POLL)
    assert 'Status dead' in str(info.value)


def test_jobchain_of_concurrent_partitioned_jobs(disco):
    from tests.engine.jobs_mod import Eleven
    jobs = [Eleven(master=disco) for _ in range(5)]
    chain = JobChain((job, ['raw://j%d-%d' % (n, i) for i in range(3)])
                     for n, job in enumerate(jobs))
    chain.wait(poll_interval=POLL)
    for n, job in enumerate(jobs):
        got = sorted(result_iterator(job.wait(poll_interval=POLL)))
        assert got == sorted(('j%d-%d-%d' % (n, i, k), k) for i in range(3) for k in range(20))
