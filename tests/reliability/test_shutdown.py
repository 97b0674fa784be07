"""Item 3: clean shutdown -- interpreter exit, Ctrl-C during wait(), kill of a stuck task."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from discolite.job import Job
from discolite.worker import Params
from tests.reliability.helpers import descendants, messages, pool_pids, wait_for

SCRIPT_HEAD = '''
import os, signal, sys, time
from discolite import Disco
from discolite.job import Job
from discolite.master import Master

def spin_map(entry, params):
    import signal
    signal.signal(signal.SIGTERM, signal.SIG_IGN)   # a stubborn task: only SIGKILL stops it
    while True:
        pass

def sleep_map(entry, params):
    import time
    time.sleep(1000)
    yield entry, 1

def child_map(entry, params):
    import os, subprocess, time
    child = subprocess.Popen(['sleep', '1000'])   # a process the task itself starts
    with open(os.path.join(os.environ['CHILD_PIDS'], str(child.pid)), 'w'):
        pass
    time.sleep(1000)
    yield entry, 1

def start(map, default=False):
    if default:
        disco = Disco()
        from discolite.master import default_master
        master = default_master()
    else:
        master = Master(DISCOLITE_WORKERS=2)
        disco = Disco(master.url)
    job = Job(master=disco).run(input=['raw://a', 'raw://b'], map=map)
    deadline = time.time() + 30
    while disco.jobinfo(job.name)['pipeline'][0][3] < 2 and time.time() < deadline:
        time.sleep(0.02)
    pids = [s.pid for s in master.scheduler.pool.slots]
    print('PIDS', ' '.join(map_str(pids)), flush=True)
    print('ROOT', master.storage.root, flush=True)
    return master, job

def map_str(xs):
    return [str(x) for x in xs]
'''


def spawn(body):
    script = SCRIPT_HEAD + textwrap.dedent(body)
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    return subprocess.Popen([sys.executable, '-c', script], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def read_header(proc):
    pids, root = None, None
    deadline = time.time() + 60
    while (pids is None or root is None) and time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith('PIDS '):
            pids = [int(p) for p in line.split()[1:]]
        elif line.startswith('ROOT '):
            root = line.split(' ', 1)[1].strip()
    assert pids, 'the script did not start its job: %s' % proc.stderr.read()
    return pids, root


def alive(pid):
    try:
        with open('/proc/%d/status' % pid) as f:
            return not any(l.startswith('State:') and 'Z' in l.split()[1] for l in f)
    except OSError:
        return False


def finish(proc, timeout):
    start = time.time()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kids = descendants(proc.pid)
        proc.kill()
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        proc.communicate()
        raise AssertionError('the script hung at exit')
    return time.time() - start, out, err


@pytest.mark.parametrize('map_name, default', [('spin_map', False), ('sleep_map', False),
                                               ('spin_map', True)])
def test_interpreter_exit_with_running_jobs_does_not_hang(map_name, default):
    proc = spawn('''
        master, job = start(%s, default=%r)
        sys.stdin.readline()   # the test looks at our children, then lets us exit
    ''' % (map_name, default))
    pids, root = read_header(proc)
    assert len(pids) == 2 and all(alive(p) for p in pids)
    assert set(pids) <= set(descendants(proc.pid))
    proc.stdin.write('\n')
    proc.stdin.flush()
    elapsed, _out, err = finish(proc, timeout=20)
    assert elapsed < 5, err
    assert proc.returncode == 0, err
    wait_for(lambda: not any(alive(p) for p in pids), timeout=5)
    assert not os.path.exists(root)  # the temporary data dir is removed too


def test_ctrl_c_during_wait_stops_promptly_without_orphans():
    proc = spawn('''
        master, job = start(spin_map)
        print('WAITING', flush=True)
        job.wait()
    ''')
    pids, _root = read_header(proc)
    assert proc.stdout.readline().strip() == 'WAITING'
    time.sleep(0.3)  # inside wait() by now
    kids = descendants(proc.pid)
    assert set(pids) <= set(kids)
    os.kill(proc.pid, signal.SIGINT)
    elapsed, _out, err = finish(proc, timeout=20)
    assert elapsed < 5, err
    assert 'KeyboardInterrupt' in err
    assert proc.returncode != 0
    wait_for(lambda: not any(alive(p) for p in kids), timeout=5)


@pytest.mark.parametrize('start_method', ['forkserver', 'fork'])
@pytest.mark.parametrize('sig', [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_interpreter_leaves_no_pool_processes(sig, start_method):
    """No atexit runs when the script is SIGKILLed (or SIGTERMed): the pool must still go.

    Under forkserver the pool processes are the fork server's children, and they must
    not keep it alive (it inherits their death signal's trigger: its own exit)."""
    script = SCRIPT_HEAD + textwrap.dedent('''
        master, job = start(spin_map)
        print('WAITING', flush=True)
        job.wait()
    ''')
    env = dict(os.environ, PYTHONUNBUFFERED='1', DISCOLITE_START_METHOD=start_method)
    proc = subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    pids, _root = read_header(proc)
    assert proc.stdout.readline().strip() == 'WAITING'
    kids = descendants(proc.pid)
    assert set(pids) <= set(kids)
    os.kill(proc.pid, sig)
    proc.wait(timeout=20)  # (not communicate(): survivors would hold its pipes open)
    try:
        wait_for(lambda: not any(alive(p) for p in kids), timeout=10)
    finally:
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


@pytest.mark.parametrize('start_method', ['forkserver', 'fork'])
def test_a_killed_interpreter_leaves_no_process_the_tasks_started(start_method, tmp_path):
    """Processes started by task code die with the master too, even under SIGKILL."""
    script = SCRIPT_HEAD + textwrap.dedent('''
        master, job = start(child_map)
        print('WAITING', flush=True)
        job.wait()
    ''')
    env = dict(os.environ, PYTHONUNBUFFERED='1', DISCOLITE_START_METHOD=start_method,
               CHILD_PIDS=str(tmp_path))
    proc = subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    read_header(proc)
    assert proc.stdout.readline().strip() == 'WAITING'
    wait_for(lambda: len(os.listdir(tmp_path)) == 2, timeout=10)
    children = [int(name) for name in os.listdir(tmp_path)]
    assert all(alive(pid) for pid in children)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=20)
    try:
        wait_for(lambda: not any(alive(pid) for pid in children), timeout=10)
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def test_ctrl_c_to_the_process_group_leaves_no_orphans():
    """A terminal's Ctrl-C reaches the pool processes too: they must leave it to the master."""
    script = SCRIPT_HEAD + textwrap.dedent('''
        master, job = start(sleep_map)
        print('WAITING', flush=True)
        job.wait()
    ''')
    proc = subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    pids, _root = read_header(proc)
    assert proc.stdout.readline().strip() == 'WAITING'
    time.sleep(0.3)
    kids = descendants(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)
    elapsed, _out, err = finish(proc, timeout=20)
    assert elapsed < 5, err
    assert 'KeyboardInterrupt' in err
    assert err.count('KeyboardInterrupt') == 1  # no tracebacks from pool processes
    wait_for(lambda: not any(alive(p) for p in kids), timeout=5)


def spin_forever_map(entry, params):
    import os
    with open(params.pidfile + '.tmp', 'w') as f:
        f.write(str(os.getpid()))
    os.rename(params.pidfile + '.tmp', params.pidfile)
    while True:
        pass


def sleep_forever_map(entry, params):
    import os
    import time
    with open(params.pidfile + '.tmp', 'w') as f:
        f.write(str(os.getpid()))
    os.rename(params.pidfile + '.tmp', params.pidfile)
    time.sleep(1000)
    yield entry, 1


@pytest.mark.parametrize('fmap', [spin_forever_map, sleep_forever_map])
def test_kill_stops_a_stuck_task(disco, master, tmp_path, fmap):
    pidfile = str(tmp_path / 'pid')
    job = Job(master=disco).run(input=['raw://x'], map=fmap, params=Params(pidfile=pidfile))
    wait_for(lambda: os.path.exists(pidfile), timeout=30)
    pid = int(open(pidfile).read())
    job.kill()
    assert job.jobinfo()['active'] == 'dead'
    wait_for(lambda: not alive(pid), timeout=3)
    wait_for(lambda: len(pool_pids(master)) == 2 and pid not in pool_pids(master), timeout=3)
    assert messages(job)[-1] == 'WARN: Job killed'


def test_wait_timeout_on_a_task_that_never_returns(disco, tmp_path):
    from discolite.error import JobError
    pidfile = str(tmp_path / 'pid')
    job = Job(master=disco).run(input=['raw://x'], map=sleep_forever_map,
                                params=Params(pidfile=pidfile))
    start = time.time()
    with pytest.raises(JobError) as exc:
        job.wait(timeout=1, poll_interval=0.1)
    assert 'Timeout' in str(exc.value)
    assert time.time() - start < 10
    job.kill()
    assert job.jobinfo()['active'] == 'dead'


def test_close_with_running_jobs_kills_everything(tmp_path):
    from discolite import Disco
    from discolite.master import Master
    master = Master(DISCOLITE_WORKERS=2)
    pidfile = str(tmp_path / 'pid')
    Job(master=Disco(master.url)).run(input=['raw://x'], map=spin_forever_map,
                                      params=Params(pidfile=pidfile))
    wait_for(lambda: os.path.exists(pidfile), timeout=30)
    pids = pool_pids(master)
    start = time.time()
    master.close()
    assert time.time() - start < 3
    assert not any(alive(p) for p in pids)
    assert master.scheduler.pool.slots == []


def spawn_child_map(entry, params):
    """Start a long-running child process (as a task might), publish its pid, then hang."""
    import os
    import subprocess
    import time
    child = subprocess.Popen(['sleep', '1000'])
    with open(params.pidfile + '.tmp', 'w') as f:
        f.write(str(child.pid))
    os.rename(params.pidfile + '.tmp', params.pidfile)
    time.sleep(1000)
    yield entry, 1


def test_kill_also_stops_processes_the_task_started(disco, tmp_path):
    pidfile = str(tmp_path / 'pid')
    job = Job(master=disco).run(input=['raw://x'], map=spawn_child_map,
                                params=Params(pidfile=pidfile))
    wait_for(lambda: os.path.exists(pidfile), timeout=30)
    child = int(open(pidfile).read())
    assert alive(child)
    job.kill()
    wait_for(lambda: not alive(child), timeout=3)


def test_master_close_stops_processes_the_task_started(tmp_path):
    from discolite import Disco
    from discolite.master import Master
    master = Master(DISCOLITE_WORKERS=1)
    pidfile = str(tmp_path / 'pid')
    Job(master=Disco(master.url)).run(input=['raw://x'], map=spawn_child_map,
                                      params=Params(pidfile=pidfile))
    wait_for(lambda: os.path.exists(pidfile), timeout=30)
    child = int(open(pidfile).read())
    master.close()
    wait_for(lambda: not alive(child), timeout=3)
