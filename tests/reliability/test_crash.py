"""Item 2: a pool process dying in the middle of a task (SIGKILL, os._exit, out of memory)."""
import os
import signal
import time

import pytest

from discolite.core import result_iterator
from discolite.error import JobError
from discolite.job import Job
from discolite.worker import Params
from tests.reliability.helpers import messages, pool_pids, wait_for


def hang_once_map(entry, params):
    """First attempt: publish the pid and hang until killed; later attempts: work."""
    import os
    import time
    path = params.pidfile
    if not os.path.exists(path):
        with open(path + '.tmp', 'w') as f:
            f.write(str(os.getpid()))
        os.rename(path + '.tmp', path)
        while True:
            time.sleep(0.05)
    yield entry, 'survived'


def exit_once_map(entry, params):
    import os
    marker = params.marker + str(entry)
    if not os.path.exists(marker):
        open(marker, 'w').close()
        os._exit(3)
    yield entry, 'survived'


def exit_always_map(entry, params):
    import os
    os._exit(3)


def oom_once_map(entry, params):
    """First attempt: the process runs out of memory (a MemoryError under a small RLIMIT_AS)."""
    import os
    import resource
    if not os.path.exists(params.marker):
        open(params.marker, 'w').close()
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        hog = bytearray(2 << 30)  # 2 GB > the 1 GB limit
        yield b'never', len(hog)
    yield entry, 'survived'


def oom_killed_once_map(entry, params):
    """First attempt: grow, then get SIGKILLed the way the kernel's OOM killer does it."""
    import os
    import signal
    if not os.path.exists(params.marker):
        open(params.marker, 'w').close()
        hog = bytearray(64 << 20)
        hog[::4096] = b'x' * len(hog[::4096])
        os.kill(os.getpid(), signal.SIGKILL)
    yield entry, 'survived'


def values(results):
    return sorted(v for _k, v in result_iterator(results))


def crash_events(job, code):
    return [m for m in messages(job) if m.startswith('WARNING: [map:')
            and m.endswith('Worker crashed! (exit code: %s)' % code)]


def test_sigkill_mid_task_is_noticed_replaced_and_retried(disco, master, tmp_path):
    pidfile = str(tmp_path / 'pid')
    job = Job(master=disco).run(input=['raw://x'], map=hang_once_map,
                                params=Params(pidfile=pidfile))
    wait_for(lambda: os.path.exists(pidfile), timeout=30)
    pid = int(open(pidfile).read())
    assert pid in pool_pids(master)
    os.kill(pid, signal.SIGKILL)
    start = time.time()
    wait_for(lambda: pid not in pool_pids(master) and len(pool_pids(master)) == 2, timeout=10)
    assert time.time() - start < 3  # "noticed and replaced within a second", generously
    assert values(job.wait(timeout=60)) == ['survived']
    events = messages(job)
    assert 'WARNING: [map:0] Worker crashed! (exit code: -9)' in events
    assert any(m.startswith('Task map:0 failed on "localhost", 1th failures so far.')
               for m in events)
    assert events.count('map:0 assigned to localhost') == 2


def test_os_exit_in_user_code_is_retried(disco, tmp_path):
    job = Job(master=disco).run(input=['raw://a'], map=exit_once_map,
                                params=Params(marker=str(tmp_path / 'm-')))
    assert values(job.wait(timeout=60)) == ['survived']
    assert crash_events(job, 3) == ['WARNING: [map:0] Worker crashed! (exit code: 3)']


def test_os_exit_always_kills_the_job_after_max_failures(disco, master):
    before = disco.nodeinfo()['localhost']
    job = Job(master=disco).run(input=['raw://a'], map=exit_always_map)
    with pytest.raises(JobError):
        job.wait(timeout=60)
    after = disco.nodeinfo()['localhost']
    assert after['error'] - before['error'] == master.scheduler.max_failures + 1  # crashes
    assert after['data_error'] == before['data_error']
    events = messages(job)
    assert len(crash_events(job, 3)) == master.scheduler.max_failures + 1
    assert events[-2].startswith('ERROR: [map:0] Task map:0 failed %d times.'
                                 % (master.scheduler.max_failures + 1))
    assert events[-1] == 'WARN: Job killed'


def test_memory_error_is_retried_in_a_fresh_process(disco, master, tmp_path):
    job = Job(master=disco).run(input=['raw://x'], map=oom_once_map,
                                params=Params(marker=str(tmp_path / 'oom')))
    assert values(job.wait(timeout=60)) == ['survived']
    events = messages(job)
    assert any(m.startswith('WARNING: [map:0] ') and 'MemoryError' in m for m in events)
    # the process that hit its memory limit is not reused: every slot can allocate again
    for pid in pool_pids(master):
        with open('/proc/%d/limits' % pid) as f:
            line = [l for l in f if l.startswith('Max address space')][0]
        assert 'unlimited' in line


def test_oom_kill_is_retried(disco, tmp_path):
    job = Job(master=disco).run(input=['raw://x'], map=oom_killed_once_map,
                                params=Params(marker=str(tmp_path / 'oomkill')))
    assert values(job.wait(timeout=60)) == ['survived']
    assert crash_events(job, -9) == ['WARNING: [map:0] Worker crashed! (exit code: -9)']


def test_many_crashes_at_once_never_deadlock(disco, master, tmp_path):
    inputs = ['raw://%d' % i for i in range(12)]
    job = Job(master=disco).run(input=inputs, map=exit_once_map,
                                params=Params(marker=str(tmp_path / 'm-')))
    assert values(job.wait(timeout=120)) == ['survived'] * 12
    assert len(crash_events(job, 3)) == 12
    assert len(pool_pids(master)) == 2


def test_killing_every_slot_while_idle_or_busy(disco, master, tmp_path):
    for pid in pool_pids(master):
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: len(pool_pids(master)) == 2 and
             all(os.path.exists('/proc/%d' % p) for p in pool_pids(master)), timeout=10)
    pidfile = str(tmp_path / 'pid')
    job = Job(master=disco).run(input=['raw://x'], map=hang_once_map,
                                params=Params(pidfile=pidfile))
    wait_for(lambda: os.path.exists(pidfile), timeout=30)
    for pid in pool_pids(master):
        os.kill(pid, signal.SIGKILL)
    assert values(job.wait(timeout=60)) == ['survived']
