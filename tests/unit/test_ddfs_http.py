"""OOB and tag reading against a tiny fake DDFS HTTP master."""
import http.server
import json

import pytest

from discolite import util
from discolite.ddfs import DDFS
from discolite.error import CommError
from discolite.schemes import scheme_tag
from discolite.settings import DiscoSettings
from tests.helpers import serve_http


class FakeDDFS(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    tags = {}
    blobs = {}

    def log_message(self, *args):
        pass

    def reply(self, code, obj=None, raw=None):
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(code)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def base(self):
        return 'http://127.0.0.1:%d' % self.server.server_address[1]

    def do_GET(self):
        path = self.path.split('?')[0]
        if path.startswith('/ddfs/tag/'):
            name = path[len('/ddfs/tag/'):]
            if name not in self.tags:
                return self.reply(404, raw=b'unknown tag')
            return self.reply(200, {'id': name, 'version': 1, 'last-modified': '',
                                    'urls': self.tags[name], 'user-data': {}})
        if path.startswith('/ddfs/new_blob/'):
            name = path[len('/ddfs/new_blob/'):]
            return self.reply(200, [self.base() + '/put/%s$%d' % (name, len(self.blobs))])
        if path.startswith('/blob/'):
            return self.reply(200, raw=self.blobs[path[len('/blob/'):]])
        self.reply(404, raw=b'no')

    def do_PUT(self):
        n = int(self.headers['Content-Length'])
        data = self.rfile.read(n)
        name = self.path[len('/put/'):]
        self.blobs[name] = data
        self.reply(200, self.base() + '/blob/' + name)

    def do_POST(self):
        n = int(self.headers.get('Content-Length') or 0)
        urls = json.loads(self.rfile.read(n))
        name = self.path.split('?')[0][len('/ddfs/tag/'):]
        self.tags[name] = urls + self.tags.get(name, [])
        self.reply(200, ['tag://' + name])


@pytest.fixture
def master():
    FakeDDFS.tags, FakeDDFS.blobs = {}, {}
    with serve_http(FakeDDFS) as url:
        yield url


def test_oob_over_http(master):
    with pytest.raises(CommError) as e:
        util.load_oob(master, 'J', 'k')
    assert e.value.code == 404
    util.save_oob(master, 'J', 'k', b'one')
    util.save_oob(master, 'J', 'other', b'x')
    util.save_oob(master, 'J', 'k', b'two')
    assert util.load_oob(master, 'J', 'k') == b'two'
    assert util.load_oob(master, 'J', 'other') == b'x'
    assert util.load_oob(master, 'J', 'missing') is None


def test_tag_inputs_over_http(master):
    FakeDDFS.blobs.update({'b1$1': b'l1\nl2\n', 'b2$2': b'l3\n'})
    FakeDDFS.tags['t1'] = [[master + '/blob/b1$1'], ['tag://t2']]
    FakeDDFS.tags['t2'] = [[master + '/blob/b2$2'], ['tag://missing']]
    settings = DiscoSettings(DISCO_MASTER=master)
    assert util.inputlist(['tag://t1'], settings=settings) == \
        [[master + '/blob/b1$1'], [master + '/blob/b2$2']]
    assert DDFS(master, settings=DiscoSettings()).urls('tag://t1')[0] == [master + '/blob/b1$1']
    f = scheme_tag.open('tag://t1', settings=settings)
    assert list(f) == [b'l1\n', b'l2\n', b'l3\n']
