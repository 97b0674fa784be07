"""A robust HTTP master (issue 12 item 5), against a real ``discolite master`` on loopback
with short timeouts and a small connection limit."""
import contextlib
import json
import os
import socket
import threading
import time

import pytest

from discolite import Disco, Job

ENV = {'DISCOLITE_SERVER_IDLE_TIMEOUT': '1', 'DISCOLITE_SERVER_READ_TIMEOUT': '1',
       'DISCOLITE_SERVER_MAX_CONNECTIONS': '16', 'DISCOLITE_SERVER_MAX_BODIES': '1'}


@pytest.fixture(scope='module')
def url(tmp_path_factory):
    from tests.helpers import env, http_master
    with env(**ENV), http_master(tmp_path_factory.mktemp('robust'), workers=1) as u:
        yield u


def _addr(url):
    host, port = url.split('//')[1].split(':')
    return host, int(port)


def _connect(url):
    return socket.create_connection(_addr(url), timeout=10)


def raw(url, data, wait=10):
    """Send raw bytes, return everything the master answers before it closes (or ``wait``)."""
    with _connect(url) as s:
        s.sendall(data)
        s.settimeout(wait)
        out = b''
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except socket.timeout:
            pass
        return out


def status(answer):
    return int(answer.split(b' ', 2)[1]) if answer else None


def _alive(url):
    start = time.time()
    assert Disco(url).joblist() is not None
    return time.time() - start


def test_idle_connections_are_closed(url):
    with _connect(url) as s:
        start = time.time()
        s.settimeout(10)
        assert s.recv(1) == b''  # closed by the master, without a word
        assert 0.8 < time.time() - start < 5


def test_a_body_shorter_than_its_content_length_does_not_hold_a_thread(url):
    start = time.time()
    answer = raw(url, b'POST /disco/ctrl/kill_job HTTP/1.1\r\nHost: x\r\n'
                      b'Content-Length: 100\r\n\r\n"abc"')
    assert answer == b'' and time.time() - start < 5
    _alive(url)


@pytest.mark.parametrize('headers', [
    b'Content-Length: 5\r\nContent-Length: 5\r\n',
    b'Content-Length: 5\r\nContent-Length: 6\r\n',
    b'Content-Length: +5\r\n', b'Content-Length: 5.0\r\n', b'Content-Length: -1\r\n',
    b'Content-Length: 0x5\r\n', b'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n'])
def test_bad_content_length_is_400(url, headers):
    answer = raw(url, b'POST /disco/ctrl/kill_job HTTP/1.1\r\nHost: x\r\n' + headers +
                 b'\r\n"abc"')
    assert status(answer) == 400, answer
    _alive(url)


def test_chunked_is_411_and_get_with_a_body_is_400(url):
    answer = raw(url, b'POST /disco/ctrl/kill_job HTTP/1.1\r\nHost: x\r\n'
                      b'Transfer-Encoding: chunked\r\n\r\n5\r\n"abc"\r\n0\r\n\r\n')
    assert status(answer) == 411
    answer = raw(url, b'GET /disco/ctrl/joblist HTTP/1.1\r\nHost: x\r\nContent-Length: 30\r\n'
                      b'\r\nGET /disco/version HTTP/1.1\r\n\r\n')
    assert status(answer) == 400 and answer.count(b'HTTP/1.1') == 1  # no smuggled request


@pytest.mark.parametrize('path, body', [
    ('/disco/ctrl/kill_job', '[' * 100000 + ']' * 100000),
    ('/disco/ctrl/get_results', '[' * 100000),
    ('/disco/ctrl/get_results', '[1%s, ["x@1:2:3"]]' % ('0' * 40)),
    ('/disco/ctrl/get_results', '[4294967296, []]'),
    ('/disco/ctrl/get_results', '[1e999, []]'),
    ('/disco/ctrl/save_settings', '{"max_failure_rate": 1%s}' % ('0' * 5000)),
    ('/disco/ctrl/save_config_table', '[' * 50000),
])
def test_hostile_json_is_400_never_500(url, path, body):
    data = body.encode()
    answer = raw(url, b'POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'
                      b'Content-Length: %d\r\n\r\n%s' % (path.encode(), len(data), data))
    assert status(answer) == 400, answer[:300]
    message = json.loads(answer.split(b'\r\n\r\n', 1)[1])
    assert isinstance(message, str) and 'Traceback' not in message
    _alive(url)


def test_many_idle_connections_do_not_lock_clients_out(url):
    idle = [_connect(url) for _ in range(60)]  # the limit is 16 connections
    try:
        time.sleep(0.2)
        for _ in range(5):
            assert _alive(url) < 2.0
        job = Job(master=Disco(url)).run(input=['raw://a'], map=one_map)
        assert job.wait(poll_interval=0.05)
    finally:
        for s in idle:
            s.close()


def test_busy_connections_get_503_at_the_limit(url):
    """Connections in the middle of a request cannot be closed: newcomers get 503."""
    busy = []
    try:
        for _ in range(16):
            s = _connect(url)
            s.sendall(b'GET /disco/ctrl/joblist HTTP/1.1\r\n')  # a request line, no end
            busy.append(s)
        time.sleep(0.2)
        answer = raw(url, b'GET /disco/version HTTP/1.1\r\nHost: x\r\n\r\n', wait=2)
        assert status(answer) == 503
    finally:
        for s in busy:
            s.close()
    time.sleep(1.5)  # their read timeout
    _alive(url)


def test_big_job_packs_are_streamed_to_disk_and_work(url):
    disco = Disco(url)
    job = Job(master=disco).run(input=['raw://a'], map=one_map,
                                params={'blob': os.urandom(3 << 20)})
    assert job.wait(poll_interval=0.05)
    root = _root(disco)
    assert os.listdir(os.path.join(root, 'tmp')) == []  # the upload became the jobfile


@contextlib.contextmanager
def _body_slot_held(url, seconds=None):
    """A job pack body that holds the master's only big-body slot (the module's master has
    DISCOLITE_SERVER_MAX_BODIES=1): a byte every 0.3 s, never idle for the 1 s read timeout,
    for ``seconds`` (then it goes quiet) or for the whole block."""
    slow = _connect(url)
    stop = threading.Event()
    deadline = None if seconds is None else time.time() + seconds

    def trickle():
        while not stop.wait(0.3) and (deadline is None or time.time() < deadline):
            try:
                slow.sendall(b'\0')
            except OSError:
                return
    slow.sendall(b'POST /disco/job/new HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n'
                 % (5 << 20) + b'\0' * 1000)
    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        time.sleep(0.2)
        yield
    finally:
        stop.set()
        thread.join()
        slow.close()


def test_large_bodies_are_read_one_at_a_time(url):
    """With DISCOLITE_SERVER_MAX_BODIES=1, a second big body waits for the one being read
    (up to the read timeout, 1 s here), then gets the documented 503 with its reason: the
    master answers before it closes, so the client sees the 503 and not a reset."""
    with _body_slot_held(url):
        big = b'\0' * (2 << 20)
        start = time.time()
        answer = raw(url, b'POST /disco/job/new HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n'
                          b'\r\n' % len(big) + big)
        waited = time.time() - start
        assert status(answer) == 503, answer[:200]
        head, body = answer.split(b'\r\n\r\n', 1)
        assert b'\r\nConnection: close' in head
        assert body == b'Too many large request bodies at once; retry later.'
        assert 0.8 < waited < 5, waited
    _alive(url)


def test_a_big_job_pack_refused_midway_is_retried(url, monkeypatch):
    """A job pack bigger than the socket buffers, sent while another big body is being
    read: the master answers 503 and closes before the client has sent it all.  The
    client must read that 503 (not stop at its broken pipe) and retry, and the job runs
    once the other body is gone."""
    monkeypatch.setenv('DISCOLITE_HTTP_RETRY_SLEEP', '0.2')
    with _body_slot_held(url, seconds=2.5):
        job = Job(master=Disco(url)).run(input=['raw://a'], map=one_map,
                                         params={'blob': os.urandom(24 << 20)})
        assert job.wait(poll_interval=0.05)
        job.purge()


def one_map(entry, params):
    yield entry, 1


def _root(disco):
    """The data dir the master printed in its start-up line."""
    import re
    from tests.helpers import http_master
    return re.search(r'\(data: ([^)]+)\)', ''.join(http_master.output)).group(1)
