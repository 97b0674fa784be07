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


@pytest.fixture
def master():
    from discolite.master import Master
    m = Master(DISCOLITE_WORKERS=2, DISCOLITE_RETRY_DELAY=0.01)
    try:
        yield m
    finally:
        m.close()


def assigned_before_first_done(events):
    n = 0
    for line in events:
        if line.startswith('DONE:'):
            return n
        if ' assigned to ' in line:
            n += 1
    return n


def test_short_tasks_are_queued_behind_running_ones(master):
    disco = Disco(master.url)
    inputs = ['raw://%d' % i for i in range(20)]
    job = Job(master=disco).run(input=inputs, map=ident_map)
    results = sorted(k for k, _v in result_iterator(job.wait(timeout=60)))
    assert results == sorted(str(i) for i in range(20)) or \
        results == sorted(str(i).encode() for i in range(20))
    events = messages(job)
    # two slots: two tasks running and one queued behind each before any ends
    assert assigned_before_first_done(events) == 4
    assert sum(1 for e in events if e.startswith('DONE: [map:')) == 20
    assert not any('failed' in e or 'WARNING' in e for e in events)


def test_long_tasks_are_not_queued_once_the_stage_is_known_to_be_slow(master):
    disco = Disco(master.url)
    job = Job(master=disco).run(input=['raw://%d' % i for i in range(8)], map=sleepy_map)
    job.wait(timeout=60)
    events = [e for e in messages(job) if e.startswith(('DONE: [map', 'map:'))]
    # after the stage's first task ends (0.15 s > QUEUE_BELOW), a task is only sent
    # to a slot that has none: never more than two map tasks outstanding
    first_done = next(i for i, e in enumerate(events) if e.startswith('DONE'))
    outstanding = assigned_before_first_done(events)
    for e in events[first_done:]:
        outstanding += 1 if ' assigned to ' in e else -1
        assert outstanding <= 3  # the one queued at the start may still be waiting
    assert scheduler_module.QUEUE_BELOW < 0.15


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
