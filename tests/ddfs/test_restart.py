"""DDFS data survives ``discolite master`` being SIGKILLed (also mid-write) and restarted."""
import os
import re
import signal
import subprocess
import sys
import threading
import time
from io import BytesIO

from discolite.ddfs import DDFS
from discolite.error import CommError


def start(data_dir):
    proc = subprocess.Popen([sys.executable, '-m', 'discolite', 'master', '--host', '127.0.0.1',
                             '--port', '0', '--data-dir', str(data_dir), '--workers', '1'],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        line = proc.stdout.readline()
        m = re.search(r'(http://127\.0\.0\.1:\d+)', line or '')
        if m:
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, m.group(1)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError('discolite master did not start')


def kill(proc):
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)


def content(i):
    return (b'blob %d ' % i) * (1000 + i * 37)


def test_tags_blobs_tokens_survive_sigkill_mid_write(tmp_path, monkeypatch):
    data = tmp_path / 'data'
    proc, url = start(data)
    try:
        monkeypatch.setenv('DISCO_PORT', url.rsplit(':', 1)[1])
        ddfs = DDFS(url)
        ddfs.push('keep:one', [(BytesIO(b'first'), 'first')])
        ddfs.setattr('keep:one', 'color', 'blue')
        ddfs.put('keep:secret', [['x']], token='s3cret')
        ddfs.tag('gone', [['y']])
        ddfs.delete('gone')
        before = ddfs.get('keep:one')
        written = []
        stop = threading.Event()

        def writer():
            i = 0
            while not stop.is_set():
                try:
                    ddfs.push('keep:busy', [(BytesIO(content(i)), 'b%d' % i)])
                    written.append(i)
                except Exception:
                    return
                i += 1
        t = threading.Thread(target=writer)
        t.start()
        while len(written) < 5:
            time.sleep(0.01)
        kill(proc)  # while the writer is pushing
        stop.set()
        t.join(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    proc, url = start(data)
    try:
        monkeypatch.setenv('DISCO_PORT', url.rsplit(':', 1)[1])
        ddfs = DDFS(url)
        assert ddfs.get('keep:one') == before
        assert ddfs.getattr('keep:one', 'color') == 'blue'
        assert [fd.read() for fd in ddfs.pull('keep:one')] == [b'first']
        try:
            ddfs.get('keep:secret')
            raise AssertionError('token lost')
        except CommError as e:
            assert e.code == 401
        assert ddfs.get('keep:secret', token='s3cret')['urls'] == [['x']]
        assert not ddfs.exists('gone') and 'gone' not in ddfs.list()
        # every acknowledged push is there, and every entry points at a complete blob
        entries = ddfs.urls('keep:busy')
        names = [DDFS.blob_name(e[0]) for e in entries]
        assert set('b%d' % i for i in written) <= set(names)
        for fd in ddfs.pull('keep:busy'):
            assert fd.read() == content(int(DDFS.blob_name(fd.url)[1:]))
        ddfs.push('keep:one', [(BytesIO(b'after'), 'after')])  # writable after the crash
        assert len(ddfs.urls('keep:one')) == 2
    finally:
        proc.terminate()
        proc.wait(10)
    partial = [f for d, _, fs in os.walk(str(data / 'ddfs' / 'tags')) for f in fs
               if f.startswith('!partial')]
    assert len(partial) <= 1  # at most the one write the kill interrupted, never read
