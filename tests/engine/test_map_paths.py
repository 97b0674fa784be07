"""The map loop's fast paths (memoised labels, one buffer per label, no per-record flag
tests) against Disco's general loop written out plainly (DISCO-SPEC §2.4 map task):
same labels, records, order of outputs, combiner calls and errors; and status_iter's
messages against a plain counting generator (issue 13 item 1)."""
import itertools
import os

import pytest
from hypothesis import example, given, settings, strategies as st

from discolite import result_iterator, util
from discolite.worker import protocol
from discolite.worker.classic import worker as classic
from discolite.worker.classic.func import default_partition

from tests.engine.common import POLL, run, task_messages


class NoStr(object):
    """A key default_partition cannot hash: its str() fails."""

    def __str__(self):
        raise ValueError('this key has no text')

    def __repr__(self):
        return 'NoStr()'


# -- what the map loop sees of its worker: outputs that log what is written

class Out(object):
    def __init__(self, label, log):
        self.label, self.log = label, log

    def add(self, k, v):
        self.log.append(('add', self.label, canon(k), v))


class Recorder(dict):
    def __init__(self, log, **items):
        super().__init__(items)
        self.log, self.outs = log, {}

    def output(self, task, label, streams):
        out = self.outs.get(label)
        if out is None:
            self.log.append(('open', label))
            out = self.outs[label] = Out(label, self.log)
        return out


def canon(key):
    """Keys compared with their type: 1, 1.0 and True are equal but labelled apart."""
    if isinstance(key, tuple):
        return tuple(canon(k) for k in key)
    return (type(key).__name__, repr(key))


def logging_combiner(kind, log):
    """A combiner of ``kind`` that logs each call, naming buffers by creation order."""
    buffers = []

    def index(buf):
        for i, b in enumerate(buffers):
            if b is buf:
                return i
        buffers.append(buf)
        return len(buffers) - 1

    def combiner(key, value, buf, done, params):
        log.append(('combine', canon(key) if not done else None, value, index(buf), done))
        if kind == 'sum':
            if done:
                return list(buf.values())
            k = canon(key)
            old = buf.get(k, (key, 0))
            buf[k] = (key, old[1] + value)
        elif kind == 'flush':  # emits whenever three keys are buffered, as Disco's docs show
            if done:
                return [rec for rec in buf.values()]
            buf[len(buf)] = (key, value)
            if len(buf) >= 3:
                records = list(buf.values())
                buf.clear()
                return records
        elif kind == 'echo':  # emits every record at once, nothing at the end
            if not done:
                return [(key, value)]
    return combiner


def reference_map(entries, fmap, combiner, partition, partitions, params, worker):
    """Disco's map loop as DISCO-SPEC §2.4 states it, without any shortcut."""
    bufs = {}
    for entry in entries:
        for key, val in fmap(entry, params):
            part = None
            if partitions:
                part = int(partition(key, partitions, params))
            if combiner:
                bufs.setdefault(part, {})
                for rec in (combiner(key, val, bufs[part], False, params) or ()):
                    worker.output(None, part, None).add(*rec)
            else:
                worker.output(None, part, None).add(key, val)
    for part, buf in bufs.items():
        for rec in (combiner(None, None, buf, True, params) or ()):
            worker.output(None, part, None).add(*rec)


def fast_map(entries, fmap, combiner, partition, partitions, params, worker):
    for k, v in dict(map=fmap, combiner=combiner, partition=partition, partitions=partitions,
                     map_output_stream=None).items():
        worker[k] = v
    classic._Map(worker, None, params).run(iter(entries))


def run_logged(impl, entries, combiner_kind, partition, partitions, calls):
    log = []
    worker = Recorder(log)
    combiner = logging_combiner(combiner_kind, log) if combiner_kind else None

    def fmap(entry, params):
        return entry

    def counted(key, n, params):
        calls.append(key)
        return partition(key, n, params)
    # The map loop knows default_partition by identity: the counting wrapper stands in for it.
    saved = classic.default_partition
    if partition is default_partition:
        classic.default_partition = counted
    try:
        impl(entries, fmap, combiner, counted, partitions, None, worker)
    except Exception as e:
        return log, (type(e), str(e))
    finally:
        classic.default_partition = saved
    return log, None


def custom_len(key, n, params):
    return len(repr(key)) % n


def custom_float(key, n, params):
    return (len(repr(key)) * 0.75) % n  # int() of the label, as Disco does


PARTITIONS = {'default': default_partition, 'len': custom_len, 'float': custom_float}

simple_keys = st.one_of(
    st.text(max_size=3), st.binary(max_size=3), st.integers(-3, 3),
    st.sampled_from([1, 1.0, True, 0, 0.0, -0.0, False, '1', b'1', None, 'é', (1, 'a'),
                     2 ** 70, 1.5]),
    st.tuples(st.integers(0, 2), st.text(max_size=1)))
keys = st.one_of(simple_keys, st.lists(st.integers(0, 2), max_size=2))  # lists: unhashable
bad_keys = st.sampled_from([NoStr(), '\ud800x'])
records = st.lists(st.tuples(keys, st.integers(1, 5)), max_size=5)

SETTINGS = settings(max_examples=200, deadline=None)


@SETTINGS
@given(entries=st.lists(records, max_size=8),
       partitions=st.one_of(st.sampled_from([None, 0]), st.integers(1, 16)),
       partition=st.sampled_from(sorted(PARTITIONS)),
       combiner=st.sampled_from([None, 'sum', 'flush', 'echo']))
@example(entries=[[(1, 1), (1.0, 1), (True, 1), ('1', 1), (b'1', 1), (0.0, 1), (-0.0, 1)]] * 2,
         partitions=7, partition='default', combiner='sum')
@example(entries=[[], [], [('a', 1)]], partitions=1, partition='default', combiner='sum')
@example(entries=[[], []], partitions=1, partition='default', combiner='sum')
def test_fast_paths_match_the_general_loop(entries, partitions, partition, combiner):
    calls_ref, calls_fast = [], []
    fn = PARTITIONS[partition]
    ref = run_logged(reference_map, entries, combiner, fn, partitions, calls_ref)
    fast = run_logged(fast_map, entries, combiner, fn, partitions, calls_fast)
    assert fast == ref
    if partition != 'default' and partitions:
        # a custom partition function is called once per record, in record order
        assert [canon(k) for k in calls_fast] == [canon(k) for k in calls_ref] == \
            [canon(k) for e in entries for k, _v in e]
    if partition == 'default' and partitions and not (partitions == 1 and combiner):
        # memoised: once per distinct str/bytes/int key; other keys every time
        memoised = [k for e in entries for k, _v in e if type(k) in (str, bytes, int)]
        others = [k for e in entries for k, _v in e if type(k) not in (str, bytes, int)]
        assert len(calls_fast) == len(set(map(canon, memoised))) + len(others)


@SETTINGS
@given(entries=st.lists(st.lists(st.tuples(st.one_of(simple_keys, bad_keys), st.integers(1, 5)),
                                 max_size=4), max_size=6),
       partitions=st.integers(1, 16),
       combiner=st.sampled_from([None, 'sum', 'flush', 'echo']))
def test_keys_default_partition_cannot_hash_fail_the_same_way(entries, partitions, combiner):
    ref = run_logged(reference_map, entries, combiner, default_partition, partitions, [])
    fast = run_logged(fast_map, entries, combiner, default_partition, partitions, [])
    if partitions == 1 and combiner:
        # one label for every key: the check happens where the combiner emits the key
        assert fast[1] == ref[1]
        if ref[1] is None:
            assert fast == ref
    else:
        assert fast == ref


# -- status messages

def reference_status(iterator, message, interval, sent):
    n = 0
    it = iter(iterator)
    if interval:
        while True:
            before = n
            for item in itertools.islice(it, interval):
                n += 1
                yield item
            if n - before < interval:
                break
            sent.append(message % n)
    else:
        for n, item in enumerate(it, 1):
            yield item
    sent.append("Done: " + message % n)


class Sent(protocol.Channel):
    def __init__(self):
        self.messages = []

    def send(self, type, payload=''):
        self.messages.append(payload)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 40), interval=st.integers(0, 9), taken=st.integers(0, 45))
def test_status_iter_sends_what_a_counting_generator_sends(n, interval, taken):
    expected_sent = []
    ref = reference_status(range(n), "%d entries mapped", interval, expected_sent)
    old, protocol.CHANNEL = protocol.CHANNEL, Sent()
    try:
        fast = classic.Worker().status_iter(range(n), "%d entries mapped", interval)
        trace_ref, trace_fast = [], []
        for it, trace, sent in ((ref, trace_ref, expected_sent),
                                (fast, trace_fast, protocol.CHANNEL.messages)):
            for item in itertools.islice(it, taken):  # as map_init might, then the rest
                trace.append((item, len(sent)))
            trace.append('--')
            for item in it:
                trace.append((item, len(sent)))
            trace.append(len(sent))
        assert trace_fast == trace_ref
        assert protocol.CHANNEL.messages == expected_sent
    finally:
        protocol.CHANNEL = old


# -- end to end through the pool: record files, labels and events

def e2e_map(line, params):
    if isinstance(line, bytes):
        line = line.decode()
    for word in line.split():
        yield (int(word) if word.isdigit() else word), 1


def e2e_partition(key, n, params):
    with open(os.path.join(params['dir'], 'calls-%d' % os.getpid()), 'a') as f:
        f.write('%r\n' % (key,))
    return len(str(key)) % n


def map_outputs(job):
    """{label: records} of every map output file, from the job's index."""
    out = {}
    for urls in job.wait(poll_interval=POLL):
        for label, url, _size in util.read_index(urls[0]):
            out.setdefault(label, []).extend(result_iterator([url]))
    return out


@pytest.mark.parametrize('partitions', [1, 2, 5, 16])
@pytest.mark.parametrize('combiner', [False, True])
def test_job_labels_records_and_events_follow_the_general_loop(disco, partitions, combiner):
    from discolite.worker.classic.func import sum_combiner
    lines = ['a bb 7 a', 'ccc 7 bb 10', '', 'a 3 dddd']
    job = run(disco, input=['raw://' + line for line in lines], map=e2e_map,
              combiner=sum_combiner if combiner else None, partitions=partitions)
    got = map_outputs(job)
    expected = {}
    for line in lines:  # the general loop, per task (one input each)
        part_records = {}
        buf = {}
        for key, value in e2e_map(line, None):
            label = default_partition(key, partitions, None)
            if combiner:
                b = buf.setdefault(label, {})
                b[key] = b.get(key, 0) + value
            else:
                part_records.setdefault(label, []).append((key, value))
        for label, b in buf.items():
            part_records.setdefault(label, []).extend(b.items())
        for label, recs in part_records.items():
            expected.setdefault(label, []).extend(recs)
    assert {k: sorted(v, key=repr) for k, v in got.items()} == \
        {k: sorted(v, key=repr) for k, v in expected.items()}
    done = [m for m in task_messages(job, 'map') if m.startswith('Done:')]
    # a raw:// input is one entry, or none when empty
    assert sorted(done) == sorted('Done: %d entries mapped' % bool(line) for line in lines)


def test_custom_partition_is_called_once_per_record(disco, tmp_path):
    os.chmod(tmp_path, 0o777)
    lines = ['a bb 7 a', 'ccc 7 bb 10 a a a']
    job = run(disco, input=['raw://' + line for line in lines], map=e2e_map,
              partition=e2e_partition, partitions=3, params={'dir': str(tmp_path)})
    got = map_outputs(job)
    calls = []
    for name in os.listdir(tmp_path):
        with open(tmp_path / name) as f:
            calls.extend(f.read().splitlines())
    expected = [repr(k) for line in lines for k, _v in e2e_map(line, None)]
    assert sorted(calls) == sorted(expected)
    assert {label: sorted(recs, key=repr) for label, recs in got.items()} == {
        label: sorted([(k, 1) for line in lines for k, _v in e2e_map(line, None)
                       if len(str(k)) % 3 == label], key=repr)
        for label in {len(str(k)) % 3 for line in lines for k, _v in e2e_map(line, None)}}


@settings(max_examples=50, deadline=None)
@given(entries=st.lists(records, max_size=8), partitions=st.integers(2, 16),
       combiner=st.sampled_from([None, 'sum', 'echo']))
def test_a_full_memo_starts_over_with_the_same_results(entries, partitions, combiner):
    """With mostly distinct keys the memo is cleared when it reaches MEMO_LIMIT entries (so
    a task's memory stays bounded); labels, records and combiner calls stay the general
    loop's, and keys are simply hashed again."""
    saved = classic.MEMO_LIMIT
    classic.MEMO_LIMIT = 2
    try:
        ref = run_logged(reference_map, entries, combiner, default_partition, partitions, [])
        fast = run_logged(fast_map, entries, combiner, default_partition, partitions, [])
    finally:
        classic.MEMO_LIMIT = saved
    assert fast == ref
