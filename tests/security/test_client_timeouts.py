"""Clients that do not hang (issue 12 item 6): connect and read timeouts in the HTTP
transport, and ``wait()`` giving up on a master that has gone away."""
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from discolite import Disco, Job
from discolite.error import CommError
from tests.helpers import serve_http


@pytest.fixture
def env(monkeypatch):
    def setenv(**values):
        for k, v in values.items():
            monkeypatch.setenv(k, str(v))
    setenv(DISCOLITE_HTTP_CONNECT_RETRIES=0, DISCOLITE_HTTP_RETRY_SLEEP=0.05)
    return setenv


def test_read_timeout_on_a_silent_master(env):
    env(DISCOLITE_HTTP_READ_TIMEOUT=1)
    with socket.socket() as listener:  # accepts connections (the kernel does) but never answers
        listener.bind(('127.0.0.1', 0))
        listener.listen(16)
        url = 'http://127.0.0.1:%d' % listener.getsockname()[1]
        for call in (lambda d: d.joblist(), lambda d: d.jobinfo('X@1:2:3'),
                     lambda d: d.kill('X@1:2:3')):
            start = time.time()
            with pytest.raises(CommError) as e:
                call(Disco(url))
            assert time.time() - start < 5
            assert 'no answer within 1 s (setting DISCOLITE_HTTP_READ_TIMEOUT)' in str(e.value)
            assert url in str(e.value)


def test_connect_timeout(env):
    env(DISCOLITE_HTTP_CONNECT_TIMEOUT=1, DISCOLITE_HTTP_READ_TIMEOUT=30)
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen(0)
        addr = listener.getsockname()
        fillers = []
        try:
            for _ in range(8):  # fill the accept queue: later SYNs are dropped
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(addr)
                fillers.append(s)
            time.sleep(0.2)
            probe = socket.socket()
            probe.settimeout(0.5)
            try:
                probe.connect(addr)
                pytest.skip('this kernel accepts connections beyond a full accept queue')
            except socket.timeout:
                pass
            finally:
                probe.close()
            start = time.time()
            with pytest.raises(CommError) as e:
                Disco('http://127.0.0.1:%d' % addr[1]).joblist()
            assert time.time() - start < 5
            assert 'no answer within 1 s (setting DISCOLITE_HTTP_CONNECT_TIMEOUT)' in str(e.value)
        finally:
            for s in fillers:
                s.close()


class SlowResults(http.server.BaseHTTPRequestHandler):
    """Answers get_results after the wait the poll asks for, like a master with an
    active job; anything else 404."""
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
        time.sleep(body[0] / 1000.0)
        data = json.dumps([[n, ['active', []]] for n in body[1]]).encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_long_get_results_polls_are_not_cut_by_the_read_timeout(env):
    env(DISCOLITE_HTTP_READ_TIMEOUT=0.5)
    with serve_http(SlowResults) as url:
        start = time.time()
        assert Disco(url).results('X@1:2:3', timeout=1500) == ('active', [])
        assert time.time() - start >= 1.4


def test_wait_gives_up_on_a_killed_master(env, tmp_path):
    env(DISCOLITE_WAIT_UNREACHABLE=2)
    proc = subprocess.Popen([sys.executable, '-m', 'discolite', 'master', '--host', '127.0.0.1',
                             '--port', '0', '--data-dir', str(tmp_path / 'data'),
                             '--workers', '1'],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = None
        for line in proc.stdout:
            m = re.search(r'(http://127\.0\.0\.1:\d+)', line)
            if m:
                url = m.group(1)
                break
        assert url, 'master did not start'
        disco = Disco(url)
        job = Job(master=disco).run(input=['raw://x'], map=sleepy_map)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        start = time.time()
        with pytest.raises(CommError) as e:
            job.wait(poll_interval=0.1)
        took = time.time() - start
        assert 1.5 < took < 15, took
        message = str(e.value)
        assert 'master %s unreachable for' % url in message
        assert 'DISCOLITE_WAIT_UNREACHABLE' in message and job.name in message
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def sleepy_map(entry, params):
    import time
    time.sleep(60)
    yield entry, 1
