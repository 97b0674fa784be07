"""Record formats, readers, writers and stream chains (``disco.worker.task_io``).

The internal format (v1) is a sequence of hunks: a ``'<BBIQ'`` header
(``128 + version``, compressed flag, CRC-32 of the uncompressed payload,
payload length) followed by the payload, ``zlib.compress(data, level)`` when
compressed. ``data`` is the concatenation of ``pickle.dumps((k, v), 1)``.
A zero-length hunk terminates the stream.
"""
import io
import itertools
import os
import pickle
import re
import struct
import sys
import zlib
from pickle import UnpicklingError

from discolite.error import DataError
from discolite.util import argcount, schemesplit

__all__ = ['re', 'pickle_loads', 'pickle_dumps', 'bytes_to_str', 'str_to_bytes', 'sort_cmd',
           'persistent_hash', 'DataError', 'UnpicklingError',
           'gzip_reader', 'gzip_line_reader', 'task_input_stream', 'string_input_stream',
           'task_output_stream', 'disco_output_stream', 'disco_input_stream', 'chain_reader',
           'old_netstr_reader', 're_reader', 'input_stream', 'output_stream', 'OutputStream',
           'InputStream', 'DiscoPlainOut', 'plain_output_stream', 'StreamCombiner',
           'chain_stream', 'default_stream', 'gzip_stream', 'gzip_line_stream',
           'DiscoOutputStream', 'DiscoOutputStream_v0', 'DiscoOutputStream_v1']

HUNK_SIZE = 1024 * 1024
HEADER = struct.Struct('<BBIQ')
REST_HEADER = struct.Struct('<BIQ')


# ----------------------------------------------------------------------------
# compat helpers (disco.compat)

def pickle_loads(data):
    """``pickle.loads``."""
    return pickle.loads(data)


def pickle_dumps(data, protocol=None):
    """``pickle.dumps``."""
    return pickle.dumps(data, protocol)


def bytes_to_str(b):
    """Decode UTF-8 bytes (str passes through)."""
    return b.decode('utf-8') if isinstance(b, (bytes, bytearray)) else b


def str_to_bytes(s):
    """Encode a str as UTF-8 (bytes pass through)."""
    return s.encode('utf-8') if isinstance(s, str) else s


# Disco's md5-based hash (not CRC-32) and its sort command, shared with disco.compat.
from discolite.compat import persistent_hash, sort_cmd  # noqa: E402


# ----------------------------------------------------------------------------
# fast protocol-1 pickling of common records
#
# pickle.dumps((k, v), 1) of a bytes key goes through ``_codecs.encode`` and costs ~1.5 us.
# _dump_kv builds byte-identical output for the hot shapes (bytes key of 2+ bytes with an
# int/None/str/bytes/float value) and falls back to pickle.dumps for everything else.
# tests/unit/test_task_io.py checks the equivalence with hypothesis.

_pack_I = struct.Struct('<I').pack
_pack_H = struct.Struct('<H').pack
_pack_i = struct.Struct('<i').pack
_pack_d = struct.Struct('>d').pack
_BKEY_HEAD = b'(c_codecs\nencode\nq\x00(X'
_BKEY_TAIL = b'q\x01X\x06\x00\x00\x00latin1q\x02tq\x03Rq\x04'
_BVAL_HEAD = b'h\x00(X'
_BVAL_TAIL = b'h\x02tq\x06Rq\x07tq\x08.'
_dumps = pickle.dumps


class UnserializableRecord(TypeError):
    """A task output record that pickle cannot store (a FATAL error: retrying cannot help)."""

    def __init__(self, key, value, exc):
        k = repr(key)
        k = k if len(k) <= 80 else k[:77] + '...'
        super().__init__(
            "Cannot serialize the output record with key %s and a value of type %s: %s: %s. "
            "Records are pickled, so keys and values must be picklable (not lambdas, local "
            "functions, sockets, open files, locks, generators...)."
            % (k, type(value).__name__, type(exc).__name__, exc))


def _dump_kv(k, v):
    """``pickle.dumps((k, v), 1)``, faster for bytes keys."""
    if type(k) is not bytes or len(k) < 2:
        return _dumps((k, v), 1)
    ks = k if k.isascii() else k.decode('latin-1').encode('utf-8')
    tv = type(v)
    if tv is int:
        if 0 <= v < 256:
            vb = b'K' + bytes((v,))
        elif 0 <= v < 65536:
            vb = b'M' + _pack_H(v)
        elif -2147483648 <= v < 2147483648:
            vb = b'J' + _pack_i(v)
        else:
            return _dumps((k, v), 1)
        return b''.join((_BKEY_HEAD, _pack_I(len(ks)), ks, _BKEY_TAIL, vb, b'tq\x05.'))
    if tv is bytes:
        if len(v) < 2 or v is k:
            return _dumps((k, v), 1)
        vs = v if v.isascii() else v.decode('latin-1').encode('utf-8')
        return b''.join((_BKEY_HEAD, _pack_I(len(ks)), ks, _BKEY_TAIL,
                         _BVAL_HEAD, _pack_I(len(vs)), vs, b'q\x05', _BVAL_TAIL))
    if v is None:
        return b''.join((_BKEY_HEAD, _pack_I(len(ks)), ks, _BKEY_TAIL, b'Ntq\x05.'))
    if tv is float:
        return b''.join((_BKEY_HEAD, _pack_I(len(ks)), ks, _BKEY_TAIL, b'G', _pack_d(v),
                         b'tq\x05.'))
    if tv is str and v != 'latin1' and len(v) > 1:
        try:
            vs = v.encode('utf-8')
        except UnicodeEncodeError:
            return _dumps((k, v), 1)
        return b''.join((_BKEY_HEAD, _pack_I(len(ks)), ks, _BKEY_TAIL, b'X', _pack_I(len(vs)),
                         vs, b'q\x05tq\x06.'))
    return _dumps((k, v), 1)


# The pickles of recent (str or bytes key, int value) records: the records of a word count
# repeat, and a dict lookup costs a tenth of pickling one.
_KV = {}
KV_MEMO_SIZE = 1 << 13
KV_MEMO_KEY = 128  # longer keys are not kept


def _memo_kv(k, v):
    try:
        data = _dump_kv(k, v)
    except Exception as e:
        raise UnserializableRecord(k, v, e) from None
    if len(k) <= KV_MEMO_KEY:
        if len(_KV) >= KV_MEMO_SIZE:
            _KV.clear()
        _KV[k, v] = data
    return data


class _Unpickler(pickle.Unpickler):
    """Unpickler with a fast path for the ``_codecs.encode`` global of protocol-1 bytes."""

    def find_class(self, module, name):
        if module == '_codecs' and name == 'encode':
            return _codecs_encode
        return super().find_class(module, name)


from _codecs import encode as _codecs_encode  # noqa: E402


# ----------------------------------------------------------------------------
# writers

class DiscoOutputStream_v0(object):
    """Version 0 ("netstring") writer: ``"%d %s %d %s\\n" % (len(k), k, len(v), v)`` per record."""

    def __init__(self, stream):
        self.stream = stream
        self.size = 0

    def add(self, k, v):
        k = str_to_bytes(str(k) if not isinstance(k, (bytes, str)) else k)
        v = str_to_bytes(str(v) if not isinstance(v, (bytes, str)) else v)
        data = b'%d %s %d %s\n' % (len(k), k, len(v), v)
        self.stream.write(data)
        self.size += len(data)

    def append(self, record):
        k, v = record
        self.add(k, v)

    def close(self):
        pass


class DiscoOutputStream(object):
    """Writes Disco's internal format (v1 hunks; ``version=0`` writes netstrings).

    ``add(k, v)``/``append((k, v))`` buffer ``pickle.dumps(rec, 1)``; a hunk is flushed once
    the buffer passes ``min_hunk_size``. ``close()`` flushes pending data and always writes the
    empty terminator hunk. ``size`` counts the bytes written to ``stream``.
    """

    def __init__(self, stream, version=1, compression_level=2, min_hunk_size=HUNK_SIZE,
                 max_record_size=None):
        self.stream = stream
        self.version = version
        self.compression_level = compression_level
        self.min_hunk_size = min_hunk_size
        self.max_record_size = max_record_size
        self.size = 0
        self.hunk_size = 0
        self._parts = []
        self._closed = False
        if version == 0:
            self._v0 = DiscoOutputStream_v0(stream)
            self.add = self._add_v0
            self.append = self._v0.append

    def _add_v0(self, k, v):
        self._v0.add(k, v)
        self.size = self._v0.size

    def add(self, k, v):
        """Append the record ``(k, v)`` (the per-record hot path, hence not via hunk_write)."""
        if type(v) is int and (type(k) is bytes or type(k) is str):
            data = _KV.get((k, v))  # (the exact types: 1 == True and b'' != '')
            if data is None:
                data = _memo_kv(k, v)
        else:
            try:
                data = _dump_kv(k, v)
            except Exception as e:
                raise UnserializableRecord(k, v, e) from None
        n = len(data)
        if self.max_record_size and n > self.max_record_size:
            self._too_large(n)
        self._parts.append(data)
        self.hunk_size += n
        if self.hunk_size > self.min_hunk_size:
            self.flush()

    def append(self, record):
        """Append ``record`` (usually a ``(k, v)`` tuple)."""
        if type(record) is tuple and len(record) == 2:
            return self.add(record[0], record[1])
        try:
            data = pickle.dumps(record, 1)
        except Exception as e:
            raise UnserializableRecord(record, None, e) from None
        self.hunk_write(data)

    def hunk_write(self, data):
        """Append already pickled record bytes to the current hunk."""
        n = len(data)
        if self.max_record_size and n > self.max_record_size:
            self._too_large(n)
        self._parts.append(bytes(data))
        self.hunk_size += n
        if self.hunk_size > self.min_hunk_size:
            self.flush()

    def _too_large(self, n):
        raise ValueError("Record of size %d is larger than max_record_size: %d"
                         % (n, self.max_record_size))

    def flush(self):
        """Write the buffered records as one hunk (an empty buffer writes the terminator)."""
        if self.version == 0:
            return
        data = b''.join(self._parts)
        self._parts = []
        self.hunk_size = 0
        checksum = zlib.crc32(data) & 0xffffffff
        if self.compression_level > 0:
            if data:
                payload = zlib.compress(data, self.compression_level)
            else:  # the terminator: zlib sets up a 256 KB state to compress nothing
                payload = _EMPTY.get(self.compression_level)
                if payload is None:
                    payload = _EMPTY[self.compression_level] = zlib.compress(
                        data, self.compression_level)
            flag = 1
        else:
            payload = data
            flag = 0
        header = HEADER.pack(128 + self.version, flag, checksum, len(payload))
        self.stream.write(header)
        self.stream.write(payload)
        self.size += len(header) + len(payload)

    def close(self):
        """Flush pending records, then write the empty terminator hunk (once)."""
        if self._closed:
            return
        self._closed = True
        if self.version == 0:
            return
        if self.hunk_size or self._parts:
            self.flush()
        self.flush()


DiscoOutputStream_v1 = DiscoOutputStream


_EMPTY = {}  # compression level -> zlib.compress(b'', level)


class OutputStream(object):
    """What an output stream chain returns: an object with ``add(key, value)`` and ``close()``."""

    def add(self, key, value):
        raise NotImplementedError

    def close(self):
        pass


class InputStream(object):
    """What an input stream chain returns: iterable over entries, optionally ``read(n)``."""

    def __iter__(self):
        raise NotImplementedError

    def read(self, num_bytes=None):
        raise NotImplementedError


class DiscoPlainOut(object):
    """Writes records as version-0 netstrings (``str()`` of key and value)."""

    def __init__(self, stream):
        self.stream = DiscoOutputStream_v0(stream)

    def add(self, k, v):
        self.stream.add(str(k), str(v))

    def close(self):
        self.stream.close()


def plain_output_stream(stream, partition, url, params):
    """Output stream: wrap ``stream`` in a :class:`DiscoPlainOut`."""
    return DiscoPlainOut(stream)


def disco_output_stream(stream, partition, url, params):
    """Output stream: wrap ``stream`` in a v1 :class:`DiscoOutputStream`; returns ``(out, url)``."""
    return DiscoOutputStream(stream), url


def task_output_stream(stream, partition, url, params):
    """Output stream: open ``url`` (a local path) as an :class:`AtomicFile`."""
    from discolite.fileutils import AtomicFile
    return AtomicFile(url)


def output_stream(stream, partition, url, params):
    """Documentation stub: an output stream takes ``(stream, partition, url, params)``."""
    return stream, url


def input_stream(stream, size, url, params):
    """Documentation stub: an input stream takes ``(stream, size, url, params)``."""
    return stream, size, url


# ----------------------------------------------------------------------------
# readers

def _readn(stream, n):
    data = stream.read(n)
    if data is None:
        data = b''
    if len(data) >= n or not data:
        return data
    parts = [data]
    got = len(data)
    while got < n:
        more = stream.read(n - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b''.join(parts)


def disco_input_stream(stream, size, url, ignore_corrupt=False):
    """The records of a v1 stream (or a v0 netstring stream, detected by its first byte).

    An iterator: each hunk is decoded as a whole and its records handed on by
    ``itertools.chain``, so a record costs no generator frame of its own.
    """
    return itertools.chain.from_iterable(_hunks(stream, size, url, ignore_corrupt))


def _hunks(stream, size, url, ignore_corrupt):
    """The records of each hunk as a list (a v0 stream: one reader of every record)."""
    offset = 0
    unpack = REST_HEADER.unpack
    crc32 = zlib.crc32
    decompress = zlib.decompress
    while True:
        first = stream.read(1)
        if not first:
            return
        if isinstance(first, str):
            first = first.encode('latin-1')
        if first[0] < 128:
            yield old_netstr_reader(stream, size, url, head=first)
            return
        rest = _readn(stream, 13)
        if len(rest) < 13:
            raise DataError("Truncated data at {0} bytes".format(offset), url)
        is_compressed, checksum, hunk_size = unpack(rest)
        if not hunk_size:
            return
        start = offset
        offset += 14 + hunk_size
        hunk = _readn(stream, hunk_size)
        if len(hunk) < hunk_size:
            if ignore_corrupt:
                return
            raise DataError("Truncated data at {0} bytes".format(start + 14 + len(hunk)), url)
        memo_key = None
        if hunk_size <= HUNK_MEMO_BYTES:
            memo_key = rest + hunk
            records = _HUNK_MEMO.get(memo_key)
            if records is not None:
                yield records
                continue
        try:
            data = decompress(hunk) if is_compressed else hunk
            if checksum != (crc32(data) & 0xffffffff):
                raise ValueError("Checksum does not match")
        except (ValueError, zlib.error) as e:
            if ignore_corrupt:
                continue
            raise DataError("Corrupted data between bytes {0}-{1}: {2}"
                            .format(start, start + 14 + hunk_size, e), url)
        records = _piece_records(data)
        if records is None:
            records, error = _hunk_records_each(data)
            if error is not None:
                yield records
                raise error  # after the records before it, as a record-by-record reader
            if records:
                memo_key = None   # records the unpickler made may be mutable: not shared
        if memo_key is not None:
            _memo_hunk(memo_key, records)
        yield records


# Small hunks seen again, byte for byte (header included), give the same records: a job
# of many small map tasks with the same output (Disco's test_50k: 50,000 hunks of 200
# identical records per label, and as many end-of-stream hunks) decodes each kind once.
# Only records of immutable tuples (bytes key, int value) are kept, so sharing them is
# invisible; the memo is bounded in entries and records.
HUNK_MEMO_BYTES = 4096
HUNK_MEMO_RECORDS = 1 << 18
_HUNK_MEMO = {}
_memo_size = [0]


def _memo_hunk(key, records):
    if _memo_size[0] + len(records) > HUNK_MEMO_RECORDS or len(_HUNK_MEMO) >= 1024:
        _HUNK_MEMO.clear()
        _memo_size[0] = 0
    _HUNK_MEMO[key] = records
    _memo_size[0] += len(records)


_unpack_I_from = struct.Struct('<I').unpack_from
_unpack_H_from = struct.Struct('<H').unpack_from
_unpack_i_from = struct.Struct('<i').unpack_from
_REC_END = b'tq\x05.'


class _Invalid(Exception):
    pass


class _Pieces(dict):
    """Record tuples by the bytes of their fast-shaped pickle between two separators.

    Equal bytes decode to equal records, and a record tuple of a bytes key and an int
    value is immutable, so one tuple serves every repeat: a word count's partitions
    repeat a few records millions of times."""
    __slots__ = ()

    def __missing__(self, piece):
        # piece: <key length><key><_BKEY_TAIL><K x | M xx | J xxxx>
        n = len(piece)
        if n < 4:
            raise _Invalid()
        k1 = 4 + _unpack_I_from(piece, 0)[0]
        v = k1 + len(_BKEY_TAIL)
        if v >= n or not piece.startswith(_BKEY_TAIL, k1):
            raise _Invalid()
        op = piece[v]
        if op == 75 and n == v + 2:
            value = piece[v + 1]
        elif op == 77 and n == v + 3:
            value = _unpack_H_from(piece, v + 1)[0]
        elif op == 74 and n == v + 5:
            value = _unpack_i_from(piece, v + 1)[0]
        else:
            raise _Invalid()
        key = piece[4:k1]
        if not key.isascii():
            raise _Invalid()
        if len(self) >= PIECES_SIZE:
            self.clear()
        _misses[0] += 1
        record = self[piece] = (key, value)
        return record


_PIECES = _Pieces()
PIECES_SIZE = 1 << 15
_SEP = _REC_END + _BKEY_HEAD
_misses = [0]
_skip = [0]  # hunks to read record after record before the pieces are tried again


def _hunk_records(data):
    """``(records, error)``: the records pickled in ``data``, up to the first that fails.

    A hunk made only of records of the shape ``_dump_kv`` writes fastest (an ASCII
    bytes key with an int value, each ``<head><length><key><tail><value><end>``) is
    split at the ``<end><head>`` between records; when every piece has that shape the
    pieces are the records, in order (a key that contains the separator splits into
    pieces whose length prefix does not fit them).  Anything else is read record after
    record by :func:`_hunk_records_each`.
    """
    records = _piece_records(data)
    if records is not None:
        return records, None
    return _hunk_records_each(data)


def _piece_records(data):
    """The records of ``data`` split at the separators (see :func:`_hunk_records`), or
    None when it is not made only of fast-shaped records (or is not worth trying)."""
    if _skip[0]:
        _skip[0] -= 1
    elif data.startswith(_BKEY_HEAD) and data.endswith(_REC_END):
        pieces = data[len(_BKEY_HEAD):len(data) - len(_REC_END)].split(_SEP)
        before = _misses[0]
        try:
            records = list(map(_PIECES.__getitem__, pieces))
        except _Invalid:
            _skip[0] = 16
        else:
            if (_misses[0] - before) * 4 > len(records):  # mostly new records: not worth it
                _skip[0] = 16
            return records
    return None


def _hunk_records_each(data):
    """``(records, error)``: the records pickled in ``data``, up to the first that fails.

    Records of the shape ``_dump_kv`` writes fastest (an ASCII bytes key with an int
    value) are decoded from their known bytes; from the first record of any other
    shape on, the unpickler reads the rest of the hunk.  Every record is a pickle of
    its own, so both give the same records.
    """
    out = []
    append = out.append
    last = pos = 0
    end = len(data)
    head, tail = _BKEY_HEAD, _BKEY_TAIL
    key_at, tail_len = len(head) + 4, len(tail)
    startswith = data.startswith
    unpack_I, unpack_H, unpack_i = _unpack_I_from, _unpack_H_from, _unpack_i_from
    try:
        while pos < end:
            if not startswith(head, pos):
                break
            k0 = pos + key_at
            if k0 > end:
                break
            k1 = k0 + unpack_I(data, k0 - 4)[0]
            if not startswith(tail, k1):
                break
            v = k1 + tail_len
            if v + 9 > end:  # near the end: the unpickler tells a truncated record apart
                break
            op = data[v]
            if op == 75:  # K: 0..255
                value, stop = data[v + 1], v + 2
            elif op == 77:  # M: 256..65535
                value, stop = unpack_H(data, v + 1)[0], v + 3
            elif op == 74:  # J: a 4-byte signed int
                value, stop = unpack_i(data, v + 1)[0], v + 5
            else:
                break
            key = data[k0:k1]
            if not startswith(_REC_END, stop) or not key.isascii():
                break
            append((key, value))
            last, pos = pos, stop + 4
        if pos < end:
            f = io.BytesIO(data)
            f.seek(last)
            load = _Unpickler(f).load
            if out:  # read the last record again: its memo is the one the rest may refer to
                load()
            while True:
                append(load())
    except EOFError:
        pass
    except Exception as e:
        return out, e
    return out, None


chain_reader = disco_input_stream


def _decode(b):
    try:
        return b.decode('utf-8')
    except UnicodeDecodeError:
        return b.decode('latin-1')


def old_netstr_reader(fd, size, fname, head=b''):
    """Read version-0 netstrings (``<len> <key> <len> <value>\\n``), yielding str pairs.

    Reads ``size`` bytes when given, else until EOF.
    """
    buf = bytearray(head)
    pos = 0
    tot = 0
    eof = False

    def fill(need):
        nonlocal buf, pos, eof
        while len(buf) - pos < need and not eof:
            if pos:
                del buf[:pos]
                pos = 0
            r = fd.read(max(65536, need))
            if not r:
                eof = True
                break
            buf += r if isinstance(r, (bytes, bytearray)) else r.encode('utf-8')
        return len(buf) - pos >= need

    def netstr():
        nonlocal pos, tot
        fill(11)
        i = buf.find(b' ', pos, pos + 11)
        if i == -1:
            raise DataError("Corrupted input: Could not parse a value length at {0} bytes."
                            .format(tot), fname)
        try:
            n = int(buf[pos:i])
        except ValueError:
            raise DataError("Corrupted input: Could not parse a value length at {0} bytes."
                            .format(tot), fname)
        tot += i + 1 - pos
        pos = i + 1
        if not fill(n + 1):
            raise DataError("Truncated input: Expected a value of {0} bytes (offset {1} bytes)"
                            .format(n + 1, tot), fname)
        value = bytes(buf[pos:pos + n])
        pos += n + 1
        tot += n + 1
        return value

    while size is None or tot < size:
        if not fill(1):
            if size is not None and tot < size:
                raise DataError("Truncated input: Expected {0} bytes, got {1}".format(size, tot),
                                fname)
            return
        k = netstr()
        v = netstr()
        yield _decode(k), _decode(v)


def re_reader(item_re_str, fd, size, fname, output_tail=False, read_buffer_size=8192):
    """Apply ``regex.match`` repeatedly to a read buffer and yield ``m.groups()``."""
    item_re = item_re_str if hasattr(item_re_str, 'match') else None
    buf = None
    tot = 0
    while True:
        if size:
            r = fd.read(min(read_buffer_size, size - tot))
        else:
            r = fd.read(read_buffer_size)
        if buf is None:
            buf = r[:0] if r else b''
            if item_re is None:
                pat = item_re_str
                if isinstance(buf, (bytes, bytearray)) and isinstance(pat, str):
                    pat = pat.encode('utf-8')
                elif isinstance(buf, str) and isinstance(pat, bytes):
                    pat = pat.decode('utf-8')
                item_re = re.compile(pat)
        tot += len(r)
        buf += r
        m = item_re.match(buf)
        while m:
            yield m.groups()
            buf = buf[m.end():]
            m = item_re.match(buf)
        if not len(r) or (size is not None and tot >= size):
            if size is not None and tot < size:
                raise DataError("Truncated input: Expected {0} bytes, got {1}".format(size, tot),
                                fname)
            if len(buf):
                if output_tail:
                    yield [buf]
                else:
                    print("Couldn't match the last {0} bytes in {1}. "
                          "Some bytes may be missing from input.".format(len(buf), fname))
            break


def gzip_reader(fd, size, url, params):
    """Wrap the input in a :class:`gzip.GzipFile`."""
    import gzip
    return gzip.GzipFile(fileobj=fd), size, url


def gzip_line_reader(fd, size, url, params):
    """Yield the lines of a gzip stream; on error print it and stop."""
    import gzip
    try:
        for line in gzip.GzipFile(fileobj=fd):
            yield line
    except Exception as e:
        print(e)


def string_input_stream(string, size, url, params):
    """Input stream over a string: ``(StringIO(string), len(string), url)``."""
    if isinstance(string, (bytes, bytearray)):
        return io.BytesIO(string), len(string), url
    return io.StringIO(string), len(string), url


def task_input_stream(stream, size, url, params):
    """Open ``url`` with ``discolite.schemes.scheme_<scheme>.input_stream`` (no scheme: file)."""
    scheme, _rest = schemesplit(url)
    scheme = scheme or 'file'
    if not scheme.replace('_', '').isalnum():
        raise DataError("Unsupported URL scheme '{0}'".format(scheme), url)
    modname = 'discolite.schemes.scheme_%s' % scheme
    try:
        mod = __import__(modname, fromlist=['input_stream'])
    except ModuleNotFoundError as e:
        if e.name != modname:
            raise
        raise DataError("Unsupported URL scheme '{0}'".format(scheme), url)
    return mod.input_stream(stream, size, url, params)


# ----------------------------------------------------------------------------
# stream chains

class StreamCombiner(object):
    """Apply a chain of stream functions; iterating it iterates the last fd.

    Each function is called as ``f(fd, size, url)`` or, when it takes 4 arguments,
    ``f(fd, size, url, params)``, and may return ``(fd, size, url)``, ``(fd, url)``
    or a new fd. Attribute access is delegated to the last fd; ``close()`` closes
    every fd in reverse order.
    """

    def __init__(self, url, streams, params):
        self.fds = []
        self.url = url
        fd = sys.stdin if url == '-' else None
        size = None
        for stream in streams:
            if argcount(stream) == 4:
                fd = stream(fd, size, url, params)
            else:
                fd = stream(fd, size, url)
            if isinstance(fd, tuple):
                if len(fd) == 3:
                    fd, size, url = fd
                elif len(fd) == 2:
                    fd, url = fd
            self.fds.append(fd)
        self.size = size
        self.url = url

    def __iter__(self):
        return iter(self.fds[-1])

    def __getattr__(self, attr):
        if attr in ('fds', 'url', 'size') or not self.__dict__.get('fds'):
            raise AttributeError(attr)
        return getattr(self.fds[-1], attr)

    def close(self):
        for fd in reversed(self.fds):
            close = getattr(fd, 'close', None)
            if close is not None:
                close()


chain_stream = (task_input_stream, chain_reader)
default_stream = (task_input_stream,)
gzip_stream = (task_input_stream, gzip_reader)
gzip_line_stream = (task_input_stream, gzip_line_reader)


class Output(object):
    """One lazily opened output of a task: ``add(k, v)`` writes a record."""

    def __init__(self, path_type_label, streams, params):
        self.path, self.type, self.label = path_type_label
        from discolite.fileutils import make_dir
        make_dir(os.path.dirname(self.path) or '.')
        self.combiner = StreamCombiner(self.path, streams, params)
        self.file = self.combiner.fds[-1]
        self.add = self.file.add
        self.size = 0
        self.closed = False

    def close(self):
        if not self.closed:
            self.closed = True
            self.combiner.close()
            from discolite.fileutils import AtomicFile
            first = self.combiner.fds[0] if self.combiner.fds else None
            if isinstance(first, AtomicFile) and first.path == self.path and \
                    first.final_size is not None:
                self.size = first.final_size  # what it renamed into place
            else:
                self.size = os.path.getsize(self.path)


def replica_records(replicas, streams, params, on_failure=None):
    """Records of one input given as replica URLs, failing over on DataError.

    Records already yielded from a failed replica are skipped by position in the
    next one, so reading resumes at the same record (Disco's result_iterator rule).
    ``on_failure(url, error)`` is called for each failed replica.  When every
    replica fails: ``DataError("Exhausted all available replicas, last error
    was:\\n\\n<traceback>", <every url>)``.
    """
    import traceback
    if len(replicas) == 1:  # nothing to fail over to: no per-record bookkeeping
        stream = StreamCombiner(replicas[0], streams, params)
        try:
            yield from stream
        finally:
            stream.close()
        return
    yielded = 0
    last = None
    for url in replicas:
        try:
            stream = StreamCombiner(url, streams, params)
            try:
                for n, record in enumerate(stream):
                    if n >= yielded:
                        yielded += 1
                        yield record
            finally:
                stream.close()
            return
        except DataError as e:
            last = traceback.format_exc()
            if on_failure is not None:
                on_failure(url, e)
    message = "Exhausted all available replicas"
    if last:
        message += ", last error was:\n\n%s" % last
    raise DataError(message, ' '.join(replicas))
