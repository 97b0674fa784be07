"""Netstring blocks (``disco.worker.classic.netstring``): how ``ext_params`` reach an
external program.  A block is ``"<total length>\\n"`` followed by one
``"<len k> <k> <len v> <v>\\n"`` per pair (lengths in bytes)."""

MAX_LEN_STRING = 10          # digits of a length
MAX_PACKET_LEN = 1024 ** 3


class NetStringError(Exception):
    pass


def _bytes(x):
    if isinstance(x, bytes):
        return x
    return str(x).encode('utf-8')


def encode_netstring_str(d):
    """The pairs of an iterable of ``(key, value)`` as netstrings (bytes)."""
    out = []
    for k, v in d:
        k, v = _bytes(k), _bytes(v)
        out.append(b'%d %s %d %s\n' % (len(k), k, len(v), v))
    return b''.join(out)


def encode_netstring_fd(d):
    """A dict as a length-prefixed netstring block (bytes)."""
    msg = encode_netstring_str(d.items())
    return b'%d\n%s' % (len(msg), msg)


def _read_string(msg, i):
    """``(string, next index)`` of the netstring at ``msg[i:]``."""
    space = msg.find(b' ', i, i + MAX_LEN_STRING + 1)
    if space == -1:
        raise NetStringError("Length of a netstring is missing or too long")
    try:
        n = int(msg[i:space])
    except ValueError:
        raise NetStringError("Invalid netstring length: %r" % msg[i:space])
    start = space + 1
    end = start + n
    if n < 0 or end >= len(msg) + (0 if n else 1):
        raise NetStringError("Netstring is truncated")
    return msg[start:end], end + 1


def decode_netstring_str(msg):
    """The ``(key, value)`` pairs of netstring bytes (or str)."""
    msg = _bytes(msg)
    pairs = []
    i = 0
    while i < len(msg):
        k, i = _read_string(msg, i)
        v, i = _read_string(msg, i)
        pairs.append((k, v))
    return pairs


def decode_netstring_fd(fd):
    """Read one block from a binary file: a dict of bytes."""
    line = fd.readline()
    if not line:
        raise EOFError()
    try:
        n = int(line)
    except ValueError:
        raise NetStringError("Invalid netstring block length: %r" % line[:MAX_LEN_STRING])
    if n < 0 or n > MAX_PACKET_LEN:
        raise NetStringError("Netstring block too long: %d" % n)
    block = fd.read(n)
    if len(block) != n:
        raise EOFError()
    return dict(decode_netstring_str(block))
