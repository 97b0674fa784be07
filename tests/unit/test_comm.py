"""disco.comm: HTTP helpers, ranged-GET connections and FileIO-based local files."""
import base64
import http.server
import io
import os

import pytest

from discolite import comm
from discolite.compat import file
from discolite.error import CommError
from tests.helpers import serve_http

DATA = b''.join(b'line %d\n' % i for i in range(5000))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    puts = []
    unavailable = [0]

    def log_message(self, *args):
        pass

    def _send(self, status, body, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == '/ranged':
            rng = self.headers.get('Range')
            if not rng:
                return self._send(200, DATA)
            start, end = rng.split('=')[1].split('-')
            start, end = int(start), min(int(end), len(DATA) - 1)
            if start >= len(DATA):
                return self._send(416, b'')
            return self._send(206, DATA[start:end + 1],
                              [('Content-Range', 'bytes %d-%d/%d' % (start, end, len(DATA)))])
        if self.path == '/plain':
            return self._send(200, DATA)
        if self.path == '/redirect':
            return self._send(302, b'', [('Location', '/plain')])
        if self.path == '/auth':
            return self._send(200, (self.headers.get('Authorization') or '').encode())
        if self.path == '/busy':
            if self.unavailable[0] > 0:
                self.unavailable[0] -= 1
                return self._send(503, b'busy')
            return self._send(200, b'ok')
        self._send(404, b'no such thing')

    def do_POST(self):
        n = int(self.headers['Content-Length'])
        self._send(200, b'posted:' + self.rfile.read(n))

    def do_PUT(self):
        n = int(self.headers['Content-Length'])
        body = self.rfile.read(n)
        self.puts.append((self.path, body))
        self._send(201, b'put ' + self.path.encode())


@pytest.fixture(scope='module')
def url():
    with serve_http(Handler) as base:
        yield base


def test_headers_and_status_classes():
    assert comm.range_header(()) == {}
    assert comm.range_header(5) == {'Range': 'bytes=5-'}
    assert comm.range_header((2, 9)) == {'Range': 'bytes=2-9'}
    assert comm.auth_header(None) == {}
    assert comm.auth_header('tok') == {'Authorization': b'Basic ' + base64.b64encode(b'token:tok')}
    assert comm.isredirection(302) and not comm.isredirection(200)
    assert comm.issuccessful(206) and not comm.issuccessful(404)
    assert comm.isunavailable(503) and not comm.isunavailable(500)
    assert comm.resolveuri('http://h:1/a/b', '/c') == 'http://h:1/c'
    assert comm.nocurl is True


def test_download_post_redirect_auth_errors(url, monkeypatch):
    assert comm.download(url + '/plain') == DATA
    assert comm.download(url + '/ranged', offset=(0, 5)) == DATA[:6]
    assert comm.download(url + '/plain', data=b'abc') == b'posted:abc'
    assert comm.download(url + '/redirect') == DATA
    assert comm.download(url + '/auth', token='t') == b'Basic ' + base64.b64encode(b'token:t')
    with pytest.raises(CommError) as e:
        comm.download(url + '/missing')
    assert e.value.code == 404 and 'no such thing' in str(e.value)
    monkeypatch.setenv('DISCOLITE_HTTP_RETRY_SLEEP', '0.01')
    Handler.unavailable[0] = 2
    assert comm.download(url + '/busy') == b'ok'
    with pytest.raises(CommError) as e:
        comm.download('http://127.0.0.1:1/')
    assert e.value.code is None


def test_upload_to_several_urls(url, tmp_path):
    Handler.puts.clear()
    path = tmp_path / 'blob'
    path.write_bytes(b'payload')
    assert comm.upload([url + '/a', url + '/b'], str(path)) == [b'put /a', b'put /b']
    assert comm.upload(url + '/c', io.BytesIO(b'xyz')) == [b'put /c']
    assert Handler.puts == [('/a', b'payload'), ('/b', b'payload'), ('/c', b'xyz')]


@pytest.mark.parametrize('path', ['/ranged', '/plain'])
def test_connection_reads_lines_and_ranges(url, monkeypatch, path):
    monkeypatch.setattr(comm, 'CHUNK_SIZE', 1000)
    conn = comm.open_remote(url + path)
    assert len(conn) == len(DATA)
    assert conn.read(10) == DATA[:10] and conn.tell() == 10
    conn.seek(2500)
    assert conn.read(3000) == DATA[2500:5500]
    conn.seek(-4, 2)
    assert conn.read() == DATA[-4:]
    conn.seek(0)
    assert list(conn) == DATA.splitlines(True)
    conn.close()
    with pytest.raises(CommError) as e:
        comm.open_url(url + '/missing')
    assert e.value.code == 404


def test_local_files_are_fileio(tmp_path):
    path = tmp_path / 'f.txt'
    path.write_bytes(b'a\nbb\n\nccc')
    for f in (comm.open_url(str(path)), comm.open_url('file://%s' % path)):
        assert isinstance(f, file) and isinstance(f, io.FileIO)
        assert len(f) == 9 and f.url == 'file://%s' % path
        assert list(f) == [b'a\n', b'bb\n', b'\n', b'ccc']
        f.close()
    f = comm.open_local(str(path))
    assert f.readline() == b'a\n' and f.tell() == 2
    assert f.read(3) == b'bb\n' and f.tell() == 5
    f.seek(1, 1)
    assert f.read() == b'ccc'
    f.seek(0)
    assert f.readline(1) == b'a' and f.read() == b'\nbb\n\nccc'
    f.close()


def test_file_source(tmp_path):
    path = tmp_path / 's'
    path.write_bytes(b'12345')
    assert len(comm.FileSource(str(path))) == 5
    fd = io.BytesIO(b'abcdef')
    fd.read(2)
    src = comm.FileSource(fd)
    assert len(src) == 4 and src.read() == b'cdef'


def test_big_local_file_lines(tmp_path):
    path = tmp_path / 'big'
    path.write_bytes(DATA * 50)
    with comm.File(str(path)) as f:
        n = sum(1 for _ in f)
    assert n == 5000 * 50
    assert os.path.getsize(path) == len(DATA) * 50
