"""The data directory lock and restarting over an existing data directory (issue 12 item 7)."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from discolite import Disco, Job, result_iterator
from discolite.error import DiscoError, JobError
from discolite.master import Master


def words_map(line, params):
    for word in line.split():
        yield word, 1


def bad_map(line, params):
    raise ValueError('no good')


def gated_map(line, params):
    import os
    import time
    open(os.path.join(params, 'running'), 'w').close()
    time.sleep(120)
    yield line, 1


def start(data, workers=1):
    """``python -m discolite master`` on ``data``; returns (proc, url, start-up line)."""
    proc = subprocess.Popen([sys.executable, '-m', 'discolite', 'master', '--host', '127.0.0.1',
                             '--port', '0', '--data-dir', str(data), '--workers', str(workers)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        m = re.search(r'(http://127\.0\.0\.1:\d+)', line)
        if m:
            return proc, m.group(1), line
    proc.wait(10)
    return proc, None, ''.join(lines)


def stop(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_second_master_on_the_same_data_dir_is_refused(tmp_path):
    data = tmp_path / 'data'
    with Master(DISCOLITE_WORKERS=1, DISCOLITE_DATA=str(data)):
        with pytest.raises(DiscoError) as e:
            Master(DISCOLITE_WORKERS=1, DISCOLITE_DATA=str(data))
        assert 'in use by another discolite master (pid %d)' % os.getpid() in str(e.value)
        proc, url, output = start(data)
        assert url is None and proc.returncode == 2
        assert 'in use by another discolite master (pid %d)' % os.getpid() in output
    proc, url, line = start(data)  # free again once the first one closed
    try:
        assert url and Disco(url).joblist() == []
        with pytest.raises(DiscoError, match='pid %d' % proc.pid):
            Master(DISCOLITE_WORKERS=1, DISCOLITE_DATA=str(data))
    finally:
        stop(proc)


def test_restart_reloads_jobs(tmp_path, monkeypatch):
    data = tmp_path / 'data'
    gate = tmp_path / 'gate'
    gate.mkdir()
    proc, url, _ = start(data, workers=2)
    try:
        disco = Disco(url)
        ready = Job(name='Ready', master=disco).run(input=['raw://a b', 'raw://b'],
                                                    map=words_map)
        results = ready.wait(poll_interval=0.05)
        dead = Job(name='Dead', master=disco).run(input=['raw://x'], map=bad_map)
        with pytest.raises(JobError):
            dead.wait(poll_interval=0.05)
        cleaned = Job(name='Cleaned', master=disco).run(input=['raw://c'], map=words_map)
        cleaned.wait(poll_interval=0.05)
        disco.clean(cleaned.name)
        active = Job(name='Active', master=disco).run(input=['raw://z'], map=gated_map,
                                                      params=str(gate))
        deadline = time.time() + 30
        while not (gate / 'running').exists() and time.time() < deadline:
            time.sleep(0.05)
        before = {n: s for _t, s, n in disco.joblist()}
        assert before == {ready.name: 'ready', dead.name: 'dead', active.name: 'active'}
        info_before = disco.jobinfo(ready.name)
    finally:
        stop(proc, signal.SIGKILL)  # as a crash: nothing saved on the way out

    proc, url, line = start(data, workers=2)
    try:
        assert url, line
        monkeypatch.setenv('DISCO_PORT', url.rsplit(':', 1)[1])  # disco:// result URLs
        assert 'reloaded 2 finished job(s) and 1 that were active, now dead' in line
        disco = Disco(url)
        after = {n: s for _t, s, n in disco.joblist()}
        assert after == {ready.name: 'ready', dead.name: 'dead', active.name: 'dead'}
        assert [n for _t, _s, n in disco.joblist()] == [active.name, dead.name, ready.name]
        assert disco.results(ready.name) == ('ready', results)
        assert sorted(result_iterator(results, ddfs=url)) == [('a', 1), ('b', 1), ('b', 1)]
        info = disco.jobinfo(ready.name)
        assert info['pipeline'] == info_before['pipeline']
        assert info['active'] == 'ready' and info['inputs'] == info_before['inputs']
        events = [m for _o, (_t, _h, m) in disco.events(active.name)]
        assert events[-2:] == ['master restarted', 'WARN: Job killed']
        with pytest.raises(JobError, match='Status dead'):
            disco.wait(active.name, poll_interval=0.05)
        assert disco.results(cleaned.name) == ('unknown job', [])
        home = [d for d, _x, _f in os.walk(str(data)) if d.endswith(cleaned.name)]
        assert home  # the cleaned job's data is still there ...
        disco.purge(cleaned.name)  # ... and purge still deletes it
        assert not [d for d, _x, _f in os.walk(str(data)) if cleaned.name in d]
        for name in (ready.name, dead.name, active.name):
            disco.purge(name)
        assert disco.joblist() == []
        job = Job(name='New', master=disco).run(input=['raw://n'], map=words_map)
        assert sorted(result_iterator(job.wait(poll_interval=0.05), ddfs=url)) == [('n', 1)]
    finally:
        stop(proc)
    proc, url, line = start(data)  # a clean stop and start: the finished job is still there
    try:
        assert [s for _t, s, _n in Disco(url).joblist()] == ['ready']
        assert 'reloaded 1 finished job(s) and 0 that were active' in line
    finally:
        stop(proc)


def test_a_job_pack_cut_off_by_a_killed_master_is_removed_at_restart(tmp_path):
    """A master SIGKILLed while it receives a big job pack leaves the part it had written
    (``tmp/upload-*``); the next master on the data directory deletes it."""
    import socket
    data = tmp_path / 'data'
    proc, url, _line = start(data)
    try:
        host, port = url[len('http://'):].split(':')
        sock = socket.create_connection((host, int(port)))
        sock.sendall(b'POST /disco/job/new HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n'
                     % (8 << 20) + b'\0' * (3 << 20))
        uploads = lambda: [n for n in os.listdir(data / 'tmp') if n.startswith('upload-')] \
            if (data / 'tmp').is_dir() else []
        deadline = time.time() + 30
        while time.time() < deadline and not (uploads() and
                                              os.path.getsize(data / 'tmp' / uploads()[0])):
            time.sleep(0.05)
        assert uploads(), 'the master did not start writing the upload'
    finally:
        stop(proc, signal.SIGKILL)
        sock.close()
    assert uploads()  # what the killed master left
    (data / 'tmp' / 'keep-me').write_bytes(b'not an upload')
    proc, url, _line = start(data)
    try:
        assert url and uploads() == []
        assert (data / 'tmp' / 'keep-me').exists()
    finally:
        stop(proc)
