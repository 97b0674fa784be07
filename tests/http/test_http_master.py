"""``discolite master`` as a subprocess, over real HTTP on loopback.

Word count through ``Disco('http://127.0.0.1:PORT')`` with result_iterator; the
endpoint replies against the captures of a real Disco 0.5.4 master (the exact
request bytes of the captures are replayed); security: loopback by default,
path traversal, body limits, malformed JSON, methods, hostile job packs.
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from discolite import Disco
from discolite.core import result_iterator
from discolite.error import CommError, DiscoError
from discolite.job import Job, JobPack
from tests.helpers import http_master
from tests.http.common import events_text, wait_status, zip_bytes

def _captures():
    """$DISCO_CAPTURES, else shared/disco-captures next to the checkout or any folder above
    it (a worktree sits deeper than the main checkout)."""
    if os.environ.get('DISCO_CAPTURES'):
        return os.environ['DISCO_CAPTURES']
    here = os.path.dirname(os.path.abspath(__file__))
    while os.path.dirname(here) != here:
        here = os.path.dirname(here)
        candidate = os.path.join(here, 'shared', 'disco-captures')
        if os.path.isdir(candidate):
            return candidate
    return 'shared/disco-captures'


CAPTURES = _captures()
needs_captures = pytest.mark.skipif(
    not os.path.isdir(CAPTURES),
    reason='compares with captures of a real Disco master: no directory shared/disco-captures '
           'above the checkout (set DISCO_CAPTURES=DIR)')


@pytest.fixture(scope='module')
def master(tmp_path_factory):
    data = tmp_path_factory.mktemp('http-master-data')
    with http_master(data, workers=2) as url:
        yield url, str(data)


@pytest.fixture(scope='module')
def disco(master):
    return Disco(master[0])


def fun_map(line, params):
    for word in line.split():
        yield word, 1


def fun_reduce(iter, params):
    from discolite.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


@pytest.fixture(scope='module')
def wordcount(disco):
    job = Job(name='WordCount', master=disco).run(
        input=['raw://hello world', 'raw://hello there', 'raw://hello'],
        map=fun_map, reduce=fun_reduce, partitions=2)
    results = job.wait(poll_interval=0.2, timeout=30)
    return job.name, results


def raw(url, method, path, body=None, headers=None):
    """One request with http.client (paths are sent exactly as given)."""
    host, port = url[len('http://'):].split(':')
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def replay(url, data):
    """Send raw request bytes; returns (status, headers, body) of the answer."""
    host, port = url[len('http://'):].split(':')
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(data)
        resp = http.client.HTTPResponse(s)
        resp.begin()
        return resp.status, dict(resp.getheaders()), resp.read()


def capture(name):
    with open(os.path.join(CAPTURES, name + '.http'), 'rb') as f:
        head, _, body = f.read().partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    status = int(lines[0].split()[1])
    headers = dict(line.split(': ', 1) for line in lines[1:])
    return status, headers, body


def request_bytes(name, job=None):
    with open(os.path.join(CAPTURES, name + '.request'), 'rb') as f:
        data = f.read()
    if job is not None:  # put one of our job names where the capture had its own
        m = re.search(rb'[A-Za-z]+@[0-9a-f]+:[0-9a-f]+:[0-9a-f]+', data)
        if m:
            data = data.replace(m.group(0), job.encode())
        head, sep, body = data.partition(b'\r\n\r\n')
        head = re.sub(rb'Content-Length: \d+', b'Content-Length: %d' % len(body), head)
        data = head + sep + body
    return data


# ---------------------------------------------------------------------------- word count

def test_wordcount_over_http_with_result_iterator(disco, wordcount):
    name, results = wordcount
    assert sorted(result_iterator(results)) == [('hello', 3), ('there', 1), ('world', 1)]
    assert sorted(disco.result_iterator(results)) == [('hello', 3), ('there', 1), ('world', 1)]
    # result URLs have Disco's shape; the client reads them over HTTP (DISCO_PORT)
    [[url]] = results if len(results) == 1 else [results[0]]
    assert url.startswith('dir://localhost/disco/localhost/')
    from discolite import util
    assert util.local_path(url) is None  # not this process's files: read over HTTP
    assert disco.jobinfo(name)['active'] == 'ready'
    assert 'READY: Job done in' in events_text(disco, name)


def test_disco_url_scheme_resolves_to_disco_port(master, wordcount):
    port = master[0].rsplit(':', 1)[1]
    assert os.environ['DISCO_PORT'] == port
    d = Disco('disco://127.0.0.1')
    assert d.master == 'http://127.0.0.1:%s' % port
    assert d.jobinfo(wordcount[0])['active'] == 'ready'


def test_disco_master_setting_is_used(master, wordcount, monkeypatch):
    monkeypatch.setenv('DISCO_MASTER', master[0])
    d = Disco()
    assert d.master == master[0]
    assert d.joblist()[0][2] == wordcount[0] or wordcount[0] in [j[2] for j in d.joblist()]


def test_client_methods_over_http(disco, wordcount):
    name, results = wordcount
    assert disco.master_version() == '0.5.4'
    assert disco.results(name) == ('ready', results)
    assert disco.wait(name) == results
    maps = disco.stageresults(name, 'map')
    assert len(maps) == 3
    assert sorted(result_iterator(maps)) == sorted(
        [('hello', 1), ('world', 1), ('hello', 1), ('there', 1), ('hello', 1)])
    pack = disco.jobpack(name)
    assert pack.jobdict['prefix'] == 'WordCount'
    events = list(disco.events(name))
    offset = events[2][0]
    assert list(disco.events(name, offset=offset)) == events[3:]
    assert disco.rawevents(name, offset=offset) == disco.rawevents(name)[offset:]
    assert name in [j[2] for j in disco.joblist()]
    assert list(disco.nodeinfo()) == ['localhost']
    assert disco.get_config() == [['localhost', '2']]
    with pytest.raises(CommError) as e:
        disco.jobinfo('NoSuchJob@000:00000:00000')
    assert e.value.code == 404 and 'Not found.' in str(e.value)


def test_oob_over_http(disco):
    def oob_map(line, params):
        put('key-' + line, line.encode() * 2)
        yield line, 1

    job = Job(name='OOB', master=disco).run(input=['raw://a', 'raw://b'], map=oob_map)
    job.wait(poll_interval=0.2, timeout=30)
    assert sorted(disco.oob_list(job.name)) == ['key-a', 'key-b']
    assert disco.oob_get(job.name, 'key-b') == b'bb'
    assert disco.oob_get(job.name, 'nope') is None


def test_kill_clean_purge_over_http(disco, master):
    def slow_map(line, params):
        import time
        time.sleep(30)
        yield line, 1

    job = Job(name='Slow', master=disco).run(input=['raw://x'], map=slow_map)
    assert disco.results(job.name, timeout=0)[0] == 'active'
    disco.kill(job.name)
    assert disco.results(job.name, timeout=0)[0] == 'dead'
    disco.clean(job.name)
    with pytest.raises(CommError):
        disco.jobinfo(job.name)
    disco.purge(job.name)
    assert disco.results(job.name, timeout=0)[0] == 'unknown job'


# ---------------------------------------------------------------------------- captures

STATIC = ['unknown_jobinfo', 'unknown_rawevents', 'unknown_parameters', 'unknown_get_results',
          'unknown_get_stageresults', 'unknown_kill', 'unknown_clean', 'unknown_purge',
          'unknown_ctrl_op', 'bad_payload_kill', 'job_submit_bad', 'get_blacklist',
          'oob_list_ctrl']


@needs_captures
@pytest.mark.parametrize('name', STATIC)
def test_replayed_requests_get_the_captured_answer(master, name):
    status, headers, body = replay(master[0], request_bytes(name))
    want_status, want_headers, want_body = capture(name)
    assert status == want_status
    assert body == want_body
    if 'Content-Type' in want_headers:
        assert headers['Content-Type'] == want_headers['Content-Type']
    assert int(headers['Content-Length']) == len(body)


@needs_captures
def test_float_timeout_is_refused_like_the_real_master(master, wordcount):
    status, _, body = replay(master[0], request_bytes('get_results_float_timeout', wordcount[0]))
    assert (status, body) == capture('get_results_float_timeout')[::2]


@needs_captures
@pytest.mark.parametrize('name', ['version', 'load_config_table', 'get_settings', 'nodeinfo'])
def test_master_endpoints_have_the_captured_shape(master, name):
    status, headers, body = replay(master[0], request_bytes(name))
    want_status, want_headers, want_body = capture(name)
    assert status == want_status
    assert headers['Content-Type'] == want_headers['Content-Type']
    got, want = json.loads(body), json.loads(want_body)
    assert type(got) == type(want)
    if isinstance(want, dict):
        assert set(got) == set(want)
        for host in want:
            if isinstance(want[host], dict):
                assert set(want[host]) - {'tasks'} <= set(got[host])
    elif isinstance(want, list):
        assert [len(x) for x in got] == [len(x) for x in want]


@needs_captures
@pytest.mark.parametrize('name', ['jobinfo', 'joblist', 'get_results', 'get_stageresults_map',
                                  'rawevents', 'rawevents_offset', 'parameters'])
def test_job_endpoints_have_the_captured_shape(master, wordcount, name):
    status, headers, body = replay(master[0], request_bytes(name, wordcount[0]))
    if name == 'parameters':
        assert status == 200 and body[:4] == b'\xd5\xc0\x00\x01'
        return
    want_status, want_headers, want_body = capture(name)
    assert status == want_status
    assert headers['Content-Type'] == want_headers['Content-Type']
    if name.startswith('rawevents'):
        if name == 'rawevents_offset':
            m = re.match(r'bytes (\d+)-(\d+)/(\d+)$', headers['Content-Range'])
            assert m and int(m.group(1)) == 100 and headers['Accept-Ranges'] == 'bytes'
            assert int(m.group(3)) == int(m.group(2)) + 1 == 100 + len(body)
        else:
            assert json.loads(body.decode().splitlines()[0])[2] == 'New job initialized!'
        return
    got, want = json.loads(body), json.loads(want_body)
    if name == 'jobinfo':
        assert set(got) == set(want)
        assert got['active'] == 'ready'
        assert [len(s) for s in got['pipeline']] == [6] * len(got['pipeline'])
    elif name == 'joblist':
        assert all(isinstance(t, int) and isinstance(s, str) and isinstance(n, str)
                   for t, s, n in got)
    elif name == 'get_results':
        [[jobname, [status_, results]]] = got
        assert jobname == wordcount[0] and status_ == 'ready'
        assert all(isinstance(r, list) and len(r) == 1 for r in results)
    else:
        assert all(isinstance(r, list) and r[0].startswith('dir://localhost/disco/localhost/')
                   for r in got)


def test_data_files_are_served_with_ranges(master, wordcount):
    name, results = wordcount
    index = results[0][0]
    path = '/' + index.split('://', 1)[1].split('/', 1)[1]
    status, headers, body = raw(master[0], 'GET', path)
    assert status == 200 and headers['Content-Type'] == 'application/octet-stream'
    line = body.decode().splitlines()[0]
    label, url, size = line.split()
    data_path = '/' + url.split('://', 1)[1].split('/', 1)[1]
    status, headers, data = raw(master[0], 'GET', data_path)
    assert status == 200 and len(data) == int(size)
    status, headers, part = raw(master[0], 'GET', data_path, headers={'Range': 'bytes=3-9'})
    assert status == 206 and part == data[3:10]
    assert headers['Content-Range'] == 'bytes 3-9/%d' % len(data)
    status, headers, part = raw(master[0], 'GET', data_path, headers={'Range': 'bytes=5-'})
    assert status == 206 and part == data[5:]
    status, headers, part = raw(master[0], 'GET', data_path, headers={'Range': 'bytes=-4'})
    assert status == 206 and part == data[-4:]
    # a range at/after the end: the whole file with 200, as the real master does
    status, _, part = raw(master[0], 'GET', data_path,
                          headers={'Range': 'bytes=%d-' % len(data)})
    assert status == 200 and part == data
    status, headers, part = raw(master[0], 'HEAD', data_path)
    assert status == 200 and part == b'' and int(headers['Content-Length']) == len(data)
    # encoded names are decoded, like any web server does
    status, _, again = raw(master[0], 'GET', data_path.replace('@', '%40'))
    assert status == 200 and again == data
    status, _, body = raw(master[0], 'GET', path.replace('.results', '.nope'))
    assert (status, body) == (404, b'Not found.')


# ---------------------------------------------------------------------------- security

def _listening_addresses(port):
    found = []
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    local, state = fields[1], fields[3]
                    addr, p = local.split(':')
                    if state == '0A' and int(p, 16) == port:
                        found.append(addr)
        except OSError:
            pass
    return found


def test_binds_loopback_by_default(tmp_path):
    env = dict(os.environ)
    env.pop('DISCO_PORT', None)
    proc = subprocess.Popen([sys.executable, '-m', 'discolite', 'master', '--port', '0',
                             '--data-dir', str(tmp_path), '--workers', '1'],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        line = proc.stdout.readline()
        m = re.match(r'discolite master at http://127\.0\.0\.1:(\d+) \(data: (.*)\)$', line.strip())
        assert m, line
        assert os.path.realpath(m.group(2)) == os.path.realpath(str(tmp_path))
        port = int(m.group(1))
        if os.path.exists('/proc/net/tcp'):
            assert _listening_addresses(port) == ['0100007F']
        assert Disco('http://127.0.0.1:%d' % port).master_version() == '0.5.4'
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            assert proc.wait(15) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    # a clean exit: no worker process of that master is left
    out = subprocess.run(['ps', '-eo', 'pid,ppid,args'], capture_output=True, text=True).stdout
    assert not [l for l in out.splitlines() if ' %d ' % proc.pid in l]


@pytest.mark.parametrize('path', ['/disco/../../../../etc/passwd',
                                  '/disco/localhost/../../../../../etc/passwd',
                                  '/disco/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
                                  '/disco/localhost/%2E%2E%2F%2E%2E%2F%2E%2E%2Fetc%2Fpasswd',
                                  '/disco/..%2f..%2f..%2fetc/passwd',
                                  '/ddfs/oob/../../../etc/passwd',
                                  '/proxy/localhost/GET/disco/../../../etc/passwd',
                                  '/disco//etc/passwd',
                                  '/disco/localhost/%00/x'])
def test_path_traversal_is_refused(master, path):
    status, _, body = raw(master[0], 'GET', path)
    assert status in (400, 403, 404), (status, body)
    assert b'root:' not in body


def test_traversal_cannot_reach_files_next_to_the_data_dir(master):
    url, data = master
    secret = os.path.join(os.path.dirname(data), 'secret-%d' % os.getpid())
    with open(secret, 'w') as f:
        f.write('top secret')
    try:
        name = os.path.basename(secret)
        for path in ['/disco/../../%s' % name, '/disco/%%2e%%2e/%%2e%%2e/%s' % name,
                     '/disco/localhost/../../../%s' % name]:
            status, _, body = raw(url, 'GET', path)
            assert status in (403, 404) and b'secret' not in body
    finally:
        os.remove(secret)


def test_symlink_out_of_the_data_dir_is_not_served(master, tmp_path):
    url, data = master
    outside = tmp_path / 'outside.txt'
    outside.write_text('outside')
    link = os.path.join(data, 'data', 'localhost', 'link.txt')
    os.symlink(str(outside), link)
    try:
        status, _, body = raw(url, 'GET', '/disco/localhost/link.txt')
        assert status == 404 and body == b'Not found.'
    finally:
        os.remove(link)


def test_oversized_bodies_are_refused_without_reading_them(master):
    host, port = master[0][len('http://'):].split(':')
    for path, limit, message in [('/disco/job/new', 1 << 30, b'Job packet too large'),
                                 ('/disco/ctrl/kill_job', 64 << 20, b'Request body too large')]:
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(b'POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n'
                      % (path.encode(), limit + 1))
            resp = http.client.HTTPResponse(s)
            resp.begin()
            assert resp.status == 413
            assert resp.read() == message


def test_malformed_json_gets_400_with_a_message(master):
    for path in ['/disco/ctrl/kill_job', '/disco/ctrl/get_results', '/disco/ctrl/save_settings',
                 '/disco/ctrl/save_config_table']:
        status, headers, body = raw(master[0], 'POST', path, body=b'{not json',
                                    headers={'Content-Type': 'application/json'})
        assert status == 400, path
        assert json.loads(body)  # a JSON-encoded, non-empty message


def test_only_get_head_and_post(master):
    for method in ('PUT', 'DELETE', 'PATCH', 'OPTIONS'):
        status, headers, _ = raw(master[0], method, '/disco/version')
        assert status == 405 and headers['Allow'] == 'GET, HEAD, POST'
    status, headers, _ = raw(master[0], 'PATCH', '/ddfs/tag/x')  # DDFS also takes PUT, DELETE
    assert status == 405 and headers['Allow'] == 'GET, HEAD, POST, PUT, DELETE'
    status, headers, body = raw(master[0], 'HEAD', '/disco/version')
    assert status == 200 and body == b'' and headers['Content-Length'] == '7'


def test_hostile_job_pack_writes_nothing_outside_its_job_dir(disco, master):
    url, data = master
    marker = 'escaped-%d' % os.getpid()
    jobdict = {'prefix': 'Evil', 'worker': 'lib/discolite/worker/classic/worker.py',
               'owner': 'x', 'input': ['raw://x'], 'nr_reduces': 1, 'map?': True,
               'reduce?': False, 'scheduler': {}}
    for entry in ['../../../../../%s' % marker, '/tmp/%s' % marker, 'a/../../../../../%s' % marker]:
        home = zip_bytes({'bin/worker.py': b'#!/bin/sh\n', entry: b'owned'})
        with pytest.raises(DiscoError, match='escapes the job directory'):
            disco.submit(JobPack(1, jobdict, {}, home, b'').dumps())
    for root, _dirs, files in os.walk(os.path.dirname(data)):
        assert marker not in files, root
    assert not os.path.exists('/tmp/' + marker)
    assert not [j for j in disco.joblist() if j[2].startswith('Evil@')]
    status, _, body = raw(url, 'POST', '/disco/job/new', body=b'\xd5\xc0\x00\x01' + b'\0' * 20)
    assert status == 200 and json.loads(body)[0] == 'error'


def test_connection_refused_has_the_hint():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    d = Disco('http://127.0.0.1:%d' % port)
    d.transport.connect_retries = 1
    d.transport.retry_sleep = 0.01
    start = time.time()
    with pytest.raises(CommError) as e:
        d.joblist()
    assert e.value.code is None
    assert '(is disco master running at http://127.0.0.1:%d?)' % port in str(e.value)
    assert time.time() - start < 5


# ---------------------------------------------------------------------------- worker protocol

def test_foreign_worker_job_over_http(disco, master):
    """A job pack whose worker does not import discolite, submitted over HTTP."""
    from tests.http.common import foreign_pack
    name = disco.submit(foreign_pack(['raw://one', ['raw://two', 'raw://2'], 'raw://three']))
    status, results = wait_status(disco, name)
    assert status == 'ready', events_text(disco, name)
    [[index]] = results
    lines = []
    from discolite import util
    for _label, url, _size in util.read_index(index):
        path = '/' + url.split('://', 1)[1].split('/', 1)[1]
        status, _, body = raw(master[0], 'GET', path)
        assert status == 200
        lines += body.decode().splitlines()
    assert sorted(lines) == ['raw://one', 'raw://three', 'raw://two']


def test_master_with_external_workers_runs_classic_jobs(tmp_path):
    with http_master(tmp_path, workers=2, args=['--external-workers']) as url:
        d = Disco(url)
        job = Job(name='WordCount', master=d).run(
            input=['raw://hello world', 'raw://hello'], map=fun_map, reduce=fun_reduce)
        results = job.wait(poll_interval=0.2, timeout=30)
        assert sorted(result_iterator(results)) == [('hello', 2), ('world', 1)]
        home_launcher = os.path.join(str(tmp_path), 'data', 'localhost')
        found = [d for d, _s, files in os.walk(home_launcher) if 'worker.py' in files
                 and d.endswith('lib/discolite/worker/classic')]
        assert found  # the job home was unpacked with its launcher: it ran as an executable
