"""A pool slot gets the next task of its job while it runs one (short stages only).

The queued task must behave exactly like one sent after the first had finished:
same results and events, no failure counted when the task before it fails or its
process dies, nothing of a killed job run afterwards.
"""
import os

import pytest

from discolite import Disco
from discolite.core import result_iterator
from discolite.error import JobError
from discolite.job import Job
from discolite.master import scheduler as scheduler_module
from tests.reliability.helpers import messages


def ident_map(entry, params):
    yield entry, 1


def sleepy_map(entry, params):
    import time
    time.sleep(0.15)
    yield entry, 1


def crash_once_map(entry, params):
    """The task of input ``crash`` kills its process the first time it runs."""
    import os
    if entry == 'crash':
        marker = os.path.join(params['dir'], 'crashed')
        if not os.path.exists(marker):
            open(marker, 'w').close()
            os._exit(3)
    yield entry, 1


def error_once_map(entry, params):
    """The task of input ``fail`` raises a recoverable error the first time it runs."""
    import os
    from discolite.error import DataError
    if entry == 'fail':
        marker = os.path.join(params['dir'], 'failed')
        if not os.path.exists(marker):
            open(marker, 'w').close()
            raise DataError('not yet', 'raw://fail')
    yield entry, 1


def marker_map(entry, params):
    import os
    import time
    open(os.path.join(params['dir'], entry), 'w').close()
    time.sleep(30 if entry == 'a' else 0)
    yield entry, 1


@pytest.fixture(scope='module')
def master(module_master):
    return module_master


def test_short_tasks_are_queued_behind_running_ones(master):
    disco = Disco(master.url)
    before = master.scheduler.queued_sent
    inputs = ['raw://%d' % i for i in range(20)]
    job = Job(master=disco).run(input=inputs, map=ident_map)
    results = sorted(k for k, _v in result_iterator(job.wait(timeout=60)))
    assert results == sorted(str(i) for i in range(20)) or \
        results == sorted(str(i).encode() for i in range(20))
    assert master.scheduler.queued_sent - before >= 2
    events = messages(job)
    assert sum(1 for e in events if e.startswith('DONE: [map:')) == 20
    assert sum(1 for e in events if e.startswith('map:') and ' assigned to ' in e) == 20
    assert not any('failed' in e or 'WARNING' in e for e in events)
    # a queued task is assigned (and counted running) only once the one before it ended:
    # never more than two map tasks running on two slots
    running = 0
    for e in events:
        if e.startswith('map:') and ' assigned to ' in e:
            running += 1
        elif e.startswith('DONE: [map:'):
            running -= 1
        assert running <= 2


def test_long_tasks_are_not_queued_once_the_stage_is_known_to_be_slow(master):
    disco = Disco(master.url)
    before = master.scheduler.queued_sent
    job = Job(master=disco).run(input=['raw://%d' % i for i in range(8)], map=sleepy_map)
    job.wait(timeout=60)
    # at most one task behind each slot's first (the stage was young), none after
    assert master.scheduler.queued_sent - before <= 2
    assert scheduler_module.QUEUE_BELOW < 0.15


def test_jobinfo_counts_a_queued_task_as_waiting(master, tmp_path):
    disco = Disco(master.url)
    job = Job(master=disco).run(input=['raw://a', 'raw://b', 'raw://c', 'raw://d'],
                                map=marker_map, params={'dir': str(tmp_path)})
    import time
    deadline = time.time() + 30
    while not (tmp_path / 'a').exists() and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # b, c, d have run; 'a' sleeps, maybe with one queued behind it
    info = disco.jobinfo(job.name)
    stage, _pending, waiting, running, done, failed = info['pipeline'][0]
    assert stage == 'map' and running == 1 and waiting + done == 3 and failed == 0
    job.kill()


def test_a_crash_before_a_queued_task_fails_only_the_crashed_one(master, tmp_path):
    disco = Disco(master.url)
    inputs = ['raw://crash'] + ['raw://%d' % i for i in range(7)]
    job = Job(master=disco).run(input=inputs, map=crash_once_map, params={'dir': str(tmp_path)})
    results = list(result_iterator(job.wait(timeout=60)))
    assert len(results) == 8
    events = messages(job)
    crashed = [e for e in events if 'Worker crashed' in e]
    assert len(crashed) == 1 and '[map:0]' in crashed[0]
    retries = [e for e in events if 'failures so far' in e]
    assert len(retries) == 1 and 'map:0' in retries[0]
    assert sum(1 for e in events if e.startswith('DONE: [map:')) == 8


def test_an_error_before_a_queued_task_leaves_it_to_a_fresh_worker(master, tmp_path):
    disco = Disco(master.url)
    inputs = ['raw://fail'] + ['raw://%d' % i for i in range(7)]
    job = Job(master=disco).run(input=inputs, map=error_once_map, params={'dir': str(tmp_path)})
    results = list(result_iterator(job.wait(timeout=60)))
    assert len(results) == 8
    events = messages(job)
    assert sum(1 for e in events if 'failures so far' in e) == 1
    assert sum(1 for e in events if e.startswith('DONE: [map:')) == 8


def test_a_killed_job_runs_none_of_its_queued_tasks(master, tmp_path):
    disco = Disco(master.url)
    job = Job(master=disco).run(input=['raw://a', 'raw://b', 'raw://c', 'raw://d'],
                                map=marker_map, params={'dir': str(tmp_path)})
    import time
    deadline = time.time() + 30
    while not (tmp_path / 'a').exists() and time.time() < deadline:
        time.sleep(0.01)
    # 'a' sleeps; on its slot, one of the others may be queued behind it
    time.sleep(0.3)
    before = set(os.listdir(tmp_path))
    job.kill()
    with pytest.raises(JobError):
        job.wait(timeout=30)
    time.sleep(0.5)
    assert set(os.listdir(tmp_path)) == before
    # the master is fine afterwards
    ok = Job(master=disco).run(input=['raw://x'], map=ident_map)
    assert len(list(result_iterator(ok.wait(timeout=60)))) == 1


def pid_map(entry, params):
    import os
    yield os.getpid(), 1


def sleepy_pid_map(entry, params):
    import os
    import time
    time.sleep(0.3)
    yield os.getpid(), 1


def test_a_short_stage_runs_on_the_jobs_own_worker(master, monkeypatch):
    """No fresh worker (a fork, and a first task that pays for it) while the job's own
    worker gets through its short tasks sooner.  The thresholds are set out of reach,
    so the outcome does not depend on how busy the machine is."""
    monkeypatch.setattr(scheduler_module, 'FRESH_WAIT', 60.0)
    monkeypatch.setattr(scheduler_module, 'FRESH_WORTH', 60.0)
    disco = Disco(master.url)
    job = Job(master=disco).run(input=['raw://%d' % i for i in range(6)], map=pid_map)
    pids = {int(k) for k, _v in result_iterator(job.wait(timeout=60))}
    assert len(pids) == 1
    assert sum(1 for e in messages(job) if e.startswith('DONE: [map:')) == 6


def test_a_stage_of_long_tasks_takes_every_worker(master, monkeypatch):
    """Tasks of unknown length do not wait for the job's own worker beyond FRESH_WAIT,
    and none is queued behind a running one while a worker is idle."""
    monkeypatch.setattr(scheduler_module, 'FRESH_WAIT', 0.02)
    disco = Disco(master.url)
    job = Job(master=disco).run(input=['raw://a', 'raw://b'], map=sleepy_pid_map)
    pids = {int(k) for k, _v in result_iterator(job.wait(timeout=60))}
    assert len(pids) == 2
    running = 0
    for e in messages(job):
        if e.startswith('map:') and ' assigned to ' in e:
            running += 1
        elif e.startswith('DONE: [map:'):
            running -= 1
        if running == 2:
            break
    assert running == 2  # both ran at once
