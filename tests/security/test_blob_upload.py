"""DDFS blob uploads stream to disk (issue 12 items 3 and 5, "no unbounded buffering").

Against a real ``discolite master`` on loopback: two concurrent 64 MB ``PUT /ddfs/...``
must not grow the master's peak memory (VmHWM) by anything like the blob size, the bytes
read back must be the bytes sent, a body cut short must leave no blob and no temporary
file, a full disk must answer a clear error and leave the master healthy.  The in-process
client's push goes through the same store code with its open file as the body.
"""
import hashlib
import json
import os
import socket
import subprocess
import threading
import time
import tracemalloc

import pytest

from discolite.ddfs import DDFS

MB = 1 << 20
ENV = {'DISCOLITE_SERVER_READ_TIMEOUT': '5'}


@pytest.fixture(scope='module')
def master(tmp_path_factory):
    """``(url, data dir, pid)`` of a discolite master with a 5 s read timeout."""
    from tests.helpers import env, http_master
    data = tmp_path_factory.mktemp('blobs') / 'data'
    with env(**ENV), http_master(data, workers=1) as url:
        yield url, str(data), _pid_of(str(data))


def _pid_of(data_dir):
    """The pid of the ``discolite master`` serving ``data_dir`` (a path unique to the test)."""
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as f:
                args = f.read().split(b'\0')
        except OSError:
            continue
        if b'master' in args and data_dir.encode() in args and b'--data-dir' in args:
            return int(entry)
    raise AssertionError('no discolite master process for %s' % data_dir)


def _hwm_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1])
    raise AssertionError('no VmHWM in /proc/%d/status' % pid)


def _addr(url):
    host, port = url.split('//')[1].split(':')
    return host, int(port)


def _block(seed, i):
    """The i-th MiB of upload ``seed``: different for every MiB and every upload."""
    return hashlib.sha256(b'%d-%d' % (seed, i)).digest() * (MB // 32)


def _answer(sock):
    """Status and body of one HTTP answer on ``sock`` (Content-Length framed)."""
    data = b''
    while b'\r\n\r\n' not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    if not data:
        return None, b''
    head, _, body = data.partition(b'\r\n\r\n')
    length = 0
    for line in head.split(b'\r\n')[1:]:
        key, _, value = line.partition(b':')
        if key.strip().lower() == b'content-length':
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(head.split(b' ', 2)[1]), body


def _put(url, name, blocks, declared=None, hang_up=False):
    """PUT the byte strings ``blocks`` as blob ``name``; ``(status, body)``.  ``declared``:
    the Content-Length to announce (default the true size; give it for a generator, which
    is then sent as it is made); ``hang_up``: shut the write side after the blocks."""
    if declared is None:
        blocks = list(blocks)
        declared = sum(len(b) for b in blocks)
    host, port = _addr(url)
    with socket.create_connection((host, port), timeout=120) as s:
        s.sendall(b'PUT /ddfs/%s HTTP/1.1\r\nHost: %s:%d\r\nContent-Length: %d\r\n\r\n'
                  % (name.encode(), host.encode(), port, declared))
        for block in blocks:
            s.sendall(block)
        if hang_up:
            s.shutdown(socket.SHUT_WR)
        return _answer(s)


def _put_stream(url, name, seed, mbs):
    """PUT ``mbs`` MiB of upload ``seed``, made as it is sent; ``(status, body)``."""
    return _put(url, name, (_block(seed, i) for i in range(mbs)), declared=mbs * MB)


def _read_back_digest(url, blob_url):
    """sha256 of the blob read over HTTP (the master streams it from disk)."""
    import urllib.request
    path = blob_url.split('/', 3)[3]
    digest = hashlib.sha256()
    with urllib.request.urlopen('%s/%s' % (url, path), timeout=60) as resp:
        for chunk in iter(lambda: resp.read(MB), b''):
            digest.update(chunk)
    return digest.hexdigest()


def _leftovers(data_dir):
    """Blob files and temporary files under the DDFS volume."""
    vol = os.path.join(data_dir, 'ddfs', 'vol0', 'blob')
    return sorted(os.path.join(d, f) for d, _dirs, files in os.walk(vol) for f in files)


def _new_blob(url, prefix):
    import urllib.request
    with urllib.request.urlopen('%s/ddfs/new_blob/%s' % (url, prefix), timeout=30) as resp:
        return json.loads(resp.read())[0].rsplit('/', 1)[1]


def test_two_concurrent_64mb_uploads_do_not_grow_the_master(master):
    url, data, pid = master
    names = [_new_blob(url, 'big%d' % i) for i in range(2)]
    before = _hwm_kb(pid)
    results = [None, None]

    def upload(i):
        results[i] = _put_stream(url, names[i], i, 64)

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    grown = _hwm_kb(pid) - before
    for i, (status, body) in enumerate(results):
        assert status == 201, body
        blob_url = json.loads(body)
        assert blob_url.endswith('/' + names[i]) and blob_url.startswith('disco://')
        expected = hashlib.sha256()
        for j in range(64):
            expected.update(_block(i, j))
        assert _read_back_digest(url, blob_url) == expected.hexdigest()
    assert grown < 32 * 1024, 'the master grew by %d kB for 2 x 64 MB uploads' % grown
    assert not [f for f in _leftovers(data) if '!partial' in f]


@pytest.mark.parametrize('sent, declared', [(3 * MB, 8 * MB), (1000, 5000)])
def test_a_body_cut_short_leaves_no_blob_and_no_temporary_file(master, sent, declared):
    url, data, _pid = master
    name = _new_blob(url, 'short')
    before = _leftovers(data)
    status, body = _put(url, name, [b'x' * sent], declared=declared, hang_up=True)
    assert status == 400 and b'shorter than its Content-Length' in body, (status, body)
    assert _leftovers(data) == before
    # the master is healthy: the same name can be uploaded whole now
    status, body = _put(url, name, [b'y' * declared])
    assert status == 201, body
    assert _read_back_digest(url, json.loads(body)) == \
        hashlib.sha256(b'y' * declared).hexdigest()


def test_a_stalled_body_times_out_with_no_blob_and_no_temporary_file(master):
    url, data, _pid = master
    name = _new_blob(url, 'stalled')
    before = _leftovers(data)
    with socket.create_connection(_addr(url), timeout=60) as s:
        s.sendall(b'PUT /ddfs/%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n'
                  % (name.encode(), 4 * MB) + b'z' * (2 * MB))
        status, body = _answer(s)  # after the master's 5 s read timeout
    assert status == 408, (status, body)
    assert _leftovers(data) == before


def test_a_refused_upload_is_read_through_and_the_connection_kept(master):
    """A refused name (403) and an existing blob (500 File exists) answer after the body,
    as before, so a client still sending reads the answer and may reuse the connection."""
    url, data, _pid = master
    name = _new_blob(url, 'twice')
    assert _put(url, name, [b'a' * 10])[0] == 201
    host, port = _addr(url)
    with socket.create_connection((host, port), timeout=60) as s:
        for path, code, text in (('nodollar', 403, b'Invalid blob name'),
                                 (name, 500, b'File exists (path: ')):
            s.sendall(b'PUT /ddfs/%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n'
                      % (path.encode(), 3 * MB) + b'b' * (3 * MB))
            status, body = _answer(s)
            assert status == code and body.startswith(text), (status, body)
        s.sendall(b'GET /ddfs/tags HTTP/1.1\r\nHost: x\r\n\r\n')
        assert _answer(s)[0] == 200
    assert not [f for f in _leftovers(data) if '!partial' in f]


@pytest.fixture
def tmpfs(tmp_path):
    from tests.helpers import small_tmpfs
    with small_tmpfs(tmp_path / 'tmpfs', 24) as mnt:
        yield mnt


def test_a_full_disk_is_a_clear_error_and_the_master_stays_healthy(tmpfs):
    from tests.helpers import http_master
    data = str(tmpfs / 'data')
    with http_master(data, workers=1) as url:
        name = _new_blob(url, 'huge')
        status, body = _put_stream(url, name, 7, 40)
        assert status == 500 and b'No space left on device' in body, (status, body)
        assert _leftovers(data) == []  # no blob, no temporary file: the space is back
        small = _new_blob(url, 'small')
        status, body = _put(url, small, [b'ok' * 1000])
        assert status == 201, body
        assert _read_back_digest(url, json.loads(body)) == \
            hashlib.sha256(b'ok' * 1000).hexdigest()


def test_in_process_push_streams_the_file(tmp_path):
    """Through the local transport the store copies the client's open file: pushing a
    16 MB file allocates far less than 16 MB, and the blob holds the file's bytes."""
    from discolite.master import Master
    master = Master(DISCOLITE_WORKERS=1, DISCOLITE_DATA=str(tmp_path / 'data'))
    try:
        src = tmp_path / 'big.bin'
        with open(src, 'wb') as f:
            for i in range(16):
                f.write(_block(3, i))
        ddfs = DDFS(master.url)
        tracemalloc.start()
        try:
            _tags, urls = ddfs.push('demo:stream', [str(src)])
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 4 * MB, 'push allocated %d bytes at its peak' % peak
        path = master.ddfs.blob_file(urls[0][0])
        with open(path, 'rb') as a, open(src, 'rb') as b:
            assert a.read() == b.read()
        assert list(ddfs.blobs('demo:stream')) == [urls[0]]
    finally:
        master.close()


def test_a_master_stopped_mid_upload_leaves_no_partial_file_after_restart(tmp_path):
    """The upload thread dies with the master (SIGTERM here): its ``!partial`` file stays
    until the next master on the data dir removes it; the blob never appears."""
    from tests.helpers import http_master
    data = str(tmp_path / 'data')
    with http_master(data, workers=1) as url:
        name = _new_blob(url, 'cut')
        s = socket.create_connection(_addr(url), timeout=60)
        s.sendall(b'PUT /ddfs/%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n'
                  % (name.encode(), 8 * MB) + b'c' * (3 * MB))
        deadline = time.time() + 30
        while not _leftovers(data) and time.time() < deadline:
            time.sleep(0.05)
        partial = _leftovers(data)
        assert len(partial) == 1 and '!partial-' in partial[0], partial
    s.close()
    assert _leftovers(data) == partial  # what the stopped master was writing
    with http_master(data, workers=1) as url:
        assert _leftovers(data) == []
        assert _put(url, name, [b'whole'])[0] == 201


def test_partial_files_of_live_writers_are_kept(tmp_path):
    """A pool process of the old master may still be finishing an OOB put: only files whose
    writer is gone are removed."""
    import sys
    from discolite.master.ddfs_store import DDFSStore
    store = DDFSStore(str(tmp_path / 'ddfs'))
    gone = subprocess.Popen([sys.executable, '-c', 'pass'])
    gone.wait()
    alive = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
    try:
        directory = os.path.dirname(store.blob_path('k$1-2-3'))
        os.makedirs(directory, exist_ok=True)
        dead_file = os.path.join(directory, '!partial-%d-1.k$1-2-3' % gone.pid)
        live_file = os.path.join(directory, '!partial-%d-1.k$1-2-4' % alive.pid)
        blob = os.path.join(directory, 'k$1-2-3')
        for path in (dead_file, live_file, blob):
            with open(path, 'wb') as f:
                f.write(b'x')
        assert store.remove_partials() == 1
        assert not os.path.exists(dead_file)
        assert os.path.exists(live_file) and os.path.exists(blob)
    finally:
        alive.kill()
        alive.wait()
