"""Jobs and DDFS: tag:// inputs, save_results, OOB values stored as Disco stores them."""
import os
from io import BytesIO

import pytest

from discolite import Job, result_iterator
from discolite.ddfs import DDFS
from discolite.error import JobError

from tests.control.common import POLL, count_reduce, words_map

PREFIX = 'jobs%d:' % os.getpid()


@pytest.fixture
def ddfs(disco):
    client = DDFS(disco.master)
    yield client
    for tag in client.list(PREFIX):
        client.delete(tag)


def test_tag_inputs_root_blobs_first_then_links_breadth_first(disco, ddfs):
    """job_tag_input_*: [[tag://input], [tag://nosuch], [words-c]] -> c, a, b."""
    _, blobs = ddfs.push(PREFIX + 'input', [(BytesIO(b'apple pear\n'), 'words-a'),
                                            (BytesIO(b'plum apple\n'), 'words-b')])
    _, (c,) = ddfs.push(PREFIX + 'other', [(BytesIO(b'fig pear plum\n'), 'words-c')])
    ddfs.put(PREFIX + 'deep', [['tag://' + PREFIX + 'input']])
    ddfs.put(PREFIX + 'all', [['tag://' + PREFIX + 'input'], ['tag://' + PREFIX + 'nosuch'],
                              c, ['tag://' + PREFIX + 'deep']])
    job = Job(master=disco).run(input=['tag://' + PREFIX + 'all'], map=words_map,
                                reduce=count_reduce)
    assert disco.jobpack(job.name).jobdict['input'] == [c, blobs[0], blobs[1]]
    assert sorted(result_iterator(job.wait(poll_interval=POLL), ddfs=disco.master)) == \
        [(b'apple', 2), (b'fig', 1), (b'pear', 2), (b'plum', 2)]


def test_tag_input_with_a_token_in_the_url(disco, ddfs):
    """test_authjob: tag://user:r@/<tag> reads a tag whose read token is r."""
    tag = PREFIX + 'auth'
    ddfs.push(tag, [(BytesIO(b'blobdata'), 'blob')])
    ddfs.setattr(tag, 'ddfs:read-token', 'r')
    with pytest.raises(Exception):
        Job(master=disco).run(input=['tag://' + tag], map=words_map)  # 401 while expanding
    job = Job(master=disco).run(input=['tag://user:r@/' + tag], map=words_map)
    assert list(result_iterator(job.wait(poll_interval=POLL), ddfs=disco.master)) == \
        [(b'blobdata', 1)]


def _saved(disco, ddfs, job):
    results = job.wait(poll_interval=POLL)
    tag = 'disco:results:' + job.name
    assert results == ['tag://' + tag] and disco.results(job.name) == ('ready', results)
    doc = ddfs.get(tag)
    assert ddfs.getattr(tag, 'ddfs:read-token') is None  # the master's tag: no tokens
    records = sorted(result_iterator(results, ddfs=disco.master))
    ddfs.delete(tag)
    return doc, records


def test_save_results_map_reduce(disco, ddfs):
    job = Job(name='CaptSave', master=disco).run(
        input=['raw://apple', 'raw://pear', 'raw://apple'], map=words_map, reduce=count_reduce,
        save_results=True)
    doc, records = _saved(disco, ddfs, job)
    assert records == [('apple', 2), ('pear', 1)]
    (entry,) = doc['urls']
    assert DDFS.blob_name(entry[0]).startswith(job.name + ':')
    assert disco.jobpack(job.name).jobdict['save_results'] is True


def test_save_results_two_reduces_in_task_order(disco, ddfs):
    job = Job(master=disco).run(input=['raw://%s' % w for w in 'a b c d e f g'.split()],
                                map=words_map, reduce=count_reduce, partitions=3,
                                save_results=True)
    doc, records = _saved(disco, ddfs, job)
    assert records == [(w, 1) for w in 'abcdefg']
    taskids = [int(DDFS.blob_name(e[0])[len(job.name) + 1:].split(':')[0]) for e in doc['urls']]
    assert len(taskids) >= 2 and taskids == sorted(taskids)


def test_save_results_map_only(disco, ddfs):
    job = Job(master=disco).run(input=['raw://kiwi lime'], map=words_map, partitions=None,
                                save_results=True)
    _doc, records = _saved(disco, ddfs, job)
    assert records == [('kiwi', 1), ('lime', 1)]
    failing = Job(master=disco).run(input=['raw://kiwi'], map=words_map, save_results=True)
    with pytest.raises(JobError) as e:
        failing.wait(poll_interval=POLL)
    assert 'Storing partitioned outputs in DDFS is not yet supported' in str(e.value)


def test_saved_results_outlive_purge(disco, ddfs):
    job = Job(master=disco).run(input=['raw://x'], map=words_map, reduce=count_reduce,
                                save_results=True)
    results = job.wait(poll_interval=POLL)
    disco.purge(job.name)
    assert disco.results(job.name) == ('unknown job', [])
    assert sorted(result_iterator(results, ddfs=disco.master)) == [('x', 1)]
    ddfs.delete(results[0])


def oob_map(e, params):
    put('fruit:' + e.decode() if isinstance(e, bytes) else 'fruit:' + e, b'oob:' + e.encode()
        if isinstance(e, str) else b'oob:' + e)
    put('dup', b'first')
    put('dup', b'second')
    yield e, 1


def test_oob_values_are_a_ddfs_tag_with_token_job(disco, ddfs):
    job = Job(master=disco).run(input=['raw://apple', 'raw://pear'], map=oob_map)
    job.wait(poll_interval=POLL)
    tag = DDFS.job_oob(job.name)
    assert tag in ddfs.list('disco:job:oob:')
    assert ddfs.getattr(tag, 'ddfs:read-token') == 'job'  # derived from the '@' in the name
    assert ddfs.getattr(tag, 'ddfs:write-token') == 'job'
    doc = ddfs.get(tag)
    names = [DDFS.blob_name(e[0]) for e in doc['urls']]
    assert sorted(set(names)) == ['dup', 'fruit:apple', 'fruit:pear'] and len(names) == 6
    assert all('$' in e[0] for e in doc['urls'])  # versioned blob names
    assert sorted(job.oob_list()) == ['dup', 'fruit:apple', 'fruit:pear']
    assert job.oob_get('dup') == b'second' and job.oob_get('fruit:pear') == b'oob:pear'
    assert job.oob_get('nosuch') is None
    from discolite.util import load_oob
    assert load_oob(disco.master, job.name, 'fruit:apple') == b'oob:apple'
    ddfs.delete(tag)


def ddfs_in_task_map(e, params):
    """Tasks use DDFS too (Disco's tasks can): push from a task, read a tag there."""
    from io import BytesIO
    from discolite.ddfs import DDFS
    from discolite.schemes import scheme_tag
    ddfs = DDFS()  # the task's master, as DISCO_MASTER on a Disco node
    assert ddfs.master == Task.master
    ddfs.push(params + 'from-task', [(BytesIO(e.encode() + b'!'), 'line')])
    assert [fd.read() for fd in ddfs.pull(params + 'from-task')] == [e.encode() + b'!']
    yield b''.join(scheme_tag.open('tag://' + params + 'from-task', task=Task)), 1


def test_tasks_use_the_masters_ddfs(disco, ddfs):
    job = Job(master=disco).run(input=['raw://x'], map=ddfs_in_task_map, params=PREFIX)
    assert list(result_iterator(job.wait(poll_interval=POLL), ddfs=disco.master)) == \
        [(b'x!', 1)]
    assert [fd.read() for fd in ddfs.pull(PREFIX + 'from-task')] == [b'x!']
