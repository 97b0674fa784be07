"""Item 5: scale -- one job of 10,000 map tasks; 1,000 small jobs in one process."""
import gc
import os
import threading
import time

import pytest

from discolite import Disco
from discolite.core import result_iterator
from discolite.job import Job
from discolite.master import Master
from tests.reliability.helpers import open_fds, read_status


def one_map(entry, params):
    yield entry, 1


@pytest.mark.heavy
def test_ten_thousand_map_tasks(disco):
    n = 10000
    # Speed is measured by benchmarks/ (tasks/s); here only that every task ran once.
    job = Job(master=disco).run(input=['raw://%d' % i for i in range(n)], map=one_map)
    results = job.wait(timeout=600, poll_interval=0.5)
    assert sorted(int(k) for k, _v in result_iterator(results)) == list(range(n))
    info = job.jobinfo()
    assert info['pipeline'][0] == ['map', 0, 0, 0, n, 0]
    job.purge()


def test_scheduler_queues_account_for_every_task(master, disco):
    """A job with many waiting tasks costs the scheduler O(1) per assignment.

    The scheduler's own bookkeeping is checked, not a timing: while the job runs,
    ready + delayed + queued (sent behind a running task) + running + done must always
    add up to the stage's tasks, and
    ``_assign`` only pops from the queues.
    """
    n = 400
    job = Job(master=disco).run(input=['raw://%d' % i for i in range(n)], map=one_map)
    record = master.scheduler.jobs[job.name]
    seen = 0
    while True:
        with master.scheduler.lock:
            if record.status != 'active' or record.stage != 'map':
                break
            done = sum(1 for t in record.tasks if t.state == 'done')
            assert len(record.ready) + len(record.delayed) + len(record.queued) + \
                len(record.running) + done == n
            assert record.remaining == n - done
            seen += 1
        time.sleep(0.005)
    job.wait(timeout=120)
    assert seen > 0
    with master.scheduler.lock:
        assert job.name not in master.scheduler.active
        assert record.tasks == [] and not record.running and not record.queued
    job.purge()


def _threads():
    return threading.active_count()


def _keepers(master):
    with master.scheduler.lock:
        return [s.keeper_pid for s in master.scheduler.pool.slots if not s.retired]


def _fd_targets(before=()):
    """What this process's descriptors point to (those not in ``before``)."""
    out = []
    for fd in os.listdir('/proc/self/fd'):
        try:
            out.append('%s -> %s' % (fd, os.readlink('/proc/self/fd/' + fd)))
        except OSError:
            pass
    return [x for x in out if x not in before]


def _rss_kb():
    return int(read_status(os.getpid())['VmRSS'].split()[0])


@pytest.mark.heavy
def test_thousand_small_jobs_leak_nothing():
    with Master(DISCOLITE_WORKERS=2, DISCOLITE_RETRY_DELAY=0.01) as master:
        disco = Disco(master.url)
        storage = master.storage

        def one(i):
            job = Job(master=disco).run(input=['raw://%d' % i], map=one_map)
            assert [int(k) for k, _v in result_iterator(job.wait(poll_interval=0.05))] == [i]
            job.purge()

        for i in range(50):  # warm up: caches, imports, the allocator
            one(i)
        gc.collect()
        fds, threads, rss = open_fds(), _threads(), _rss_kb()
        before = _fd_targets()
        keepers = _keepers(master)
        for i in range(1000):
            one(i)
        gc.collect()
        # the scheduler thread may hold a descriptor for a moment (a file being written):
        # a leak stays, that one goes
        deadline = time.time() + 5
        while open_fds() > fds and time.time() < deadline:
            time.sleep(0.05)
        assert open_fds() <= fds, _fd_targets(before)
        assert _threads() <= threads
        assert _rss_kb() - rss < 16 * 1024
        # each job got fresh workers, forked by the same keepers: nothing crashed
        assert _keepers(master) == keepers
        with master.scheduler.lock:
            assert master.scheduler.jobs == {} and master.scheduler.active == {}
        # purged jobs leave nothing behind on disk
        # (DDFS data outlives purge, as on Disco; these jobs store none)
        assert master.ddfs.list() == []
        for root in (storage.master_root,
                     os.path.join(storage.disco_data, master.scheduler.host)):
            assert not os.path.exists(root) or os.listdir(root) == [], root
