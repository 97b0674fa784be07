"""A fresh pool worker runs the keeper's tiny warm-up job before its first task.

The warm-up must really run a task (else it warms nothing), leave no files but its
job pack, be heard of by nobody, and go away with the master.
"""
import os
import time

from discolite import Disco, Job, result_iterator
from discolite.master import Master, pool


def ident_map(entry, params):
    yield entry, 1


def test_the_warm_up_runs_a_whole_map_task(tmp_path, monkeypatch):
    sent = []

    class Recorder(object):
        def send(self, msg):
            sent.append(msg)

    monkeypatch.setattr(pool, '_Discard', Recorder)
    data = tmp_path / 'data'
    data.mkdir()
    warm = pool._warm_setup([('localhost', str(data))])
    assert warm is not None
    cwd = os.getcwd()
    pool._warm_up(warm)
    assert os.getcwd() == cwd
    batch = [m for m in sent if m[0] == 'batch']
    assert batch and batch[-1][1][-1] == ('DONE', '')
    assert ('MSG', 'Done: 1 entries mapped') in batch[-1][1]
    assert sorted(os.listdir(warm[0])) == ['jobfile']  # its outputs are gone
    pool._warm_cleanup(warm)
    assert not os.path.exists(warm[0])


def test_nobody_hears_of_it_and_it_goes_with_the_master(tmp_path):
    root = tmp_path / 'root'
    with Master(DISCOLITE_WORKERS=1, DISCOLITE_DATA=str(root)) as master:
        disco = Disco(master.url)
        job = Job(master=disco).run(input=['raw://a', 'raw://b'], map=ident_map)
        assert sorted(k for k, _ in result_iterator(job.wait(timeout=60))) == ['a', 'b']
        assert [j[2] for j in disco.joblist()] == [job.name]
        assert not any('warm' in str(e) for e in disco.events(job.name))
        keepers = os.listdir(root / 'warmup')
        assert len(keepers) == 1
        # the worker that replaced the job's own may be warming up in the scratch right
        # now: what it writes there is gone once it has
        scratch = root / 'warmup' / keepers[0]
        deadline = time.time() + 10
        while os.listdir(scratch) != ['jobfile'] and time.time() < deadline:
            time.sleep(0.01)
        assert os.listdir(scratch) == ['jobfile']
    assert os.listdir(root / 'warmup') == []


def pid_map(entry, params):
    import os
    yield entry, os.getpid()


def test_a_new_job_does_not_wait_for_a_process_to_start():
    """After a job, its worker is replaced by a spare forked (and warmed) at once: the next
    job's first task runs in a process that was already there when it was submitted."""
    import time
    with Master(DISCOLITE_WORKERS=1) as master:
        disco = Disco(master.url)
        slot = master.scheduler.pool.slots[0]
        first = Job(master=disco).run(input=['raw://a'], map=pid_map)
        old = {pid for _k, pid in result_iterator(first.wait(timeout=60))}
        deadline = time.time() + 30
        while (slot.worker_pid is None or slot.worker_pid in old) and time.time() < deadline:
            time.sleep(0.01)
        spare = slot.worker_pid
        assert spare is not None and spare not in old, (spare, old)
        second = Job(master=disco).run(input=['raw://b'], map=pid_map)
        assert [pid for _k, pid in result_iterator(second.wait(timeout=60))] == [spare]
