"""discolite's client against a real Disco 0.5.4 master, replayed from the captures.

A loopback HTTP server answers each request with the recorded answer of the real master
for the same method, path and Authorization header (``oob_*``, ``profile_*``,
``save_results_*`` captures of jobs run by Disco's own worker: OOB tags with token
``job``, blob URLs with ``$<timestamp>``).  A request the real master was never sent
gets what it would answer: 401 for a tag without the token, 404 for anything else
(e.g. a blob path without its ``$<ts>``).  So the real-master path of ``oob_list``,
``oob_get``, ``profile_stats``, ``load_oob`` and ``result_iterator(tag://...)`` is
tested without a real master.
"""
import io
import os
from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote

import pytest

from discolite import Disco, result_iterator
from discolite.error import CommError, DiscoError, JobError
from discolite.util import load_oob

from tests.control.test_captures import CAPTURES
from tests.helpers import serve_http

pytestmark = pytest.mark.skipif(not os.path.isdir(CAPTURES),
                                reason='no Disco captures at %s' % CAPTURES)

OOB_JOB = 'CaptOOB@704:15f04:8a946'
DUP_JOB = 'CaptOOBDup@704:15f61:34404'
PROFILE_JOB = 'CaptProfile@704:15f0b:19e88'
NO_OOB_JOB = 'CaptTagInput@704:15efc:b4b5a'
SAVE_JOB = 'CaptSave@704:15efe:7bfd3'
NO_SUCH = 'NoSuchJob@000:00000:00000'
TOKEN_JOB = 'Basic dG9rZW46am9i'


def _recorded():
    """{(method, path, authorization): raw answer bytes} of the replayable captures."""
    table = {}
    for name in sorted(os.listdir(CAPTURES)):
        if not name.endswith('.request') or not name.startswith(
                ('oob_client', 'oob_dup_client', 'oob_tag', 'profile_', 'save_results_tag',
                 'save_results_blob')):
            continue
        with open(os.path.join(CAPTURES, name), 'rb') as f:
            head = f.read().split(b'\r\n\r\n', 1)[0].decode()
        lines = head.split('\r\n')
        method, path = lines[0].split()[:2]
        headers = dict(l.split(': ', 1) for l in lines[1:] if ': ' in l)
        if method != 'GET':
            continue
        with open(os.path.join(CAPTURES, name[:-len('.request')] + '.http'), 'rb') as f:
            table[(method, unquote(path), headers.get('Authorization'))] = f.read()
    return table


class Replay(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    table = {}
    seen = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = unquote(self.path.split('?')[0])
        auth = self.headers.get('Authorization')
        Replay.seen.append((path, auth, self.headers.get('Range')))
        raw = self.table.get(('GET', path, auth))
        if raw is None:
            any_auth = [k for k in self.table if k[:2] == ('GET', path)]
            status, body = (401, b'Incorrect or missing token.') if any_auth and \
                path.startswith('/ddfs/tag/') else (404, b'Not found.')
            raw = b'HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s' % (status, len(body), body)
        head, body = raw.split(b'\r\n\r\n', 1)
        lines = head.decode('latin-1').split('\r\n')
        self.send_response(int(lines[0].split()[1]))
        for line in lines[1:]:
            k, v = line.split(': ', 1)
            if k.lower() not in ('server', 'date', 'connection'):
                self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def real(monkeypatch):
    Replay.table, Replay.seen = _recorded(), []
    with serve_http(Replay) as url:
        monkeypatch.setenv('DISCO_PORT', url.rsplit(':', 1)[1])  # disco://localhost/... here
        monkeypatch.setenv('DISCO_MASTER', url)
        yield Disco(url)


def test_oob_list_sends_the_derived_token(real):
    assert sorted(real.oob_list(OOB_JOB)) == ['fruit:apple', 'fruit:pear', 'reduce:seen']
    assert Replay.seen == [('/ddfs/tag/disco:job:oob:' + OOB_JOB, TOKEN_JOB, None)]
    with pytest.raises(CommError) as e:
        real.oob_list(NO_SUCH)
    assert e.value.code == 404


def test_oob_get_reads_the_versioned_blob_url(real):
    assert real.oob_get(OOB_JOB, 'fruit:apple') == b'oob:apple'
    tag, blob = Replay.seen
    assert tag[1] == TOKEN_JOB
    assert blob[0] == '/ddfs/vol0/blob/53/fruit:apple$704-15f04-b3dd6' and blob[1] is None
    del Replay.seen[:]
    assert real.oob_get(OOB_JOB, 'fruit:none') is None
    assert len(Replay.seen) == 1  # no blob request for a missing key
    assert real.oob_get(DUP_JOB, 'dup') == b'second'  # first entry = newest
    with pytest.raises(DiscoError, match='Unknown key or jobname'):
        real.oob_get(NO_SUCH, 'x')
    assert load_oob(real.master, OOB_JOB, 'fruit:apple') == b'oob:apple'


def test_profile_stats(real):
    out = io.StringIO()
    stats = real.profile_stats(PROFILE_JOB, 'reduce', stream=out)
    assert stats.total_calls > 100
    stats.print_stats(3)
    assert 'function calls' in out.getvalue()
    assert [p for p, _a, _r in Replay.seen] == [
        '/ddfs/tag/disco:job:oob:' + PROFILE_JOB, '/ddfs/tag/disco:job:oob:' + PROFILE_JOB,
        '/ddfs/vol0/blob/e4/profile-reduce:0--3-fa-7529$704-15f0d-916c6']
    with pytest.raises(CommError) as e:  # a job without any OOB: 404, not JobError
        real.profile_stats(NO_OOB_JOB)
    assert e.value.code == 404
    with pytest.raises(JobError, match='No profile data'):
        real.profile_stats(OOB_JOB)


def test_saved_results_of_a_real_master(real):
    assert sorted(result_iterator(['tag://disco:results:' + SAVE_JOB])) == \
        [('apple', 2), ('pear', 1)]
    assert Replay.seen[0][1] == 'Basic dG9rZW46cmVzdWx0cw=='  # token "results" from the name


class WorkerSide(BaseHTTPRequestHandler):
    """Answers an OOB put the way the real master did (oob_worker_* captures)."""
    protocol_version = 'HTTP/1.1'
    seen = []

    def log_message(self, *args):
        pass

    def _reply(self, status, body):
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _record(self):
        n = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(n) if n else b''
        WorkerSide.seen.append((self.command, self.path, self.headers.get('Authorization'),
                                body))
        return body

    def do_GET(self):
        self._record()
        port = self.server.server_address[1]
        self._reply(200, b'["http://localhost:%d/ddfs/fruit:apple$704-15f04-b3dd6"]' % port)

    def do_PUT(self):
        self._record()
        self._reply(201, b'"disco://localhost/ddfs/vol0/blob/53/fruit:apple$704-15f04-b3dd6"')

    def do_POST(self):
        self._record()
        self._reply(200, b'["disco://localhost/ddfs/vol0/tag/f9/disco:job:oob:x$704-15f07-c600"]')


def test_oob_put_sends_what_disco_s_worker_sends(monkeypatch):
    """save_oob (a task's put) on a real master: new_blob, PUT of the value to the upload
    URL, then a delayed tag update with token job (oob_worker_new_blob/put_blob/tag_first)."""
    from discolite.util import save_oob
    WorkerSide.seen = []
    with serve_http(WorkerSide) as url:
        save_oob(url, OOB_JOB, 'fruit:apple', b'oob:apple')
    assert WorkerSide.seen == [
        ('GET', '/ddfs/new_blob/fruit:apple?', None, b''),
        ('PUT', '/ddfs/fruit:apple$704-15f04-b3dd6', None, b'oob:apple'),
        ('POST', '/ddfs/tag/disco:job:oob:%s?delayed=1&update=' % OOB_JOB, TOKEN_JOB,
         b'[["disco://localhost/ddfs/vol0/blob/53/fruit:apple$704-15f04-b3dd6"]]')]
