"""A full disk never wedges the master (issue 12 item 2).

The data directory is a 20 MB tmpfs and a job writes 60 MB: the job must end ``dead``
with an event saying why, its slots must be free, no count negative, partial outputs of
failed attempts gone, purge must work the first time and the next job must run once the
space is back.  In process and through a real ``discolite master``.
"""
import os
import re
import shutil
import time

import pytest

from discolite import Disco, Job, result_iterator
from discolite.error import JobError
from discolite.task import hexhash
from discolite.worker import Params

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
    from tests.helpers import small_tmpfs
    with small_tmpfs(tmp_path / 'tmpfs', 20) as mnt:
        yield mnt


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
    import json; open('/tmp/tst-ev1-%s.json' % (master is None), 'a').write(json.dumps(events) + '\n')
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
        # the master's own write (the job's event log) failed: the wording,
        # naming the file, then the job is killed
        prefix = 'ERROR: no space left on device in '
        assert events[-1] == 'WARN: Job killed' and events[-2].startswith(prefix), events
        path = events[-2][len(prefix):]
        assert path == os.path.join(str(data), 'master', hexhash(job.name), job.name,
                                    'events'), path
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


def fail_once_map(entry, params):
    """First run: writes outputs (flushed to disk), notes what it left, then fails.  The
    retry notes which runs of map:0 it finds in the job home (its cwd), then emits its own."""
    import glob
    import os
    from discolite.error import DataError
    mine = '-%d' % os.getpid()
    attempts = lambda: [d for d in glob.glob('??/map:*-0-??-*') if not d.endswith(mine)]
    if not os.path.exists(params.marker):
        for i in range(3000):
            yield 'first', os.urandom(1000)  # 3 MB: well past any buffer
        own = [d for d in glob.glob('??/map:*-0-??-*') if d.endswith(mine)]
        written = sum(os.path.getsize(os.path.join(d, f)) for d in own for f in os.listdir(d))
        with open(params.marker, 'w') as f:
            f.write('%s %d' % (own, written))
        raise DataError('failing after writing outputs', 'map:0')
    yield 'earlier runs', attempts()
    yield 'second', os.getpid()


@pytest.mark.parametrize('kind', ['local', 'http'])
def test_a_retry_starts_without_the_failed_runs_outputs(kind, tmp_path, monkeypatch):
    """Partial outputs of a failed run are removed before the retry (issue 12 item 2)."""
    monkeypatch.setenv('DISCOLITE_MAX_FAILURES', '2')
    monkeypatch.setenv('DISCOLITE_RETRY_DELAY', '0.01')
    data = tmp_path / 'data'
    marker = str(tmp_path / 'marker')
    if kind == 'local':
        from discolite.master import Master
        ctx = Master(DISCOLITE_WORKERS=1, DISCOLITE_DATA=str(data))
    else:
        from tests.helpers import http_master
        ctx = http_master(data, workers=1)
    with ctx as m:
        disco = Disco(m if isinstance(m, str) else m.url)
        job = Job(name='Retried', master=disco).run(input=['raw://a'], map=fail_once_map,
                                                    params=Params(marker=marker))
        out = list(result_iterator(job.wait(poll_interval=0.05, timeout=60),
                                   ddfs=disco.master))
        own, written = open(marker).read().rsplit(' ', 1)
        assert int(written) > 500000 and own != '[]', (own, written)  # the first run wrote
        events = [msg for _o, (_t, _h, msg) in disco.events(job.name)]
        assert sum('failing after writing outputs' in msg for msg in events) == 1, events
        assert dict(out) == {'earlier runs': [], 'second': dict(out)['second']}, out[:3]
        # what is left of the job's map:0 is the successful run's directory only
        home = os.path.join(str(data), 'data', 'localhost', hexhash(job.name), job.name)
        runs = [x for _d, dirs, _f in os.walk(home) for x in dirs if ATTEMPT.match(x)
                and x.startswith('map:')]
        assert len(runs) == 1 and runs[0].endswith('-%d' % dict(out)['second']), runs
        job.purge()
