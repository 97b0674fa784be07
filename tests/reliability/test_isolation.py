"""Isolation between jobs (issue 12 item 4, and the zombie watchdogs of item 7).

A pool process never runs tasks of two jobs; what a task starts is gone when the
task ends; ``DISCOLITE_ISOLATION=task`` gives every task a fresh process; no
process of the pool is ever left as a zombie, even where the master is PID 1.
Each test uses a master with ONE worker slot, so consecutive jobs and tasks
really do go to the same slot.
"""
import os
import subprocess
import sys
import textwrap

import pytest

from discolite import Disco, Job, result_iterator
from discolite.master import Master
from discolite.worker import Params
from tests.reliability.helpers import wait_for


def alive(pid):
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] not in ('Z', 'X')
    except OSError:
        return False


@pytest.fixture(scope='module')
def one_slot():
    with Master(DISCOLITE_WORKERS=1, DISCOLITE_RETRY_DELAY=0.01) as m:
        yield Disco(m.url)


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


def test_strict_isolation_gives_every_task_a_fresh_process():
    with Master(DISCOLITE_WORKERS=1, DISCOLITE_ISOLATION='task') as m:
        out = results(Job(master=Disco(m.url)).run(input=['raw://first', 'raw://second'],
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
    if params.check:
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
    path = str(tmp_path / 'pids')
    out = results(Job(master=one_slot).run(input=['raw://a'], map=spawn_map,
                                           params=Params(path=path, check=None)))
    pids = out['a']
    assert len(pids) == 3
    # killed before the task reported DONE: nothing to wait for
    assert [alive(p) for p in pids] == [False, False, False]


def test_opting_out_keeps_them_until_the_job_ends(tmp_path):
    first, second = str(tmp_path / 'first'), str(tmp_path / 'second')
    with Master(DISCOLITE_WORKERS=1, DISCOLITE_KILL_TASK_PROCESSES=False) as m:
        disco = Disco(m.url)
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


def test_opted_out_processes_are_shared_by_the_tasks_of_one_job(tmp_path):
    with Master(DISCOLITE_WORKERS=1, DISCOLITE_KILL_TASK_PROCESSES=False) as m:
        out = results(Job(master=Disco(m.url)).run(
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
