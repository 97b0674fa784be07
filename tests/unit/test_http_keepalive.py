"""http:// inputs on kept-alive connections (scheme_http) and the keep-alive TestServer."""
import io
import os
import socket
import socketserver
import threading
import time
import urllib.request

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from discolite.error import CommError
from discolite.schemes import scheme_http
from discolite.test import FailedReply, TestServer, handler
from discolite.worker import task_io
from discolite.worker.task_io import StreamCombiner


def body_of(path):
    n = int(path.split('/')[-1] or 0)
    return b''.join(b'%s line %d\n' % (path.encode(), i) for i in range(n))


class RawServer(socketserver.ThreadingTCPServer):
    """HTTP/1.1 by hand, to misbehave as real servers may.

    ``mode``: 'keep' answers request after request; 'silent-close' closes the
    connection after each answer without saying so; 'close-header' says
    ``Connection: close``; 'idle-close' closes a connection once it has answered
    ``idle_after`` requests, before reading the next one.  ``/redirect/N`` answers
    302 to ``/N``; ``/chunked/N`` sends its body in chunks.
    """
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, mode='keep', idle_after=1):
        self.mode, self.idle_after = mode, idle_after
        self.connections = 0
        self.requests = []
        self.live = []
        super().__init__(('127.0.0.1', 0), RawHandler)

    @property
    def url(self):
        return 'http://127.0.0.1:%d' % self.server_address[1]


class RawHandler(socketserver.StreamRequestHandler):
    def handle(self):
        try:
            self.serve()
        except ConnectionError:
            pass   # a client that closed a response it did not read to the end

    def serve(self):
        server = self.server
        server.connections += 1
        server.live.append(self.connection)
        answered = 0
        while True:
            if server.mode == 'idle-close' and answered >= server.idle_after:
                return
            line = self.rfile.readline()
            if not line:
                return
            while self.rfile.readline() not in (b'\r\n', b'\n', b''):
                pass
            path = line.split()[1].decode()
            server.requests.append(path)
            if path.startswith('/redirect/'):
                head = b'HTTP/1.1 302 Found\r\nLocation: /%s\r\nContent-Length: 0\r\n\r\n' % (
                    path.rsplit('/', 1)[1].encode())
                self.wfile.write(head)
            elif path.startswith('/chunked/'):
                body = body_of(path)
                self.wfile.write(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')
                for i in range(0, len(body), 1000):
                    part = body[i:i + 1000]
                    self.wfile.write(b'%x\r\n%s\r\n' % (len(part), part))
                self.wfile.write(b'0\r\n\r\n')
            elif path.startswith('/missing'):
                self.wfile.write(b'HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope')
            else:
                body = body_of(path)
                extra = b'Connection: close\r\n' if server.mode == 'close-header' else b''
                self.wfile.write(b'HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s'
                                 % (len(body), extra, body))
            self.wfile.flush()
            answered += 1
            if server.mode in ('silent-close', 'close-header'):
                return


@pytest.fixture
def raw_server(request):
    servers = []

    def start(mode='keep', **kwargs):
        scheme_http.close_idle()
        server = RawServer(mode, **kwargs)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server
    yield start
    scheme_http.close_idle()
    for server in servers:
        server.shutdown()
        server.server_close()


def read_lines(url):
    stream = StreamCombiner(url, task_io.default_stream, None)
    try:
        return list(stream)
    finally:
        stream.close()


def urllib_lines(url):
    with urllib.request.urlopen(url) as r:
        return r.read().splitlines(True)


PATHS = ['/a/3', '/b/0', '/c/1', '/d/200', '/e/70000', '/f/5']   # /e: 1.2 MB, streamed


@pytest.mark.parametrize('mode', ['keep', 'silent-close', 'close-header', 'idle-close'])
def test_same_lines_as_fresh_connections(raw_server, mode):
    server = raw_server(mode)
    got = [read_lines(server.url + p) for p in PATHS * 2]
    assert got == [urllib_lines(server.url + p) for p in PATHS * 2]
    assert got[4] and len(b''.join(got[4])) > scheme_http.SMALL_BODY
    assert server.requests.count('/d/200') == 4


def test_one_connection_for_many_gets(raw_server):
    server = raw_server('keep')
    for i in range(50):
        assert read_lines(server.url + '/x%d/%d' % (i, i % 4)) == body_of('/x%d/%d' % (i, i % 4)) \
            .splitlines(True)
    assert server.connections == 1


def test_big_and_chunked_bodies_read_to_the_end_keep_the_connection(raw_server):
    server = raw_server('keep')
    for path in ('/e/70000', '/chunked/300', '/chunked/0', '/a/2'):
        assert read_lines(server.url + path) == body_of(path).splitlines(True)
    assert server.connections == 1


def test_server_closing_silently_is_retried_on_a_new_connection(raw_server):
    server = raw_server('silent-close')
    for i in range(5):
        assert read_lines(server.url + '/s/%d' % i) == body_of('/s/%d' % i).splitlines(True)
    assert server.connections == 5
    assert server.requests == ['/s/%d' % i for i in range(5)]   # each GET answered once


def test_idle_close_after_some_requests(raw_server):
    server = raw_server('idle-close', idle_after=3)
    for i in range(10):
        assert read_lines(server.url + '/i/%d' % i) == body_of('/i/%d' % i).splitlines(True)
    assert server.connections == 4


def test_connection_close_header_is_obeyed(raw_server):
    server = raw_server('close-header')
    for i in range(3):
        read_lines(server.url + '/h/2')
    assert server.connections == 3
    assert not scheme_http._idle


def test_partly_read_response_does_not_go_back(raw_server):
    server = raw_server('keep')
    f = scheme_http.open(server.url + '/e/70000')   # streamed: most of it is still unread
    assert f.readline() == b'/e/70000 line 0\n'
    f.close()
    assert not scheme_http._idle
    assert read_lines(server.url + '/a/3') == body_of('/a/3').splitlines(True)
    assert server.connections == 2


def test_errors_and_redirects(raw_server):
    server = raw_server('keep')
    with pytest.raises(CommError) as e:
        scheme_http.open(server.url + '/missing')
    assert e.value.code == 404 and e.value.url == server.url + '/missing'
    assert read_lines(server.url + '/redirect/4') == body_of('/4').splitlines(True)
    assert read_lines(server.url + '/a/2') == body_of('/a/2').splitlines(True)


def test_connection_refused_after_a_kept_connection(raw_server):
    server = raw_server('keep')
    read_lines(server.url + '/a/1')
    url = server.url
    server.shutdown()
    server.server_close()
    for conn in server.live:
        conn.shutdown(socket.SHUT_RDWR)
    with pytest.raises(CommError) as e:   # the kept connection is dead, and so is the port
        for _ in range(3):
            read_lines(url + '/a/1')
    assert e.value.code is None


def test_proxy_settings_go_through_urllib(monkeypatch):
    for name in list(os.environ):
        if name.lower().endswith('_proxy'):
            monkeypatch.delenv(name)
    assert scheme_http._pooled_target('http://h/x') == ('h', 80, '/x')
    monkeypatch.setenv('Http_Proxy', 'http://127.0.0.1:9')   # urllib reads any case
    assert scheme_http._pooled_target('http://h/x') is None
    monkeypatch.delenv('Http_Proxy')
    monkeypatch.setenv('http_proxy', 'http://127.0.0.1:9')
    monkeypatch.delenv('no_proxy', raising=False)
    monkeypatch.delenv('NO_PROXY', raising=False)
    assert scheme_http._pooled_target('http://example.invalid:81/x?y=1') is None
    monkeypatch.setenv('no_proxy', 'example.invalid')
    assert scheme_http._pooled_target('http://example.invalid:81/x?y=1') == \
        ('example.invalid', 81, '/x?y=1')
    assert scheme_http._pooled_target('https://example.invalid/x') is None
    assert scheme_http._pooled_target('http://u:p@example.invalid/x') is None


@pytest.mark.skipif(not hasattr(os, 'fork'), reason='needs fork')
def test_forked_child_does_not_share_the_parents_connection(raw_server):
    server = raw_server('keep')
    read_lines(server.url + '/p/2')
    pid = os.fork()
    if pid == 0:   # the child: its own connection, and the parent's socket left alone
        try:
            ok = read_lines(server.url + '/c/3') == body_of('/c/3').splitlines(True)
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert status == 0
    assert read_lines(server.url + '/p/4') == body_of('/p/4').splitlines(True)
    assert server.connections == 2   # the parent's kept connection still serves it


def test_test_server_keeps_connections_alive_and_closes_them_on_stop():
    calls = []

    def serve(path):
        calls.append(path)
        if path == 'fail':
            raise FailedReply('no')
        return 'x' * int(path) + '\n'
    scheme_http.close_idle()
    before = threading.active_count()
    server = TestServer.create(('127.0.0.1', 0), serve)
    server.start()
    try:
        for n in (1, 5, 3000):
            assert read_lines(server.address + '/%d' % n) == [b'x' * n + b'\n']
        assert len(server._connections) == 1
        with pytest.raises(CommError) as e:
            read_lines(server.address + '/fail')
        assert e.value.code == 500
        assert read_lines(server.address + '/2') == [b'xx\n']
    finally:
        server.stop()
    assert calls == ['1', '5', '3000', 'fail', '2']
    kept = next(iter(scheme_http._idle.values()))[1]
    kept.sock.settimeout(5)
    assert kept.sock.recv(1) == b''   # stop() closed the idle connection
    deadline = time.time() + 10
    while threading.active_count() > before and time.time() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before   # the connection's thread has ended
    with pytest.raises(CommError):
        read_lines(server.address + '/1')   # retried on a new connection: refused
    assert calls == ['1', '5', '3000', 'fail', '2']


def test_test_server_one_thread_per_connection_not_per_request():
    server = TestServer.create(('127.0.0.1', 0), lambda path: path)
    server.start()
    scheme_http.close_idle()
    before = threading.active_count()
    try:
        for i in range(30):
            assert read_lines(server.address + '/%d' % i) == [str(i).encode()]
        assert threading.active_count() <= before + 1
        sock = socket.create_connection(server.server_address)
        sock.sendall(b'GET /a HTTP/1.0\r\n\r\n')   # HTTP/1.0: answered, then closed
        data = b''
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        sock.close()
        assert data.startswith(b'HTTP/1.1 200') and data.endswith(b'\r\n\r\na')
    finally:
        scheme_http.close_idle()
        server.stop()


def parsed(handler_class, raw):
    """What the handler's parse_request makes of the request bytes ``raw``."""
    h = handler_class.__new__(handler_class)
    h.rfile = io.BytesIO(raw)
    h.wfile = io.BytesIO()
    h.client_address = ('127.0.0.1', 0)
    h.request_version = None
    h.raw_requestline = h.rfile.readline(65537)
    ok = h.parse_request()
    headers = getattr(h, 'headers', None)
    return (ok, h.command, getattr(h, 'path', None), h.request_version, h.close_connection,
            headers.items() if headers is not None else None,
            headers.get_payload() if headers is not None else None,
            h.wfile.getvalue().split(b'\r\n')[0], h.rfile.read())


header_line = st.one_of(
    st.tuples(st.sampled_from(['Host', 'Connection', 'connection', 'X-A', 'Expect',
                               'Accept-Encoding', 'From', 'a b', '', ' Cont']),
              st.sampled_from([':', ': ', ':\t', ' :', '']),
              st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=12),
              st.sampled_from(['\r\n', '\n'])).map(lambda t: ''.join(t)),
    st.sampled_from(['Connection: close\r\n', 'Connection: keep-alive\r\n',
                     'Expect: 100-continue\r\n', '\tcontinued\r\n', 'X: a\rb\r\n']))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(['GET /a//b?c=d HTTP/1.1', 'GET //x HTTP/1.1', 'GET / HTTP/1.0',
                        'POST /x HTTP/1.1', 'GET /x', 'GET /x HTTP/1.1 extra', 'BAD']),
       st.lists(header_line, max_size=6), st.sampled_from(['\r\n', '\n', '', 'rest']))
def test_lean_request_parse_equals_the_standard_one(requestline, lines, end):
    from http.server import BaseHTTPRequestHandler
    fast = handler(lambda path: path)

    class Standard(fast):
        parse_request = BaseHTTPRequestHandler.parse_request
    raw = (requestline + '\r\n' + ''.join(lines) + end).encode('iso-8859-1') + b'BODY'
    assert parsed(fast, raw) == parsed(Standard, raw)
