"""Classic map/reduce flows end to end through the pool (DISCO-SPEC §2.4-2.8, §11.2 Core flows)."""
import hashlib

import pytest

from discolite import result_iterator, util
from discolite.worker.classic.func import (chain_reader, nop_map, nop_reduce, sum_combiner,
                                           sum_reduce)

from tests.engine.common import POLL, fails, messages, results, run, run_results, task_messages

WORDS = ['raw://alpha beta', 'raw://beta gamma', 'raw://gamma beta']


def words_map(line, params):
    for word in line.split():
        yield word, 1


def count_reduce(iter, params):
    counts = {}
    for k, v in iter:
        counts[k] = counts.get(k, 0) + v
    return counts.items()


def md5_label(key, n):
    if isinstance(key, str):
        key = key.encode()
    return int(hashlib.md5(key).hexdigest(), 16) % n


def test_map_reduce_word_count(disco):
    got = sorted(run_results(disco, input=WORDS, map=words_map, reduce=count_reduce))
    assert got == [('alpha', 1), ('beta', 3), ('gamma', 2)]


def test_map_receives_str_for_raw_and_identity_roundtrip(disco):
    inputs = ['raw://eeny', 'raw://meeny', 'raw://miny']

    def fmap(e, params):
        assert isinstance(e, str), type(e)
        yield 'raw://' + e, ''
    got = run_results(disco, input=inputs, map=fmap)
    assert sorted(k for k, v in got) == sorted(inputs)


def test_map_split_key_and_three_prints(disco):
    def fmap(e, params):
        print('first print %s' % e)
        print('second print')
        print('third print')
        yield e.split('_')
    job = run(disco, input=['raw://disco_api'], map=fmap)
    assert results(job) == [('disco', 'api')]
    printed = [m for m in task_messages(job, 'map') if 'print' in m]
    assert printed == ['first print disco_api', 'second print', 'third print']
    assert sum('MSG: [map:0] second print' == m for m in messages(job)) == 1


def test_print_with_several_arguments_is_one_event(disco):
    def fmap(e, params):
        print('value', 42, e)
        yield e, 1
    job = run(disco, input=['raw://x'], map=fmap)
    results(job)
    assert 'value 42 x' in task_messages(job, 'map')


def test_both_reduce_signatures(disco):
    def fmap(line, params):
        yield int(line), line

    def reduce_out(iter, out, params):
        for k, v in sorted(iter):
            out.add(k, v)

    def reduce_gen(iter, params):
        return sorted(iter)
    inputs = ['raw://%d' % i for i in range(5)] * 2
    a = run_results(disco, input=inputs, map=fmap, reduce=reduce_out, partitions=None)
    b = run_results(disco, input=inputs, map=fmap, reduce=reduce_gen, partitions=None)
    assert a == b == sorted((i, str(i)) for i in range(5) for _ in range(2))


def test_map_only_results_are_shuffle_indexes(disco):
    def fmap(line, params):
        yield line, len(line)
    job = run(disco, input=['raw://a', 'raw://bb', 'raw://ccc'], map=fmap)
    urls = job.wait(poll_interval=POLL)
    assert len(urls) == 1 and urls[0][0].startswith('dir://')
    assert sorted(result_iterator(urls)) == [('a', 1), ('bb', 2), ('ccc', 3)]
    per_map = job.stageresults('map')
    assert len(per_map) == 3


@pytest.mark.parametrize('partitions', [None, 0, 1, 2])
def test_map_only_partitions_single_record(disco, partitions):
    def fmap(e, params):
        yield 'k', e
    got = run_results(disco, input=['raw://only'], map=fmap, partitions=partitions)
    assert got == [('k', 'only')]


def test_partitioned_reduce_runs_one_task_per_nonempty_label(disco):
    keys = ['k%d' % i for i in range(6)]
    n = 16
    labels = {md5_label(k, n) for k in keys}

    def fmap(e, params):
        for k in e.split():
            yield k, 1

    def freduce(iter, params):
        for k, v in iter:
            yield k, this_partition()  # noqa: F821
    job = run(disco, input=['raw://' + ' '.join(keys)], map=fmap, reduce=freduce, partitions=n)
    got = results(job)
    assert sorted(got) == sorted((k, md5_label(k, n)) for k in keys)
    info = job.jobinfo()
    assert len(info['results']) == len(labels) < n
    reduce_counts = dict((s[0], s[1:]) for s in info['pipeline'])['reduce']
    assert reduce_counts[3] == len(labels)  # done tasks
    # map tasks see this_partition() == 0 and every key went to its md5 label
    stage = [list(result_iterator([u])) for u in job.stageresults('map')]
    assert sorted(kv for recs in stage for kv in recs) == sorted((k, 1) for k in keys)


def test_this_partition_is_zero_in_map(disco):
    def fmap(e, params):
        yield e, this_partition()  # noqa: F821
    got = run_results(disco, input=['raw://a', 'raw://b'], map=fmap, partitions=5)
    assert sorted(got) == [('a', 0), ('b', 0)]


def test_partitions_none_reduce_is_group_all(disco):
    def fmap(e, params):
        yield e, 1
    job = run(disco, input=['raw://a', 'raw://b', 'raw://c'], map=fmap, reduce=sum_reduce,
              partitions=None)
    assert sorted(results(job)) == [('a', 1), ('b', 1), ('c', 1)]
    assert len(job.jobinfo()['results']) == 1


def test_custom_partition_and_dropped_labels_under_group_all(disco):
    def fmap(e, params):
        yield e, 1

    def part(key, n, params):
        return 0 if key == 'zero' else 3
    # partitions=1: group_all reads label 0 only; label 3 is silently dropped (Disco quirk)
    got = run_results(disco, input=['raw://zero', 'raw://three'], map=fmap, reduce=sum_reduce,
                      partition=part, partitions=1)
    assert got == [('zero', 1)]
    got = run_results(disco, input=['raw://zero', 'raw://three'], map=fmap, reduce=sum_reduce,
                      partition=part, partitions=4)
    assert sorted(got) == [('three', 1), ('zero', 1)]


def test_partitions_8_reduce_reader_chain_reader(disco):
    def fmap(e, params):
        yield e, e.upper()

    def freduce(iter, params):
        for kv in iter:
            assert isinstance(kv, tuple)
            yield kv, 'seen'
    got = run_results(disco, input=['raw://%s' % c for c in 'abcdef'], map=fmap, reduce=freduce,
                      partitions=8, reduce_reader=chain_reader)
    assert sorted(got) == [((c, c.upper()), 'seen') for c in 'abcdef']


def test_stage_results_map_and_reduce(disco):
    def fmap(e, params):
        for w in e.split():
            yield w, 1
    job = run(disco, input=WORDS, map=fmap, reduce=sum_reduce, partitions=3)
    assert sorted(results(job)) == [('alpha', 1), ('beta', 3), ('gamma', 2)]
    map_records = list(result_iterator(job.stageresults('map')))
    assert sorted(map_records) == sorted((w, 1) for i in WORDS for w in i[6:].split())


def test_combiner_done_flag_and_per_partition_buffers(disco):
    def fmap(line, params):
        for w in line.split():
            yield w, 1

    def combiner(key, value, buf, done, params):
        if done:
            # one buffer per label: every key in it belongs to this map task's label
            import hashlib
            labels = {int(hashlib.md5(k.encode()).hexdigest(), 16) % 4 for k in buf}
            assert len(labels) <= 1, labels
            return [(k, (v, 'flushed')) for k, v in sorted(buf.items())]
        buf[key] = buf.get(key, 0) + value

    def freduce(iter, params):
        return sorted(iter)
    data = 'a b c d e f a b c a'
    got = run_results(disco, input=['raw://' + data], map=fmap, combiner=combiner,
                      reduce=freduce, partitions=4)
    assert sorted(got) == [('a', (3, 'flushed')), ('b', (2, 'flushed')), ('c', (2, 'flushed')),
                           ('d', (1, 'flushed')), ('e', (1, 'flushed')), ('f', (1, 'flushed'))]


def test_combiner_that_emits_while_not_done(disco):
    def fmap(line, params):
        for w in line.split():
            yield w, 1

    def combiner(key, value, buf, done, params):
        # flush every 2 records, clearing the buffer itself (Disco never clears it)
        if not done:
            buf[key] = buf.get(key, 0) + value
            if sum(buf.values()) < 2:
                return None
        items = list(buf.items())
        buf.clear()
        return items
    got = run_results(disco, input=['raw://x x x y y z'], map=fmap, combiner=combiner,
                      reduce=sum_reduce)
    assert sorted(got) == [('x', 3), ('y', 2), ('z', 1)]


def test_sum_combiner_and_sum_reduce(disco):
    got = run_results(disco, input=WORDS, map=words_map, combiner=sum_combiner,
                      reduce=sum_reduce, partitions=2)
    assert sorted(got) == [('alpha', 1), ('beta', 3), ('gamma', 2)]


def test_sort_true_gives_ascending_bytes_keys(disco):
    import base64

    def fmap(line, params):
        import base64
        for w in line.split():
            yield base64.b64encode(w.encode()), 1

    def freduce(iter, params):
        from discolite.util import kvgroup
        keys = []
        for k, vs in kvgroup(iter):
            keys.append(k)
            yield k, sum(vs)
        assert keys == sorted(keys), keys
    words = 'pear apple fig apple kiwi pear apple'
    got = run_results(disco, input=['raw://' + words, 'raw://fig zucchini'], map=fmap,
                      reduce=freduce, sort=True)
    expected = {}
    for w in (words + ' fig zucchini').split():
        k = base64.b64encode(w.encode())
        expected[k] = expected.get(k, 0) + 1
    assert got == sorted(expected.items())


def test_sort_true_with_str_keys_kills_the_job(disco):
    job = run(disco, input=['raw://a b'], map=words_map, reduce=nop_reduce, sort=True)
    text, events = fails(job)
    assert 'Keys must be bytes for external sort' in events
    assert 'Keys must be bytes for external sort' in text


def test_reduce_only_over_plain_inputs_reads_lines(disco, tmp_path):
    paths = []
    for i in range(3):
        p = tmp_path / ('nums%d.txt' % i)
        p.write_text('%d\n%d\n' % (i, i * 10))
        paths.append(str(p))

    def freduce(iter, params):
        lines = list(iter)
        assert all(isinstance(l, bytes) for l in lines)
        yield 'total', sum(int(l) for l in lines)
    assert run_results(disco, input=paths, reduce=freduce, reduce_reader=None) == \
        [('total', 33)]


def test_reduce_only_with_empty_input_runs_one_reduce(disco):
    def freduce(iter, params):
        assert list(iter) == []
        yield 'ran', this_partition()  # noqa: F821
    job = run(disco, input=[], reduce=freduce)
    assert results(job) == [('ran', 0)]
    assert len(job.wait(poll_interval=POLL)) == 1


def test_reduce_only_empty_output_file_is_22_bytes(disco):
    from discolite.util import read_index
    from discolite.schemes import scheme_disco

    def freduce(iter, params):
        return []
    job = run(disco, input=[], reduce=freduce)
    urls = job.wait(poll_interval=POLL)
    assert list(result_iterator(urls)) == []
    [(label, url, size)] = list(read_index(urls[0][0]))
    assert (label, size) == (0, 22)
    fd = scheme_disco.open(url)
    try:
        assert len(fd.read()) == 22
    finally:
        fd.close()


@pytest.mark.parametrize('kind', ['map', 'reduce', 'map+reduce'])
def test_empty_input_gives_no_results(disco, kind):
    jobargs = {'input': []}
    if 'map' in kind:
        jobargs['map'] = words_map
    if 'reduce' in kind:
        jobargs['reduce'] = nop_reduce
    job = run(disco, **jobargs)
    recs = results(job)
    assert recs == []
    assert job.jobinfo()['active'] == 'ready'


def test_maps_emitting_nothing_make_no_outputs_and_no_reduce(disco):
    def fmap(e, params):
        return []
    job = run(disco, input=['raw://a', 'raw://b'], map=fmap, reduce=nop_reduce)
    assert job.wait(poll_interval=POLL) == []
    assert job.stageresults('map') == []
    assert not any(m.startswith('Stage reduce') for m in messages(job))


def test_done_message_counts_entries_consumed_by_map_init(disco):
    def init(iter, params):
        next(iter)  # the first entry is skipped by map

    def fmap(e, params):
        yield e.strip(), 1
    job = run(disco, input=['raw://one\ntwo\nthree'], map=fmap, map_init=init)
    assert sorted(results(job)) == [('three', 1), ('two', 1)]
    assert 'Done: 3 entries mapped' in task_messages(job, 'map')


def test_status_interval_messages(disco):
    def fmap(e, params):
        yield e, 1
    data = 'raw://' + '\n'.join(str(i) for i in range(7))
    job = run(disco, input=[data], map=fmap, reduce=nop_reduce, status_interval=3)
    results(job)
    assert task_messages(job, 'map')[:3] == ['3 entries mapped', '6 entries mapped',
                                             'Done: 7 entries mapped']
    assert [m for m in task_messages(job, 'reduce') if 'reduced' in m] == \
        ['3 entries reduced', '6 entries reduced', 'Done: 7 entries reduced']
    job = run(disco, input=[data], map=fmap, status_interval=0)
    results(job)
    assert [m for m in task_messages(job, 'map') if 'mapped' in m] == ['Done: 7 entries mapped']


def test_map_returning_none_kills_the_job(disco):
    def fmap(e, params):
        return None
    text, events = fails(run(disco, input=['raw://x'], map=fmap))
    assert 'TypeError' in events and 'NoneType' in events


def test_default_partition_labels_int_keys_as_disco_053(disco):
    # Disco 0.5.4 dies on int keys; discolite labels them md5(str(key)) as 0.5.3 did.
    def fmap(e, params):
        yield int(e), e
    inputs = ['raw://%d' % i for i in range(12)]
    job = run(disco, input=inputs, map=fmap, partitions=4)
    urls = job.wait(poll_interval=POLL)
    labels = {label: sorted(result_iterator([url])) for i in urls
              for label, url, _size in util.read_index(i[0])}
    for label, records in labels.items():
        assert records and all(md5_label(str(k), 4) == label for k, _v in records)
    assert sorted(r for rs in labels.values() for r in rs) == [(i, str(i)) for i in range(12)]


def test_default_partition_of_a_key_without_str_fails_with_its_error(disco):
    def fmap(e, params):
        class NoStr(object):
            def __str__(self):
                raise ValueError('this key has no text')
        yield NoStr(), e
    text, events = fails(run(disco, input=['raw://x'], map=fmap, partitions=2))
    assert 'this key has no text' in events


def test_nop_map_with_chain_reader_reemits_records(disco):
    first = run(disco, input=['raw://a b', 'raw://c'], map=words_map, partitions=None)
    got = run_results(disco, input=first.wait(poll_interval=POLL), map=nop_map,
                      map_reader=chain_reader)
    assert sorted(got) == [('a', 1), ('b', 1), ('c', 1)]


def test_sort_spills_to_disk_with_a_small_buffer_and_stays_ordered(disco):
    def fmap(line, params):
        n = int(line)
        for i in range(20000):
            yield b'%08d' % ((i * 7919 + n) % 20011), n

    def freduce(iter, params):
        last = None
        count = 0
        for k, v in iter:
            assert last is None or last <= k
            last = k
            count += 1
        yield 'count', count
        yield 'last', last
    job = run(disco, input=['raw://1', 'raw://2', 'raw://3'], map=fmap, reduce=freduce,
              sort=True, sort_buffer_size='1M')
    assert dict(results(job)) == {'count': 60000, 'last': b'%08d' % 20010}
    msgs = task_messages(job, 'reduce')
    assert msgs.index('Finished sorting') > [i for i, m in enumerate(msgs)
                                             if m.startswith('Sorting ')][0]


def test_job_code_may_start_its_own_processes(disco):
    """A Disco task is an ordinary process: job code can use multiprocessing (and it was
    refused here with 'daemonic processes are not allowed to have children')."""
    def fmap(line, params):
        import multiprocessing
        with multiprocessing.get_context('fork').Pool(2) as pool:
            yield line, sum(pool.map(abs, [-1, -2, -int(line)]))
    assert run_results(disco, input=['raw://3'], map=fmap) == [('3', 6)]
