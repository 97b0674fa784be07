"""Out-of-band storage (§5) and profiling (§6)."""
import io
import os
import re
import string

import pytest

from discolite import Job, result_iterator
from discolite.error import CommError, DiscoError, JobError
from discolite.task import Task
from discolite.worker.classic.func import default_partition

from tests.control.common import POLL, records, run_words

LETTERS = ['raw://%s' % c for c in 'abcdefghij']


def letter_map(e, params):
    put(e, ('value:%s' % e).encode())
    Task.put('task-' + e, e.upper().encode())  # Task.put is the same storage
    yield e, 1


def letter_reduce(iter, params):
    put('reduce:%d' % this_partition(), b'seen')
    for k, v in iter:
        yield k, (get(k), Task.get('task-' + k), get('missing-key'))


def test_map_values_visible_to_reduce_and_client(disco):
    job = Job(master=disco).run(input=LETTERS, map=letter_map, reduce=letter_reduce,
                                partitions=4)
    got = records(disco, job)
    assert got == [(c, (('value:%s' % c).encode(), c.upper().encode(), None))
                   for c in 'abcdefghij']
    labels = {default_partition(c, 4, None) for c in 'abcdefghij'}
    expected = set('abcdefghij') | {'task-' + c for c in 'abcdefghij'} | \
        {'reduce:%d' % l for l in labels}
    keys = job.oob_list()
    assert sorted(keys) == sorted(expected)  # distinct keys, arbitrary order
    assert job.oob_get('c') == b'value:c' and disco.oob_get(job.name, 'task-c') == b'C'
    assert isinstance(job.oob_get('reduce:%d' % min(labels)), bytes)
    assert job.oob_get('no-such-key') is None


def other_job_map(e, params):
    from discolite.util import load_oob
    yield e, (load_oob(Task.master, params, e), load_oob(this_master(), params, 'task-' + e))


def test_other_jobs_read_values_with_load_oob(disco):
    first = Job(master=disco).run(input=LETTERS[:3], map=letter_map)
    first.wait(poll_interval=POLL)
    second = Job(master=disco).run(input=LETTERS[:3], map=other_job_map, params=first.name)
    assert records(disco, second) == [(c, (('value:%s' % c).encode(), c.upper().encode()))
                                      for c in 'abc']
    from discolite.util import load_oob
    assert load_oob(disco.master, first.name, 'a') == b'value:a'


def ten_puts_map(e, params):
    for i in range(10):
        put('%s-%d' % (e, i), b'%d' % i)
    yield e, 1


def test_many_puts_per_task(disco):
    job = Job(master=disco).run(input=LETTERS[:4], map=ten_puts_map)
    job.wait(poll_interval=POLL)
    keys = job.oob_list()
    assert len(keys) == 40 == len(set(keys))
    assert all(job.oob_get(k) == k.split('-')[1].encode() for k in keys)


def overwrite_map(e, params):
    put('same', b'first')
    put('same', b'second')
    yield e, 1


def test_latest_put_wins(disco):
    job = Job(master=disco).run(input=['raw://x'], map=overwrite_map)
    job.wait(poll_interval=POLL)
    assert job.oob_list() == ['same'] and job.oob_get('same') == b'second'


def bad_keys_map(e, params):
    for key, value in [('bad key', b'x'), ('a/b', b'x'), ('caf\xe9', b'x'), ('', b'x'),
                       ('k' * 201, b'x'), ('str-value', 'text'), ('int-value', 3)]:
        try:
            put(key, value)
            yield key, 'stored'
        except Exception as err:
            yield key, '%s: %s' % (type(err).__name__, err)
    put('k' * 200, b'longest')
    put('ok_-@:AZ09', b'fine')
    yield 'done', 'ok'


def test_key_and_value_rules_inside_tasks(disco):
    job = Job(master=disco).run(input=['raw://x'], map=bad_keys_map)
    got = dict(result_iterator(job.wait(poll_interval=POLL), ddfs=disco.master))
    for key in ('bad key', 'a/b', 'caf\xe9'):
        assert got[key] == 'DiscoError: OOB key contains invalid characters (%s): allowed are ' \
            'the letters A-Z a-z, the digits 0-9 and _ - @ :' % key
    assert got['k' * 201].startswith('DiscoError: ')
    assert got['str-value'].startswith('DiscoError: ') and 'bytes' in got['str-value']
    assert got['int-value'].startswith('DiscoError: ')
    assert got['done'] == 'ok'
    assert sorted(job.oob_list()) == sorted(['k' * 200, 'ok_-@:AZ09'])
    assert job.oob_get('k' * 200) == b'longest'


def test_key_rules_client_side(disco):
    task = Task(jobname='NoSuchJob@0:0:0', master=disco.master)
    for key in ('bad key', 'x/y', 'a.b', 'k' * 201):
        with pytest.raises(DiscoError):
            task.put(key, b'v')
    with pytest.raises(DiscoError, match=re.escape('OOB key contains invalid characters (x y)')):
        task.put('x y', b'v')


def test_unknown_job_or_key(disco):
    with pytest.raises(DiscoError) as e:
        disco.oob_get('NoSuchJob@0:0:0', 'key')
    assert str(e.value) == 'Unknown key or jobname' and not isinstance(e.value, CommError)
    with pytest.raises(CommError) as e:
        disco.oob_list('NoSuchJob@0:0:0')
    assert e.value.code == 404
    plain = run_words(disco)  # a job that stored no OOB at all
    plain.wait(poll_interval=POLL)
    with pytest.raises(DiscoError, match='Unknown key or jobname'):
        plain.oob_get('key')
    with pytest.raises(CommError):
        plain.oob_list()
    for name in ('../..', 'a/b', ''):
        with pytest.raises(DiscoError):
            disco.oob_get(name, 'key')


def test_oob_kept_by_clean_and_purge(disco):
    """As on Disco (after_purge_oob_tag): the OOB tag outlives clean and purge."""
    job = Job(master=disco).run(input=['raw://a'], map=letter_map)
    job.wait(poll_interval=POLL)
    job.clean()
    assert disco.oob_get(job.name, 'a') == b'value:a'
    disco.purge(job.name)
    assert 'a' in disco.oob_list(job.name)
    assert disco.oob_get(job.name, 'a') == b'value:a'
    assert 'disco:job:oob:%s' % job.name in disco.ddfs.list('disco:job:oob:')


# -- profiling

PROFILE_KEY = re.compile(r'^profile-(map|map_shuffle|reduce):\d+-[^-]*-\d+-[0-9a-f]{2}-\d+$')
WORDS3 = ['raw://apple berry', 'raw://cherry apple', 'raw://berry apple']


def _reduce_calls(stats):
    return sum(v[1] for (filename, _line, func), v in stats.stats.items()
               if filename == 'worker.py' and func == 'reduce')


def test_profile_stats(disco):
    job = run_words(disco, inputs=WORDS3, partitions=30, profile=True)
    assert records(disco, job) == [('apple', 3), ('berry', 2), ('cherry', 1)]
    reduces = disco.jobinfo(job.name)['pipeline'][2]
    assert reduces[0] == 'reduce'
    nreduce = reduces[4]
    assert nreduce == len({default_partition(w, 30, None) for w in ('apple', 'berry', 'cherry')})
    keys = job.oob_list()
    assert all(PROFILE_KEY.match(k) for k in keys), keys
    assert sum(k.startswith('profile-map:') for k in keys) == 3
    assert sum(k.startswith('profile-map_shuffle:') for k in keys) == 1
    assert sum(k.startswith('profile-reduce:') for k in keys) == nreduce
    out = io.StringIO()
    stats = job.profile_stats(stream=out)
    assert _reduce_calls(stats) == nreduce  # the worker's reduce runs once per reduce task
    stats.print_stats('worker', 'reduce')
    assert 'worker.py' in out.getvalue() and '(reduce)' in out.getvalue()
    assert _reduce_calls(disco.profile_stats(job.name, 'reduce', stream=io.StringIO())) == nreduce
    maps = disco.profile_stats(job.name, 'map', stream=io.StringIO())
    assert _reduce_calls(maps) == 0
    # 'map' also merges the map_shuffle profiles (Disco's prefix match)
    shuffle_only = disco.profile_stats(job.name, 'map_shuffle', stream=io.StringIO())
    assert shuffle_only.total_calls < maps.total_calls
    assert set(shuffle_only.stats) <= set(maps.stats)


def test_profile_stats_default_stream_is_stdout(disco, capsys):
    job = run_words(disco, inputs=WORDS3[:1], profile=True)
    job.wait(poll_interval=POLL)
    job.profile_stats('reduce').print_stats(1)
    assert 'function calls' in capsys.readouterr().out


def test_profile_stats_errors(disco):
    plain = run_words(disco)
    plain.wait(poll_interval=POLL)
    with pytest.raises(CommError) as e:  # no OOB tag at all: 404 as on Disco (profile_stats_no_oob)
        plain.profile_stats()
    assert e.value.code == 404 and "b'Tag not found.'" in str(e.value)
    oob_only = Job(master=disco).run(input=['raw://a'], map=letter_map)
    oob_only.wait(poll_interval=POLL)
    with pytest.raises(JobError, match='No profile data'):
        oob_only.profile_stats('reduce')
    with pytest.raises(JobError, match='Unknown profile mode'):
        oob_only.profile_stats('bogus')
    with pytest.raises(CommError) as e:
        disco.profile_stats('NoSuchJob@0:0:0')
    assert e.value.code == 404
