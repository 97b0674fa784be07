import hashlib
import io
import os
import pickle
import random
import struct
import zlib

import pytest
from hypothesis import given, settings, strategies as st

from discolite.error import DataError
from discolite.fileutils import AtomicFile, Chunker, HUNK_SIZE
from discolite.worker import task_io
from discolite.worker.task_io import (
    DiscoOutputStream, DiscoPlainOut, StreamCombiner, chain_reader, disco_input_stream,
    disco_output_stream, gzip_line_reader, gzip_reader, old_netstr_reader, plain_output_stream,
    re_reader, string_input_stream, task_input_stream, task_output_stream)
from discolite.worker.task_io import _dump_kv

EMPTY_COMPRESSED = bytes.fromhex('81010000000008000000000000' '00785e030000000001')


def write(records, **kw):
    buf = io.BytesIO()
    out = DiscoOutputStream(buf, **kw)
    for k, v in records:
        out.add(k, v)
    out.close()
    return buf.getvalue()


def read(data, **kw):
    return list(disco_input_stream(io.BytesIO(data), len(data), 'test://x', **kw))


def test_empty_file_is_22_bytes():
    data = write([])
    assert data == EMPTY_COMPRESSED
    assert len(data) == 22
    assert read(data) == []


def test_empty_uncompressed_terminator():
    assert write([], compression_level=0) == bytes.fromhex('8100' + '00' * 12)


def test_k1_level0_example():
    data = write([('k', 1)], compression_level=0)
    assert data == bytes.fromhex('81009aa9cbcb0f00000000000000'
                                 '2858010000006b71004b017471012e'
                                 '8100000000000000000000000000')
    assert len(data) == 43
    assert read(data) == [('k', 1)]


records = st.lists(st.tuples(
    st.one_of(st.binary(), st.text(), st.integers()),
    st.one_of(st.binary(), st.text(), st.integers(), st.none(), st.floats(allow_nan=False),
              st.booleans())), max_size=50)


@given(records, st.sampled_from([0, 1, 2, 9]))
def test_roundtrip(recs, level):
    recs = recs + [('', '')]
    assert read(write(recs, compression_level=level)) == recs


@given(st.one_of(st.binary(), st.text(), st.integers(), st.sampled_from([b'a', b'ab', 'latin1'])),
       st.one_of(st.binary(), st.text(), st.integers(), st.none(), st.floats(allow_nan=False),
                 st.sampled_from(['latin1', b'a', b'\xe9', 'a', 2 ** 31, -2 ** 31, 65535, 65536])))
def test_fast_dump_matches_pickle(k, v):
    assert _dump_kv(k, v) == pickle.dumps((k, v), 1)
    assert _dump_kv(k, k) == pickle.dumps((k, k), 1)


def hunk_payload(records):
    """The uncompressed payload DiscoOutputStream.add writes for ``records``."""
    buf = io.BytesIO()
    out = DiscoOutputStream(buf, compression_level=0)
    for k, v in records:
        out.add(k, v)
    out.close()
    return buf.getvalue()[14:-14]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.binary(max_size=200), st.text(max_size=200)),
                          st.one_of(st.integers(), st.booleans(),
                                    st.sampled_from([0, 1, True, False, 1.0]))),
                max_size=30))
def test_memoised_records_match_pickle(records):
    """add() reuses the pickles of repeated (str/bytes, int) records: the bytes stay
    pickle.dumps((k, v), 1) for equal values of other types (1, True, 1.0; b'a', 'a')."""
    records = records + records[::-1]
    assert hunk_payload(records) == b''.join(pickle.dumps(r, 1) for r in records)


def test_memoised_records_when_the_memo_starts_over(monkeypatch):
    monkeypatch.setattr(task_io, 'KV_MEMO_SIZE', 3)
    records = [(b'k%d' % (i % 7), i % 2) for i in range(50)] + [('x' * 500, 1)] * 3
    assert hunk_payload(records) == b''.join(pickle.dumps(r, 1) for r in records)
    assert len(task_io._KV) <= 3


def test_fast_dump_shared_objects():
    k = b'same'
    assert _dump_kv(k, k) == pickle.dumps((k, k), 1)
    for k, v in [(b'ab', 'latin1'), (b'\xe9\xe9', b'\xe9\xe9'), (b'a', 'a'), (b'\xff', b'\xff')]:
        assert _dump_kv(k, v) == pickle.dumps((k, v), 1)


def test_200k_records_multiple_hunks():
    rnd = random.Random(1)
    recs = [(('w%d' % rnd.randrange(10 ** 6)).encode(), rnd.randrange(10 ** 9)) for _ in range(200000)]
    recs.append(('', ''))
    for level in (0, 2):
        data = write(recs, compression_level=level)
        assert data.count(b'\x81') >= 1
        assert read(data) == recs


def test_hunks_flush_past_1mib():
    recs = [(b'x' * 1000, i) for i in range(3000)]
    data = write(recs, compression_level=0)
    # at least 3 hunks plus terminator
    offsets, pos = [], 0
    while pos < len(data):
        _, _, _, size = struct.unpack('<BBIQ', data[pos:pos + 14])
        offsets.append(size)
        pos += 14 + size
    assert len(offsets) >= 4 and offsets[-1] == 0
    assert all(s > HUNK_SIZE for s in offsets[:-2])


def test_v0_roundtrip():
    buf = io.BytesIO()
    out = DiscoOutputStream(buf, version=0)
    recs = [('a', 'b'), (1, 2.5), ('', ''), ('sp ace', 'new\nline'), ('ä', 'ö')]
    for k, v in recs:
        out.add(k, v)
    out.close()
    data = buf.getvalue()
    assert data.startswith(b'1 a 1 b\n')
    assert read(data) == [(str(k), str(v)) for k, v in recs]
    assert list(old_netstr_reader(io.BytesIO(data), len(data), 'u')) == [(str(k), str(v)) for k, v in recs]


def test_plain_output_stream():
    buf = io.BytesIO()
    out = plain_output_stream(buf, None, 'u', None)
    out.add('k', 3)
    out.close()
    assert buf.getvalue() == b'1 k 1 3\n'


def test_corruption_detected_and_ignored():
    rnd = random.Random(2)
    recs = [(str(rnd.random()), str(rnd.random())) for _ in range(1000)]
    for level in (0, 2):
        data = bytearray(write(recs, compression_level=level))
        data[100] ^= 0xff
        with pytest.raises(DataError) as e:
            read(bytes(data))
        assert 'Corrupted data between bytes 0-' in str(e.value)
        assert read(bytes(data), ignore_corrupt=True) == []


def test_truncated():
    data = write([('a', 'b')])
    with pytest.raises(DataError) as e:
        read(data[:5])
    assert 'Truncated data at 0 bytes' in str(e.value)


def test_max_record_size():
    out = DiscoOutputStream(io.BytesIO(), max_record_size=10)
    with pytest.raises(ValueError) as e:
        out.add('k' * 20, 1)
    assert 'is larger than max_record_size: 10' in str(e.value)


def test_chunker_one_chunk():
    recs, size = [], 0
    while True:
        r = ('k%d' % len(recs), 'v' * 100)
        n = len(pickle.dumps(r, 1))
        if size + n > HUNK_SIZE:
            break
        recs.append(r)
        size += n
    chunks = list(Chunker(chunk_size=2 * HUNK_SIZE).chunks(recs))
    assert len(chunks) == 1
    assert read(chunks[0]) == recs


def test_chunker_many_chunks():
    rnd = random.Random(3)
    recs = [('k%d' % i, '%x' % rnd.getrandbits(4000)) for i in range(5000)]
    chunks = list(Chunker(chunk_size=HUNK_SIZE).chunks(recs))
    assert len(chunks) > 1
    assert [r for c in chunks for r in read(c)] == recs


def test_atomic_file(tmp_path):
    p = str(tmp_path / 'sub' / 'out')
    f = AtomicFile(p)
    f.write(b'abc')
    assert os.path.exists(p + '.partial') and not os.path.exists(p)
    f.close()
    f.close()
    assert open(p, 'rb').read() == b'abc' and not os.path.exists(p + '.partial')


def test_output_chain(tmp_path):
    p = str(tmp_path / 'out')
    comb = StreamCombiner(p, (task_output_stream, disco_output_stream), None)
    comb.add('a', 1)
    comb.add(b'bb', 2)
    comb.close()
    assert read(open(p, 'rb').read()) == [('a', 1), (b'bb', 2)]


def test_input_chain_file_and_chain_reader(tmp_path):
    p = tmp_path / 'data'
    p.write_bytes(write([('a', 1), ('b', 2)]))
    comb = StreamCombiner(str(p), task_io.chain_stream, None)
    assert list(comb) == [('a', 1), ('b', 2)]
    comb.close()
    comb = StreamCombiner('file://' + str(p), task_io.default_stream, None)
    assert b''.join(comb) == p.read_bytes()
    comb.close()


def test_stream_combiner_return_shapes():
    calls = []

    def f3(fd, size, url):
        calls.append((fd, size, url))
        return io.StringIO('x\ny\n'), 4, url + '!'

    def f2(fd, size, url, params):
        calls.append((fd.getvalue(), size, url, params))
        return fd, url

    def f1(fd, size, url):
        calls.append(size)
        return (line.upper() for line in fd)

    comb = StreamCombiner('u', (f3, f2, f1), 'P')
    assert list(comb) == ['X\n', 'Y\n']
    assert calls == [(None, None, 'u'), ('x\ny\n', 4, 'u!', 'P'), 4]
    assert len(comb.fds) == 3


def test_stream_combiner_close_reverse():
    closed = []

    class C(object):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter([])

        def close(self):
            closed.append(self.n)

    comb = StreamCombiner('u', (lambda fd, s, u: C(1), lambda fd, s, u: C(2)), None)
    comb.close()
    assert closed == [2, 1]


def test_chain_reader_params_is_ignore_corrupt():
    data = bytearray(write([('a', 'b' * 200)]))
    data[30] ^= 0xff
    comb = StreamCombiner('raw://', (lambda fd, s, u: io.BytesIO(bytes(data)), chain_reader),
                          {'truthy': 1})
    assert list(comb) == []


def test_raw_input():
    comb = StreamCombiner('raw://hello world', task_io.default_stream, None)
    assert list(comb) == ['hello world']


def test_unknown_scheme():
    with pytest.raises(DataError) as e:
        task_input_stream(None, None, 'nosuch://x/y', None)
    assert 'nosuch://x/y' in str(e.value)


def test_string_input_stream():
    fd, size, url = string_input_stream('a\nb', None, 'u', None)
    assert list(fd) == ['a\n', 'b'] and size == 3


def test_re_reader():
    data = io.BytesIO(b'a=1;b=2;c')
    out = list(re_reader(r'(\w)=(\d);', data, 9, 'u', output_tail=True))
    assert out == [(b'a', b'1'), (b'b', b'2'), [b'c']]


def test_gzip_readers():
    import gzip
    raw = gzip.compress(b'l1\nl2\n')
    fd, size, url = gzip_reader(io.BytesIO(raw), len(raw), 'u', None)
    assert fd.read() == b'l1\nl2\n'
    assert list(gzip_line_reader(io.BytesIO(raw), len(raw), 'u', None)) == [b'l1\n', b'l2\n']
    assert list(gzip_line_reader(io.BytesIO(b'junk'), 4, 'u', None)) == []


def test_exported_names():
    for name in ['re', 'pickle_loads', 'pickle_dumps', 'bytes_to_str', 'str_to_bytes', 'sort_cmd',
                 'persistent_hash', 'DataError', 'UnpicklingError', 'gzip_reader',
                 'gzip_line_reader', 'task_input_stream', 'string_input_stream',
                 'task_output_stream', 'disco_output_stream', 'disco_input_stream', 'chain_reader',
                 'old_netstr_reader', 're_reader', 'input_stream', 'output_stream', 'OutputStream',
                 'InputStream', 'DiscoPlainOut', 'plain_output_stream', 'StreamCombiner',
                 'chain_stream', 'default_stream', 'gzip_stream', 'gzip_line_stream']:
        assert hasattr(task_io, name), name
    assert task_io.persistent_hash('abc') == task_io.persistent_hash(b'abc')
    assert task_io.persistent_hash('abc') == int(hashlib.md5(b'abc').hexdigest(), 16)
    with pytest.raises(AttributeError):   # as on Disco: str_to_bytes calls .encode on the int
        task_io.persistent_hash(5)


# -- reading hunks: records of _dump_kv's fast shapes decoded from their bytes

def typed(recs):
    return [tuple((type(x).__name__, x) for x in rec) if isinstance(rec, tuple)
            else (type(rec).__name__, rec) for rec in recs]


def unpickled(data):
    """The reference: one unpickler over the hunk, record after record."""
    out = []
    load = pickle.Unpickler(io.BytesIO(data)).load
    try:
        while True:
            out.append(load())
    except EOFError:
        return out, None
    except Exception as e:
        return out, e


fast_shaped = st.tuples(st.binary(min_size=2, max_size=6),
                        st.one_of(st.integers(0, 255), st.integers(256, 65535),
                                  st.integers(-2 ** 31, 2 ** 31 - 1), st.integers()))
any_record = st.one_of(fast_shaped, st.tuples(st.one_of(st.binary(), st.text(), st.integers()),
                                              st.one_of(st.none(), st.text(), st.booleans(),
                                                        st.floats(allow_nan=False))))


@settings(max_examples=300)
@given(st.lists(st.one_of(fast_shaped, fast_shaped, any_record), max_size=20),
       st.one_of(st.just(b''), st.binary(max_size=12)), st.integers(0, 40))
def test_hunk_records_equal_the_unpicklers(recs, garbage, cut):
    data = b''.join(_dump_kv(k, v) for k, v in recs)
    assert typed(task_io._hunk_records(data)[0]) == typed(recs)
    assert task_io._hunk_records(data)[1] is None
    for broken in (data + garbage, data[:max(0, len(data) - cut)]):
        got, error = task_io._hunk_records(broken)
        want, want_error = unpickled(broken)
        assert typed(got) == typed(want)
        assert type(error) is type(want_error) and str(error) == str(want_error)


tricky_key = st.one_of(
    st.binary(min_size=2, max_size=6),
    st.builds(lambda a, b: a + task_io._SEP + b, st.binary(max_size=3), st.binary(max_size=3)),
    st.builds(lambda a: a + task_io._REC_END, st.binary(max_size=3)),
    st.sampled_from([b'\xe9t', b'q\x01X\x06', b'tq\x05.(', b'ab']))


@settings(max_examples=300)
@given(st.lists(st.tuples(tricky_key, st.one_of(st.integers(0, 255), st.integers(256, 65535),
                                                st.integers(-2 ** 31, 2 ** 31 - 1))),
                max_size=20).map(lambda r: r + r[::-1]),
       st.integers(0, 40), st.binary(max_size=12))
def test_hunk_pieces_equal_the_unpicklers(recs, cut, garbage):
    """The split-at-separators reading of fast-shaped hunks (tried first, and again after
    a hunk it could not read) gives the unpickler's records, or defers to it."""
    data = b''.join(_dump_kv(k, v) for k, v in recs)
    for hunk in (data, data[:max(0, len(data) - cut)], data + garbage,
                 data + _dump_kv(b'zz', 7)):
        task_io._skip[0] = 0
        got, error = task_io._hunk_records(hunk)
        want, want_error = unpickled(hunk)
        assert typed(got) == typed(want)
        assert type(error) is type(want_error) and str(error) == str(want_error)


def test_hunk_pieces_share_repeated_records_and_give_up_on_new_ones(monkeypatch):
    monkeypatch.setattr(task_io, 'PIECES_SIZE', 100)
    task_io._skip[0] = 0
    data = b''.join(_dump_kv(b'w%d' % (i % 3), 1) for i in range(1000))
    recs, error = task_io._hunk_records(data)
    assert error is None and len(recs) == 1000 and len({id(r) for r in recs}) == 3
    assert task_io._skip[0] == 0
    data = b''.join(_dump_kv(b'new%d' % i, i) for i in range(1000))  # mostly new: stop trying
    recs, error = task_io._hunk_records(data)
    assert recs == [(b'new%d' % i, i) for i in range(1000)] and task_io._skip[0] > 0
    assert len(task_io._PIECES) <= 100
    while task_io._skip[0]:  # read one by one for a while, then the pieces again
        assert task_io._hunk_records(data)[0] == recs
    assert task_io._hunk_records(data)[0] == recs


@given(st.lists(any_record, max_size=30), st.sampled_from([0, 2]))
def test_roundtrip_keeps_types(recs, level):
    data = write(recs, compression_level=level, min_hunk_size=64)
    assert typed(read(data)) == typed(recs)


def test_records_before_a_bad_one_are_read_first():
    good = _dump_kv(b'ab', 1) + _dump_kv(b'cd', 2)
    data = good + b'\x80garbage'
    payload = zlib.compress(data, 2)
    hunk = struct.pack('<BBIQ', 129, 1, zlib.crc32(data) & 0xffffffff, len(payload)) + payload
    it = iter(disco_input_stream(io.BytesIO(hunk), len(hunk), 'test://x'))
    assert next(it) == (b'ab', 1) and next(it) == (b'cd', 2)
    with pytest.raises(type(unpickled(data)[1])):
        next(it)


def test_output_size_and_directories(tmp_path):
    """task_io.Output makes missing directories, and its size is the renamed file's,
    with the standard chain (known from the AtomicFile) and a custom one (stat)."""
    from discolite.worker.task_io import Output

    def plain_file(stream, partition, url, params):
        return open(url, 'wb')

    def raw_out(stream, partition, url, params):
        class Add(object):
            def add(self, k, v):
                stream.write(b'%s=%s;' % (k, v))

            def close(self):
                pass
        return Add()

    for n, streams in enumerate([(task_output_stream, disco_output_stream),
                                 (plain_file, raw_out)]):
        path = str(tmp_path / ('a%d' % n) / 'b' / 'out')
        out = Output((path, 'part', 3), streams, None)
        out.add(b'k', b'v')
        out.close()
        assert out.size == os.path.getsize(path) > 0 and out.label == 3
        assert not os.path.exists(path + '.partial')
        out.close()
        assert out.size == os.path.getsize(path)


def test_atomic_file_in_a_place_that_is_not_a_directory(tmp_path):
    (tmp_path / 'f').write_bytes(b'')
    with pytest.raises(OSError):
        AtomicFile(str(tmp_path / 'f' / 'out'))


def test_free_space_is_asked_again_when_it_may_have_run_out(tmp_path, monkeypatch):
    """ensure_free_space: a task's next outputs skip the question only while the disk
    had plenty; a disk short of space is asked for every file."""
    from discolite import fileutils
    path = str(tmp_path / 'out')
    fileutils.ensure_free_space(path)  # plenty here (a test machine has > 64 MiB free)
    free = os.statvfs(str(tmp_path)).f_bavail * os.statvfs(str(tmp_path)).f_frsize
    monkeypatch.setattr(fileutils, 'MIN_DISK_SPACE', free * 2)
    with pytest.raises(DataError) as e:
        fileutils.ensure_free_space(path)
    assert 'disk space available. Task failed.' in str(e.value)
    with pytest.raises(DataError):
        AtomicFile(path)
    assert not os.path.exists(path + '.partial')


def stream_of(parts):
    """One stream of the given record lists, each written as its own small v1 stream."""
    out = io.BytesIO()
    for recs in parts:
        w = DiscoOutputStream(out)
        for rec in recs:
            w.append(rec)
        w.close()
    return out.getvalue()


hunk_contents = st.lists(st.one_of(fast_shaped, fast_shaped,
                                   st.tuples(st.binary(max_size=3), st.lists(st.integers(), max_size=2)),
                                   st.tuples(st.text(max_size=3), st.integers())), max_size=6)


@settings(max_examples=200)
@given(st.lists(hunk_contents, min_size=1, max_size=4), st.lists(st.integers(0, 3), max_size=12))
def test_repeated_small_hunks_read_as_without_the_memo(kinds, order):
    data = stream_of([kinds[i % len(kinds)] for i in order] + kinds)
    with_memo = list(disco_input_stream(io.BytesIO(data), len(data), 'x'))
    saved = task_io.HUNK_MEMO_BYTES
    task_io.HUNK_MEMO_BYTES = -1
    try:
        without = list(disco_input_stream(io.BytesIO(data), len(data), 'x'))
    finally:
        task_io.HUNK_MEMO_BYTES = saved
    assert typed(with_memo) == typed(without)
    # records the unpickler makes (here: lists) are never shared between hunks
    mutable = [v for _k, v in with_memo if isinstance(v, list)]
    assert len(set(map(id, mutable))) == len(mutable)


def test_memoised_hunk_does_not_hide_a_corrupt_copy():
    good = stream_of([[(b'ab', 1)] * 50])
    assert list(disco_input_stream(io.BytesIO(good), None, 'x')) == [(b'ab', 1)] * 50
    bad = bytearray(good)
    bad[2] ^= 1   # the checksum of the first hunk
    with pytest.raises(DataError, match='Checksum'):
        list(disco_input_stream(io.BytesIO(bytes(bad)), None, 'x'))
    twice = good[:-len(stream_of([[]]))] + good
    assert list(disco_input_stream(io.BytesIO(twice), None, 'x')) == [(b'ab', 1)] * 100
    assert len(task_io._HUNK_MEMO) >= 1
