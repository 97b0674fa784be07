import http.server
import io
import os
import socket

import pytest

from discolite import util
from discolite.error import CommError, DataError
from discolite.schemes import scheme_dir, scheme_disco, scheme_file, scheme_http, scheme_raw, scheme_tag
from discolite.settings import DiscoSettings
from discolite.worker import task_io
from discolite.worker.task_io import DiscoOutputStream, StreamCombiner, chain_reader
from tests.helpers import serve_http

BIG = b''.join(b'line %d\n' % i for i in range(200000))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == '/ok':
            body = b'a\nb\nc'
            self.send_response(200)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == '/big':
            self.send_response(200)
            self.send_header('Content-Length', str(len(BIG)))
            self.end_headers()
            self.wfile.write(BIG)
        elif self.path == '/chunked':
            self.send_response(200)
            self.send_header('Transfer-Encoding', 'chunked')
            self.end_headers()
            for part in (b'Hello', b' Wor', b'ld\nsecond line\n'):
                self.wfile.write(b'%x\r\n%s\r\n' % (len(part), part))
            self.wfile.write(b'0\r\n\r\n')
        elif self.path == '/500':
            self.send_error(500)
        else:
            self.send_error(404)


@pytest.fixture(scope='module')
def server():
    with serve_http(Handler) as url:
        yield url


def test_http_ok(server):
    fd, size, url = scheme_http.input_stream(None, None, server + '/ok', None)
    assert size == 5
    assert list(fd) == [b'a\n', b'b\n', b'c']
    fd.close()
    f = scheme_http.open(server + '/ok')
    assert f.read(2) == b'a\n' and f.read() == b'b\nc'
    f.close()


def test_http_big_streaming(server):
    comb = StreamCombiner(server + '/big', task_io.default_stream, None)
    n = 0
    for line in comb:
        assert line == b'line %d\n' % n
        n += 1
    comb.close()
    assert n == 200000


def test_http_chunked(server):
    f = scheme_http.open(server + '/chunked')
    assert f.size is None
    assert list(f) == [b'Hello World\n', b'second line\n']


def test_http_errors(server):
    with pytest.raises(CommError) as e:
        scheme_http.open(server + '/missing')
    assert e.value.code == 404 and isinstance(e.value, DataError)
    with pytest.raises(CommError) as e:
        task_io.task_input_stream(None, None, server + '/500', None)
    assert e.value.code == 500


def test_http_connection_refused():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(CommError) as e:
        scheme_http.open('http://127.0.0.1:%d/x' % port)
    assert e.value.code is None


def test_raw():
    fd, size, url = scheme_raw.input_stream(None, None, 'raw://a%20b\nc', None)
    assert list(fd) == ['a%20b\n', 'c'] and size == 7


def test_file(tmp_path):
    p = tmp_path / 'f'
    p.write_bytes(b'x\ny')
    for url in (str(p), 'file://' + str(p)):
        fd, size, _ = task_io.task_input_stream(None, None, url, None)
        assert list(fd) == [b'x\n', b'y'] and size == 3
        fd.close()
    with pytest.raises(DataError) as e:
        scheme_file.open(str(tmp_path / 'missing'))
    assert str(tmp_path / 'missing') in str(e.value)


@pytest.fixture
def root(tmp_path):
    data = tmp_path / 'data'
    util.register_local_root('nodeX', str(data))
    yield data
    util.unregister_local_root(str(data))


def write_records(path, recs):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'wb') as f:
        out = DiscoOutputStream(f)
        for k, v in recs:
            out.add(k, v)
        out.close()


def test_disco_local(root):
    write_records(root / 'nodeX' / 'hh' / 'job' / 'out', [('a', 1)])
    url = 'disco://nodeX/disco/nodeX/hh/job/out'
    comb = StreamCombiner(url, task_io.chain_stream, None)
    assert list(comb) == [('a', 1)]
    comb.close()


def test_disco_remote_falls_back_to_http(server):
    port = server.rsplit(':', 1)[1]
    s = DiscoSettings()
    old = os.environ.get('DISCO_PORT')
    os.environ['DISCO_PORT'] = port
    try:
        f = scheme_disco.open('disco://127.0.0.1/ok')
        assert f.read() == b'a\nb\nc'
        with pytest.raises(CommError) as e:
            scheme_disco.open('disco://127.0.0.1/disco/nothing')
        assert e.value.code == 404
    finally:
        if old is None:
            del os.environ['DISCO_PORT']
        else:
            os.environ['DISCO_PORT'] = old


def test_dir_scheme(root):
    d = root / 'nodeX' / 'hh' / 'job'
    write_records(d / 'p0', [('a', 1), ('b', 2)])
    write_records(d / 'p1', [('c', 3)])
    (d / '.disco').mkdir()
    (d / '.disco' / 'map-0-1.results').write_text(
        '0 disco://nodeX/disco/nodeX/hh/job/p0 10\n1 disco://nodeX/disco/nodeX/hh/job/p1 10\n')
    url = 'dir://nodeX/disco/nodeX/hh/job/.disco/map-0-1.results'
    fd, size, _ = task_io.task_input_stream(None, None, url, None)
    assert sorted(fd) == [('a', 1), ('b', 2), ('c', 3)]

    class T(object):
        group_label = 1
    assert list(scheme_dir.open(url, task=T())) == [('c', 3)]


def test_tag_scheme_offline():
    with pytest.raises(DataError) as e:
        scheme_tag.open('tag://x', settings=DiscoSettings(DISCO_MASTER='local:///tmp/r'))
    assert 'No in-process master at local:///tmp/r' in str(e.value)
