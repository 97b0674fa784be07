"""Isolation between jobs (issue 12 item 4, and the zombie watchdogs of item 7).

A pool process never runs tasks of two jobs; what a task starts is gone when the
task ends; ``DISCOLITE_ISOLATION=task`` gives every task a fresh process; no
process of the pool is ever left as a zombie, even where the master is PID 1.
Most tests use a master with ONE worker slot, so consecutive jobs and tasks
really do go to the same slot, and run twice: against the in-process master and
against a real ``discolite master`` over HTTP on loopback (``kind``).
"""
import contextlib
import os
import subprocess
import sys
import textwrap

import pytest

from discolite import Disco, Job, result_iterator
from discolite.master import Master
from discolite.worker import Params
from tests.helpers import env, http_master
from tests.reliability.helpers import wait_for

KINDS = ['local', 'http']


@contextlib.contextmanager
def a_master(kind, data_dir, workers=1, **settings):
    """A client of a master with ``workers`` slots and DISCOLITE_* ``settings``: in
    process, or a ``discolite master`` subprocess that gets the settings through its
    environment (restored once it has started, so this process never sees them)."""
    if kind == 'local':
        with Master(DISCOLITE_WORKERS=workers, **settings) as m:
            yield Disco(m.url)
        return
    with contextlib.ExitStack() as stack:
        with env(**settings):
            url = stack.enter_context(http_master(data_dir, workers=workers))
        yield Disco(url)


def alive(pid):
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] not in ('Z', 'X')
    except OSError:
        return False


@pytest.fixture(scope='module', params=KINDS)
def one_slot(request, tmp_path_factory):
    with a_master(request.param, tmp_path_factory.mktemp('one-slot'),
                  DISCOLITE_RETRY_DELAY=0.01) as disco:
        yield disco


def set_state_map(entry, params):
    import decimal
    import os
    import threading
    import time
    os.environ['DISCOLITE_TEST_LEAK'] = 'job A'
    decimal.getcontext().prec = 3
    threading.Thread(target=time.sleep, args=(120,), name='leaky-thread', daemon=True).start()
    yield 'pid', os.getpid()


def see_state_map(entry, params):
    import decimal
    import os
    import threading
    yield 'env', os.environ.get('DISCOLITE_TEST_LEAK')
    yield 'decimal', str(decimal.Decimal('1234.56789') + 0)
    yield 'threads', sorted(t.name for t in threading.enumerate())
    yield 'pid', os.getpid()


def results(job):
    return dict(result_iterator(job.wait(timeout=60, poll_interval=0.02)))


def test_state_set_by_one_job_is_not_seen_by_the_next(one_slot):
    first = results(Job(master=one_slot).run(input=['raw://a'], map=set_state_map))
    seen = results(Job(master=one_slot).run(input=['raw://b'], map=see_state_map))
    assert seen['env'] is None
    assert seen['decimal'] == '1234.56789'  # not 1.23E+3: job A's precision is gone
    assert seen['threads'] == ['MainThread']
    assert seen['pid'] != first['pid']


def flaky_pid_map(entry, params):
    """Fails the first run of every input (leaving its pid and time in a marker file):
    while a job's retries wait, the other job's tasks take the slots."""
    import os
    import time
    from discolite.error import DataError
    name = entry.decode() if isinstance(entry, bytes) else entry
    for _ in range(1000):  # until both jobs have been submitted
        if os.path.exists(params.go):
            break
        time.sleep(0.01)
    marker = os.path.join(params.dir, '%s-%s' % (params.job, name))
    if not os.path.exists(marker):
        with open(marker, 'w') as f:
            f.write('%d %r' % (os.getpid(), time.time()))
        raise DataError('first run fails', name)
    yield name, [params.job, os.getpid(), time.time()]


@pytest.mark.parametrize('kind', KINDS)
@pytest.mark.parametrize('workers', [1, 2])
def test_concurrent_jobs_never_share_a_process(kind, workers, tmp_path):
    """Two jobs at once on one slot (and on two): every run of a task (failed first runs
    too) says its job and pid; no process ran tasks of both jobs, though the jobs
    interleaved."""
    markers = tmp_path / 'markers'
    markers.mkdir()
    with a_master(kind, tmp_path / 'data', workers=workers, DISCOLITE_RETRY_DELAY=0.3,
                  DISCOLITE_MAX_FAILURES=3) as disco:
        jobs = [Job(name=label, master=disco).run(
            input=['raw://%d' % i for i in range(8)], map=flaky_pid_map,
            params=Params(dir=str(markers), job=label, go=str(tmp_path / 'go')))
            for label in ('A', 'B')]
        (tmp_path / 'go').touch()
        runs = []
        for job in jobs:
            runs.extend(results(job).values())
    assert sorted(job for job, _pid, _t in runs) == ['A'] * 8 + ['B'] * 8
    for marker in os.listdir(str(markers)):  # the failed first runs
        pid, started = open(str(markers / marker)).read().split()
        runs.append([marker.split('-')[0], int(pid), float(started)])
    assert len(runs) == 32
    pids = {'A': set(), 'B': set()}
    for job, pid, _t in runs:
        pids[job].add(pid)
    assert pids['A'] and pids['B'] and not pids['A'] & pids['B'], pids
    order = [job for job, _pid, t in sorted(runs, key=lambda r: r[2])]
    switches = sum(1 for a, b in zip(order, order[1:]) if a != b)
    assert switches >= 2, ''.join(order)  # the jobs really ran at the same time


def remember_map(entry, params):
    import os
    yield entry, [os.environ.get('DISCOLITE_TEST_SEEN'), os.getpid()]
    os.environ['DISCOLITE_TEST_SEEN'] = entry


def test_tasks_of_one_job_share_their_process_by_default(one_slot):
    """What docs/differences.md says: a job's tasks may run one after another in one process."""
    out = results(Job(master=one_slot).run(input=['raw://first', 'raw://second'],
                                           map=remember_map))
    assert out['first'][0] is None
    assert out['second'] == ['first', out['first'][1]]


@pytest.mark.parametrize('kind', KINDS)
def test_strict_isolation_gives_every_task_a_fresh_process(kind, tmp_path):
    with a_master(kind, tmp_path, DISCOLITE_ISOLATION='task') as disco:
        out = results(Job(master=disco).run(input=['raw://first', 'raw://second'],
                                            map=remember_map))
    assert out['first'][0] is None and out['second'][0] is None
    assert out['first'][1] != out['second'][1]


def mutate_params_map(entry, params):
    params.seen.append(entry)
    yield entry, list(params.seen)


def test_job_data_is_fresh_for_every_task(one_slot):
    """The job data is read once per process, but each task unpickles its own copy."""
    out = results(Job(master=one_slot).run(input=['raw://x', 'raw://y', 'raw://z'],
                                           map=mutate_params_map, params=Params(seen=[])))
    assert out == {'x': ['x'], 'y': ['y'], 'z': ['z']}


def spawn_map(entry, params):
    """Start a child with subprocess, one with fork, and a setsid double-forked daemon."""
    import os
    import subprocess
    import time
    pids = [subprocess.Popen(['sleep', '1000']).pid]
    pid = os.fork()
    if pid == 0:
        time.sleep(1000)
        os._exit(0)
    pids.append(pid)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setsid()  # leaves the process group and the session
        if os.fork() == 0:
            os.write(w, str(os.getpid()).encode())
            time.sleep(1000)
        os._exit(0)
    os.waitpid(pid, 0)
    os.close(w)
    pids.append(int(os.read(r, 100)))
    os.close(r)
    if params.check and os.path.exists(params.check):
        with open(params.check) as f:
            earlier = [int(p) for p in f.read().split()]
        yield 'earlier alive', [params.alive(p) for p in earlier]
    with open(params.path + '.tmp', 'w') as f:
        f.write(' '.join(str(p) for p in pids))
    os.rename(params.path + '.tmp', params.path)
    yield entry, pids


def _alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] not in ('Z', 'X')
    except OSError:
        return False


def test_processes_a_task_started_are_gone_when_it_ends(one_slot, tmp_path):
    """Gone when the task ends, not only when its job does: the job's next task (on the
    same slot, after the first) finds them dead."""
    path = str(tmp_path / 'pids')
    out = results(Job(master=one_slot).run(input=['raw://a', 'raw://b'], map=spawn_map,
                                           params=Params(path=path, check=path,
                                                         alive=_alive)))
    assert out['earlier alive'] == [False, False, False]
    pids = out['a'] + out['b']
    assert len(pids) == 6
    # killed before the task reported DONE: nothing to wait for
    assert [alive(p) for p in pids] == [False] * 6


@pytest.mark.parametrize('kind', KINDS)
def test_opting_out_keeps_them_until_the_job_ends(kind, tmp_path):
    first, second = str(tmp_path / 'first'), str(tmp_path / 'second')
    with a_master(kind, tmp_path / 'data', DISCOLITE_KILL_TASK_PROCESSES=False) as disco:
        job = Job(master=disco).run(input=['raw://a'], map=spawn_map,
                                    params=Params(path=first, check=None))
        results(job)
        pids = [int(p) for p in open(first).read().split()]
        # the next job's worker replaced the first one: its processes are gone
        out = results(Job(master=disco).run(input=['raw://b'], map=spawn_map,
                                            params=Params(path=second, check=first, alive=_alive)))
        assert out['earlier alive'] == [False, False, False]
        later = [int(p) for p in open(second).read().split()]
        # this job has ended too: its worker is replaced and what its task started goes
        wait_for(lambda: not any(alive(p) for p in pids + later), timeout=5)


def two_tasks_map(entry, params):
    import os
    import subprocess
    if entry == 'a':
        child = subprocess.Popen(['sleep', '1000'])
        with open(params.path, 'w') as f:
            f.write(str(child.pid))
        yield 'a', child.pid
    else:
        pid = int(open(params.path).read())
        try:
            with open('/proc/%d/stat' % pid) as f:
                alive = f.read().rsplit(')', 1)[1].split()[0] not in ('Z', 'X')
        except OSError:
            alive = False
        yield 'b alive', alive


@pytest.mark.parametrize('kind', KINDS)
def test_opted_out_processes_are_shared_by_the_tasks_of_one_job(kind, tmp_path):
    with a_master(kind, tmp_path / 'data', DISCOLITE_KILL_TASK_PROCESSES=False) as disco:
        out = results(Job(master=disco).run(
            input=['raw://a', 'raw://b'], map=two_tasks_map,
            params=Params(path=str(tmp_path / 'pid'))))
        assert out['b alive'] is True
    wait_for(lambda: not alive(out['a']), timeout=5)


ZOMBIE_SCRIPT = '''
import ctypes, os, sys, time
# Orphans come to us, as they would to a master running as PID 1 in a container.
assert ctypes.CDLL(None).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
from discolite import Disco, Job, result_iterator
from discolite.error import DataError
from discolite.master import Master

def ok_map(entry, params):
    yield entry, 1

def child_map(entry, params):
    import subprocess
    subprocess.Popen(['sleep', '1000'])
    yield entry, 1

def flaky_map(entry, params):
    import os
    from discolite.error import DataError
    if not os.path.exists(params):
        open(params, 'w').close()
        raise DataError('once', entry)
    yield entry, 1

def hang_map(entry, params):
    import time
    time.sleep(1000)
    yield entry, 1

def zombies():
    me, found = os.getpid(), []
    for pid in os.listdir('/proc'):
        if pid.isdigit():
            try:
                stat = open('/proc/%s/stat' % pid).read()
            except OSError:
                continue
            state, ppid = stat.rsplit(')', 1)[1].split()[:2]
            if state == 'Z' and int(ppid) == me:
                found.append(stat[:60])
    return found

with Master(DISCOLITE_WORKERS=2, DISCOLITE_START_METHOD=sys.argv[1],
            DISCOLITE_RETRY_DELAY=0.01) as m:
    disco = Disco(m.url)
    for i in range(4):
        Job(master=disco).run(input=['raw://a', 'raw://b', 'raw://c'], map=ok_map).wait()
    Job(master=disco).run(input=['raw://a'], map=child_map).wait()
    Job(master=disco).run(input=['raw://a'], map=flaky_map, params=sys.argv[2]).wait()
    job = Job(master=disco).run(input=['raw://a', 'raw://b'], map=hang_map)
    while disco.jobinfo(job.name)['pipeline'][0][3] < 2:
        time.sleep(0.02)
    job.kill()
    Job(master=disco).run(input=['raw://a'], map=ok_map).wait()
    time.sleep(0.5)
    print('ZOMBIES', zombies(), flush=True)
print('AFTER', zombies(), flush=True)
'''


def _can_be_pid_1():
    try:
        return subprocess.run(['unshare', '-fp', '--mount-proc', 'true'], timeout=10,
                              capture_output=True).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.parametrize('start_method, pid_1', [('forkserver', False), ('fork', False),
                                                 ('forkserver', True)])
def test_no_zombies_where_the_master_reaps_orphans(start_method, pid_1, tmp_path):
    """As a subreaper, and (where ``unshare`` may make a PID namespace) really as PID 1."""
    command = [sys.executable, '-c', textwrap.dedent(ZOMBIE_SCRIPT), start_method,
               str(tmp_path / 'flaky')]
    if pid_1:
        if not _can_be_pid_1():
            pytest.skip('cannot start a process as PID 1 here (unshare -fp --mount-proc)')
        command = ['unshare', '-fp', '--mount-proc'] + command
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(' ', 1) for line in proc.stdout.splitlines())
    assert lines['ZOMBIES'] == '[]'
    assert lines['AFTER'] == '[]'
