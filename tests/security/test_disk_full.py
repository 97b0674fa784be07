"""A full disk never wedges the master (issue 12 item 2).

The data directory is a 20 MB tmpfs and a job writes 60 MB: the job must end ``dead``
with an event saying why, its slots must be free, no count negative, partial outputs of
failed attempts gone, purge must work the first time and the next job must run once the
space is back.  In process and through a real ``discolite master``.
"""
import os
import re
import shutil
import subprocess
import time

import pytest

from discolite import Disco, Job, result_iterator
from discolite.error import JobError

ATTEMPT = re.compile(r'.+:.*-\d+-[0-9a-f]{2}-\d+\Z')  # a task run's directory (discolite.task)


def big_map(entry, params):
    import os
    for i in range(60):
        yield 'k%d' % i, os.urandom(1 << 20)  # incompressible: 60 MB of output


def words_map(line, params):
    for word in line.split():
        yield word, 1


@pytest.fixture
def tmpfs(tmp_path):
    mnt = tmp_path / 'tmpfs'
    mnt.mkdir()
    proc = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=20m', 'tmpfs', str(mnt)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip('cannot mount a 20 MB tmpfs here (needs root or CAP_SYS_ADMIN): %s'
                    % (proc.stderr.strip() or proc.returncode))
    try:
        yield mnt
    finally:
        for _ in range(50):  # never leave the mount behind (a process may still hold it)
            subprocess.run(['umount', '-l', str(mnt)], capture_output=True)
            if not os.path.ismount(str(mnt)):
                break
            time.sleep(0.1)


@pytest.fixture(params=['local', 'http'])
def full_master(request, tmpfs, monkeypatch):
    """``(disco, data_dir, master or None)`` on the tmpfs."""
    monkeypatch.setenv('DISCOLITE_MAX_FAILURES', '2')
    monkeypatch.setenv('DISCOLITE_RETRY_DELAY', '0.01')
    data = tmpfs / 'data'
    if request.param == 'local':
        from discolite.master import Master
        master = Master(DISCOLITE_WORKERS=2, DISCOLITE_DATA=str(data))
        request.addfinalizer(master.close)
        return Disco(master.url), data, master
    from tests.helpers import http_master
    ctx = http_master(data, workers=2)
    url = ctx.__enter__()
    request.addfinalizer(lambda: ctx.__exit__(None, None, None))
    return Disco(url), data, None


def _attempt_dirs(root):
    """Task output directories under the nodes' data (not the pool's warm-up scratch, where
    a fresh worker may be writing at this moment)."""
    nodes = os.path.join(str(root), 'data')
    return [os.path.join(d, x) for d, dirs, _f in os.walk(nodes) for x in dirs
            if ATTEMPT.match(x)]


def test_a_full_disk_kills_the_job_cleanly_and_the_next_job_runs(full_master):
    disco, data, master = full_master
    job = Job(name='Filler', master=disco).run(input=['raw://a'], map=big_map)
    with pytest.raises(JobError) as e:
        job.wait(poll_interval=0.05, timeout=120)
    assert 'Status dead' in str(e.value)
    events = [m for _o, (_t, _h, m) in disco.events(job.name)]
    assert any('no space left on device in ' in m or 'disk space available' in m
               or 'No space left on device' in m for m in events), events
    assert events[-1] == 'WARN: Job killed'
    info = disco.jobinfo(job.name)
    assert info['active'] == 'dead'
    for stage, pending, waiting, running, done, failed in info['pipeline']:
        assert min(pending, waiting, running, done, failed) >= 0, info['pipeline']
        assert running == 0 and failed <= 3, info['pipeline']  # at most max_failures + 1
    assert info['hosts'] == []
    node = disco.nodeinfo()['localhost']
    assert 'tasks' not in node or job.name not in node['tasks'], node
    assert _attempt_dirs(data) == []  # partial outputs of failed runs are gone
    if master is not None:
        sched = master.scheduler
        with sched.lock:
            assert job.name not in sched.active
            assert all(slot.task is None for slot in sched.pool.slots)

    disco.purge(job.name)  # answers 200 the first time
    assert disco.results(job.name) == ('unknown job', [])
    deadline = time.time() + 10  # a task process killed with its job may still hold a file
    while shutil.disk_usage(str(data)).free < 15 << 20 and time.time() < deadline:
        time.sleep(0.05)
    assert shutil.disk_usage(str(data)).free > 15 << 20

    ok = Job(name='After', master=disco).run(input=['raw://alpha beta', 'raw://beta'],
                                             map=words_map)
    assert sorted(result_iterator(ok.wait(poll_interval=0.05, timeout=60),
                                  ddfs=disco.master)) == [('alpha', 1), ('beta', 1), ('beta', 1)]
    if master is not None:
        assert master.scheduler.errors == 0


def test_an_event_log_that_cannot_be_written_ends_the_job(full_master):
    """Fill the disk from outside while a job runs: the master's own writes fail."""
    disco, data, master = full_master
    gate = data.parent / 'gate'
    job = Job(name='Waiter', master=disco).run(input=['raw://%s' % gate], map=gated_map)
    ballast = data.parent / 'ballast'
    try:
        with open(str(ballast), 'wb', buffering=0) as f:  # fill every byte that is left
            try:
                while True:
                    f.write(b'\0' * (1 << 16))
                    f.flush()
            except OSError:
                pass
        gate.parent.mkdir(exist_ok=True)
        try:
            open(str(gate), 'w').close()
        except OSError:
            ballast.unlink()
            raise
        with pytest.raises(JobError) as e:
            job.wait(poll_interval=0.05, timeout=60)
        assert 'Status dead' in str(e.value)
        events = [m for _o, (_t, _h, m) in disco.events(job.name)]
        assert any(m.startswith('ERROR: no space left on device in ') or
                   'No space left on device' in m or 'disk space available' in m
                   for m in events), events
        info = disco.jobinfo(job.name)
        assert all(min(row[1:]) >= 0 and row[3] == 0 for row in info['pipeline'])
    finally:
        if ballast.exists():
            ballast.unlink()
    disco.purge(job.name)
    ok = Job(name='After', master=disco).run(input=['raw://x'], map=words_map)
    assert sorted(result_iterator(ok.wait(poll_interval=0.05, timeout=60),
                                  ddfs=disco.master)) == [('x', 1)]


def gated_map(entry, params):
    import os
    import time
    path = entry.decode() if isinstance(entry, bytes) else str(entry)
    for _ in range(3000):
        if os.path.exists(path):
            break
        time.sleep(0.01)
    for i in range(5):
        yield 'k%d' % i, 'x' * 100000
