"""The ``/ddfs/...`` endpoints replayed against the captures of a real Disco 0.5.4 master.

Every ``ddfs_*`` request of the recording is sent again, in the recorded order and with
its own bytes (method, path, body, ``Authorization`` and ``Range``), to the master under
test (in process, or ``discolite master`` over HTTP with DISCOLITE_TEST_MASTER=http); the
answers must have the recorded status, Content-Type (none on errors) and body.  Bodies
that hold timestamps (tag ids, upload targets) are compared by shape.  The ``demo:`` tag
names get a per-run prefix so that a shared master's other tags do not interfere.
"""
import json
import os
import re

import pytest

from discolite.transport import Request

from tests.control.test_captures import CAPTURES, Capture

pytestmark = pytest.mark.skipif(not os.path.isdir(CAPTURES),
                                reason='no Disco captures at %s' % CAPTURES)

# not replayable: they read a tag version file by its recorded id, list tags other sessions
# of the recorded master made, report its GC runs, or belong to jobs (tests/ddfs/test_jobs.py)
SKIP = {'ddfs_tag_file_get', 'ddfs_tag_file_get_token', 'ddfs_list_all', 'ddfs_tags_no_slash',
        'ddfs_gc_stats', 'ddfs_putport_get'}
TAG_LOCATION = re.compile(r'^disco://[^/]+/ddfs/vol0/tag/[0-9a-f]{2}/[^/$]+\$[0-9a-f]+-[0-9a-f]+-'
                          r'[0-9a-f]+$')


def ddfs_captures():
    names = []
    with open(os.path.join(CAPTURES, 'INDEX.txt')) as f:
        for line in f:
            name = line.split(' ', 1)[0]
            if name.startswith('ddfs_') and not name.endswith('.txt') and name not in SKIP:
                names.append(name)
    return names


def _sub(data, prefix):
    return data.replace(b'demo:', prefix.encode()) if isinstance(data, bytes) \
        else data.replace('demo:', prefix)


def test_replay_ddfs_captures(disco):
    prefix = 'cap%d:' % os.getpid()
    names = ddfs_captures()
    assert len(names) > 90
    for name in names:
        cap = Capture(name)
        headers = {k: v for k, v in cap.request_headers.items()
                   if k.lower() in ('range', 'authorization')}
        url = _sub(cap.url, prefix)
        if url.startswith('http://'):
            url = '/' + url.split('/', 3)[3]
        response = disco.transport.handle(Request(cap.method, url, _sub(cap.request_body, prefix)
                                                  or None, headers))
        got, want = response.body, _sub(cap.body, prefix)
        where = (name, cap.method, url, got[:300])
        assert response.status == cap.status, where
        ctype = {k.lower(): v for k, v in response.headers.items()}.get('content-type')
        if cap.content_type is None:
            assert ctype in (None, ''), where
        else:
            assert ctype and ctype.lower() == cap.content_type.lower(), where
        if cap.method == 'HEAD':
            continue
        if name == 'ddfs_putport_exists':
            assert got.startswith(b'File exists (path: ') and b'hello$704-15e99-9afeb' in got
            continue
        if cap.content_type is None or 'json' not in cap.content_type:
            assert got == want, where
            continue
        got, want = json.loads(got.decode()), json.loads(want.decode())
        if isinstance(want, dict):  # a tag document
            assert list(got) == list(want), where
            assert got['urls'] == want['urls'] and got['user-data'] == want['user-data'], where
            assert got['id'].split('$')[0] == want['id'].split('$')[0], where
        elif isinstance(want, list) and want and isinstance(want[0], str) and \
                want[0].startswith('disco://localhost/ddfs/vol0/tag/'):
            assert len(got) == len(want) and all(TAG_LOCATION.match(u) for u in got), where
        elif name.endswith('new_blob') or '_new_blob_' in name:
            stem = want[0].rsplit('/', 1)[1].split('$')[0]
            assert len(got) == 1 and re.match(r'^(http|local)://.+/ddfs/%s\$[0-9a-f]+-[0-9a-f]+-'
                                              r'[0-9a-f]+$' % re.escape(stem), got[0]), where
        else:
            assert got == want, where


def test_tag_answers_ranges_and_blob_paths(disco):
    """exists() gets 206 for a tag; a blob is served by its full path ($ literal or %24),
    not without its timestamp; a directory is 403."""
    from discolite.ddfs import DDFS
    from io import BytesIO
    ddfs = DDFS(disco.master)
    tag = 'rng%d:t' % os.getpid()
    _, (blob,) = ddfs.push(tag, [(BytesIO(b'hello ddfs\n'), 'hello')])
    r = disco.transport.handle(Request('GET', '/ddfs/tag/' + tag, None,
                                       {'Range': 'bytes=0-10485759'}))
    assert r.status == 206 and r.headers['Content-Range'] == 'bytes 0-%d/%d' % (
        len(r.body) - 1, len(r.body))
    path = '/' + blob[0].split('/', 3)[3]
    for p in (path, path.replace('$', '%24')):
        r = disco.transport.handle(Request('GET', p))
        assert (r.status, r.body) == (200, b'hello ddfs\n')
    r = disco.transport.handle(Request('GET', path, None, {'Range': 'bytes=6-'}))
    assert (r.status, r.body) == (206, b'ddfs\n')
    r = disco.transport.handle(Request('GET', path.split('$')[0]))
    assert (r.status, r.body) == (404, b'Not found.')
    r = disco.transport.handle(Request('GET', '/ddfs/vol0/blob'))
    assert (r.status, r.body) == (403, b'Forbidden')
    for evil in ('/ddfs/vol0/../../etc/passwd', '/ddfs/vol0/blob/%2e%2e/%2e%2e/tags'):
        r = disco.transport.handle(Request('GET', evil))
        assert r.status in (403, 404) and b'root:' not in r.body
    ddfs.delete(tag)
