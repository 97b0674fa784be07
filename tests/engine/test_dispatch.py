"""Task dispatch (issue 13 items 2 and 3): small shuffles done by the master give what the
pool's shuffle task gives; the job data is loaded once per pool process."""
import os
import re

import pytest

from discolite import Disco, Job, result_iterator, util
from discolite.master import Master, shuffle
from discolite.worker import Params


@pytest.fixture(scope='module')
def local():
    with Master(DISCOLITE_WORKERS=2) as m:
        yield m


def word_map(line, params):
    for word in line.split():
        yield word, 1


def sum_reduce(iter, params):
    from discolite.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


INPUTS = ['raw://a b c a', 'raw://b c d', 'raw://e a', 'raw://f g h b']


def _normal(events):
    """Event messages with durations and task uids made comparable."""
    out = []
    for _offset, (_t, host, msg) in events:
        msg = re.sub(r'\d+:\d\d:\d\d\.\d\d\d', 'T', msg)
        out.append((host, msg))
    return out


def _run(master, **jobargs):
    disco = Disco(master.url)
    job = Job(master=disco).run(input=INPUTS, map=word_map, **jobargs)
    results = job.wait(timeout=60, poll_interval=0.01)
    stage = disco.stageresults(job.name, 'map_shuffle')
    index = [(label, os.path.basename(url), size) for r in stage
             for label, url, size in util.read_index(r[0])]
    return job, sorted(result_iterator(results)), index, _normal(job.events())


@pytest.mark.parametrize('partitions', [1, 3])
def test_small_shuffle_by_the_master_is_the_pool_shuffle(local, monkeypatch, partitions):
    jobargs = dict(partitions=partitions, reduce=sum_reduce)
    job, here, index_here, events_here = _run(local, **jobargs)
    monkeypatch.setattr(shuffle, 'MAX_BYTES', -1)  # forces the shuffle task into the pool
    job2, pooled, index_pooled, events_pooled = _run(local, **jobargs)
    assert here == pooled == sorted({'a': 3, 'b': 3, 'c': 2, 'd': 1, 'e': 1, 'f': 1, 'g': 1,
                                     'h': 1}.items())
    # the same files: names (but for the uid's time hash and pid), labels and sizes
    strip = lambda idx: [(l, re.sub(r'-[0-9a-f]{2}-\d+', '', n), s) for l, n, s in idx]
    assert strip(index_here) == strip(index_pooled) and len(index_here) >= 1
    assert index_here[0][1].split('-')[0] == 'map_shuffle'
    # the same events of the shuffle stage, in the same order, and as many events in all
    shuffled = lambda evs: [(h, m) for h, m in evs if 'map_shuffle' in m]
    assert shuffled(events_here) == shuffled(events_pooled)
    assert len(shuffled(events_here)) == 7
    assert len(events_here) == len(events_pooled)
    # and the master really did it: its uid carries the master's pid
    url = Disco(local.url).stageresults(job.name, 'map_shuffle')[0][0]
    data_url = next(util.read_index(url))[1]
    assert data_url.split('/')[-2].endswith('-%d' % os.getpid())
    Disco(local.url).purge(job.name)
    Disco(local.url).purge(job2.name)


def test_map_only_results_come_from_the_masters_shuffle(local):
    disco = Disco(local.url)
    job = Job(master=disco).run(input=INPUTS, map=word_map)
    results = job.wait(timeout=60, poll_interval=0.01)
    assert len(results) == 1 and results[0][0].startswith('dir://localhost/')
    assert sorted(result_iterator(results)) == sorted(
        (w, 1) for line in INPUTS for w in line[len('raw://'):].split())
    job.purge()


def profiled_map(line, params):
    yield line, 1


def test_profiled_jobs_shuffle_in_the_pool(local):
    """profile=True profiles every task, map_shuffle included (spec), so it stays a task."""
    disco = Disco(local.url)
    job = Job(master=disco).run(input=INPUTS, map=profiled_map, profile=True)
    results = job.wait(timeout=60, poll_interval=0.01)
    url = disco.stageresults(job.name, 'map_shuffle')[0][0]
    data_url = next(util.read_index(url))[1]
    assert not data_url.split('/')[-2].endswith('-%d' % os.getpid())
    assert len(list(result_iterator(results))) == 4
    job.purge()


def count_map(line, params):
    import os
    yield line, os.getpid()


@pytest.fixture
def sent_tasks(local, monkeypatch):
    """Every ``task`` message the pool of ``local`` writes to its workers' pipes, as
    ``(message, pickled size)``: each slot's connection is switched to a subclass whose
    ``send`` records, then sends as before (the jobs run for real)."""
    from multiprocessing.connection import Connection
    from multiprocessing.reduction import ForkingPickler
    from discolite.master import pool
    sent = []

    class Recording(Connection):
        def send(self, obj):
            if obj[0] == 'task':
                sent.append((obj, len(ForkingPickler.dumps(obj))))
            Connection.send(self, obj)

    run = pool.Pool.run

    def recording_run(self, slot, *args):
        if type(slot.conn) is Connection:
            slot.conn.__class__ = Recording
        return run(self, slot, *args)
    monkeypatch.setattr(pool.Pool, 'run', recording_run)
    yield sent
    monkeypatch.undo()
    with local.scheduler.lock:
        for slot in local.scheduler.pool.slots:
            if type(slot.conn) is Recording:
                slot.conn.__class__ = Connection


def test_many_inputs_one_small_payload_each(local, sent_tasks):
    """Every task gets its own input, whatever the size of the job (no input list per task):
    the message a map task's worker reads holds that one input, and is no bigger in a job
    of 300 inputs than in a job of 3."""
    disco = Disco(local.url)
    sizes = {}
    for n in (3, 300):
        del sent_tasks[:]
        job = Job(master=disco).run(input=['raw://%d' % i for i in range(n)], map=count_map,
                                    params=Params())
        out = list(result_iterator(job.wait(timeout=120, poll_interval=0.05)))
        assert sorted(int(k) for k, _pid in out) == list(range(n))
        assert len({pid for _k, pid in out}) <= 2 * 2  # a few processes served the whole job
        maps = [(msg, size) for msg, size in sent_tasks if msg[1]['stage'] == 'map']
        assert sorted(msg[1]['taskid'] for msg, _s in maps) == list(range(n))
        for (_task, fields, inputs, _setup), _size in maps:
            assert [urls for _id, _label, urls in inputs] == [['raw://%d' % fields['taskid']]]
        sizes[n] = max(size for _msg, size in maps)  # with the job's setup, when it goes
        job.purge()
    assert sizes[300] <= sizes[3] + 8, sizes  # a few more digits, nothing per input


@pytest.mark.parametrize('partitions', [None, 3])
def test_big_shuffle_reads_its_inputs_from_a_file(local, monkeypatch, partitions):
    """A task with more than INPUTS_IN_FILE inputs gets them in a file its worker reads as
    it goes (a shuffle of 50,000 map outputs held them three times over): the same results,
    outputs and events as with the inputs in the task's message."""
    from discolite.master import scheduler
    inputs = ['raw://%s' % ' '.join('w%d' % ((i * 7 + j) % 11) for j in range(i % 4 + 1))
              for i in range(40)]
    jobargs = dict(input=inputs, map=word_map, partitions=partitions)
    if partitions:
        jobargs['reduce'] = sum_reduce
    monkeypatch.setattr(shuffle, 'MAX_BYTES', -1)  # every shuffle is a pool task
    disco = Disco(local.url)

    def run():
        job = Job(master=disco).run(**jobargs)
        results = job.wait(timeout=120, poll_interval=0.01)
        stage = disco.stageresults(job.name, 'map_shuffle')
        index = sorted((label, size) for r in stage for label, _url, size in
                       util.read_index(r[0]))
        shuffled = [m for _o, (_t, _h, m) in job.events() if 'Shuffled' in m]
        jobhome = os.path.dirname(os.path.dirname(util.local_path(stage[0][0])))
        return job, sorted(result_iterator(results)), index, shuffled, jobhome

    job1, in_message, index1, msgs1, home1 = run()
    monkeypatch.setattr(scheduler, 'INPUTS_IN_FILE', 5)
    job2, in_file, index2, msgs2, home2 = run()
    expected = {}
    for line in inputs:
        for w in line[len('raw://'):].split():
            expected[w] = expected.get(w, 0) + 1
    if partitions:
        assert in_message == in_file == sorted(expected.items())
    else:
        assert in_message == in_file == sorted((w, 1) for line in inputs
                                               for w in line[len('raw://'):].split())
    assert index1 == index2 and len(index1) == (partitions or 1)
    assert msgs1 == msgs2 == ['MSG: [map_shuffle:40] Shuffled 40 inputs into %d label(s)'
                              % (partitions or 1)]
    files = lambda home: sorted(f for f in os.listdir(os.path.join(home, '.disco'))
                                if f.endswith('.inputs'))
    assert files(home1) == [] and files(home2) == ['map_shuffle-40.inputs']
    job1.purge()
    job2.purge()
