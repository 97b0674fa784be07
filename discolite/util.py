"""Disco's ``disco.util`` helpers (stdlib only: this module runs inside tasks).

Besides Disco's helpers this module holds discolite's local-data registry
(:func:`register_local_root`, :func:`local_path`), OOB access for both the
in-process master (``local://<root>``) and HTTP masters (:func:`load_oob`,
:func:`save_oob`) and a pure-Python bounded-memory external sort
(:func:`disk_sort`).
"""
import functools
import gzip
import heapq
import itertools
import os
import pickle
import random
import struct
import tempfile
import threading
from hashlib import md5
from itertools import chain, groupby, repeat

from discolite.compat import (basestring, bytes_to_str, pickle_dumps, pickle_loads,  # noqa: F401
                              sort_cmd, str_to_bytes)  # importable from here, as on Disco
from discolite.error import CommError, DataError, DiscoError
from discolite.settings import DiscoSettings


# ----------------------------------------------------------------------------
# small iteration helpers

def key(kv):
    """Return ``kv[0]``."""
    return kv[0]


def identity(x):
    """Return ``x``."""
    return x


def kvgroup(kviter):
    """Group runs of consecutive equal keys: yields ``(k, generator_of_values)``. Does not sort."""
    for k, kvs in groupby(kviter, key):
        yield k, (v for _k, v in kvs)


def isiterable(x):
    """True when ``x`` has ``__iter__`` and is not a str (bytes count as iterable)."""
    return hasattr(x, '__iter__') and not isinstance(x, str)


def iterify(x):
    """Return ``x`` when it is iterable (and not str), else ``repeat(x, 1)``."""
    if isiterable(x):
        return x
    return repeat(x, 1)


def listify(x):
    """``list(iterify(x))``."""
    return list(iterify(x))


def flatten(iterable):
    """Recursively flatten nested iterables; strings stay whole, bytes split into ints."""
    for item in iterable:
        if isiterable(item):
            for subitem in flatten(item):
                yield subitem
        else:
            yield item


def chainify(iterable):
    """``list(itertools.chain(*iterable))``."""
    return list(chain(*iterable))


def hexhash(b):
    """``md5(b).hexdigest()[:2]``; ``b`` must be bytes."""
    return md5(b).hexdigest()[:2]


def iskv(x):
    """True for a tuple of length 2."""
    return isinstance(x, tuple) and len(x) == 2


def kvify(e):
    """Return ``e`` if it is a (k, v) tuple, else ``(e, None)``."""
    return e if iskv(e) else (e, None)


def ilen(it):
    """Number of items in ``it`` (consumes it)."""
    return sum(1 for _ in it)


def partition(iterable, fn):
    """Split ``iterable`` into ``(trues, falses)`` according to ``fn``."""
    t, f = [], []
    for x in iterable:
        (t if fn(x) else f).append(x)
    return t, f


def shuffled(x):
    """A shuffled copy of ``x`` as a list."""
    x = list(x)
    random.shuffle(x)
    return x


def argcount(f):
    """Number of positional parameters ``f`` takes (partials subtract bound args and keywords)."""
    if isinstance(f, functools.partial) or (hasattr(f, 'func') and hasattr(f, 'args')
                                            and not hasattr(f, '__code__')):
        return argcount(f.func) - len(f.args or ()) - len(f.keywords or {})
    if hasattr(f, '__func__'):  # bound method: self is not counted
        return argcount(f.__func__) - (1 if getattr(f, '__self__', None) is not None else 0)
    if hasattr(f, '__code__'):
        return f.__code__.co_argcount
    if isinstance(f, type):
        return argcount(f.__init__) - 1 if hasattr(f.__init__, '__code__') else 0
    call = getattr(f, '__call__', None)
    if call is not None and hasattr(call, '__func__'):
        return argcount(call.__func__) - 1
    raise TypeError("Cannot count the arguments of %r" % (f,))


def globalize(f, globals):
    """``setdefault`` every item of ``globals`` into ``f.__globals__`` (``f.func`` for a partial)."""
    if isinstance(f, functools.partial):
        f = f.func
    g = getattr(f, '__globals__', None)
    if g is not None:
        for k, v in globals.items():
            g.setdefault(k, v)


def reify(dotted_name, globals=None):
    """Import and return the object named ``pkg.mod.name`` (a bare name is evaluated)."""
    if '.' in dotted_name:
        package, symbol = dotted_name.rsplit('.', 1)
        return getattr(__import__(package, fromlist=[symbol]), symbol)
    return eval(dotted_name, globals if globals is not None else {})


# ----------------------------------------------------------------------------
# URLs

class netloc(tuple):
    """A ``(host, port)`` tuple whose ``str()`` is ``host`` or ``host:port``."""

    def __new__(cls, hostport=('', '')):
        return super().__new__(cls, tuple(hostport))

    @classmethod
    def parse(cls, netlocstr):
        netlocstr = netlocstr.split('@', 1)[1] if '@' in netlocstr else netlocstr
        if ':' in netlocstr:
            host, port = netlocstr.split(':', 1)
            return cls((host, port))
        return cls((netlocstr, ''))

    @property
    def host(self):
        return self[0]

    @property
    def port(self):
        return self[1]

    def __bool__(self):
        host, port = self
        return bool(host or port)

    def __str__(self):
        host, port = self
        if port:
            return '{0}:{1}'.format(host, port)
        return host


def schemesplit(url):
    """``(scheme, rest)``, or ``('', url)`` when there is no ``://``."""
    if '://' in url:
        scheme, rest = url.split('://', 1)
        return scheme, rest
    return '', url


def localize(path, ddfs_data=None, disco_data=None):
    """Map a node path: ``ddfs/x`` under ``ddfs_data``; otherwise drop the first segment, under ``disco_data``."""
    prefix, fname = path.split('/', 1) if '/' in path else (path, '')
    if prefix == 'ddfs':
        if ddfs_data is None:
            ddfs_data = DiscoSettings()['DDFS_DATA']
        return os.path.join(ddfs_data, fname)
    if disco_data is None:
        disco_data = DiscoSettings()['DISCO_DATA']
    return os.path.join(disco_data, fname)


def urlsplit(url, localhost=None, disco_port=None, **kwargs):
    """Split ``url`` into ``(scheme, netloc, path)`` with Disco's ``disco://`` rewriting rules.

    ``url`` may be bytes (a line read from an input, as in Disco's test_query.py): it is
    decoded as UTF-8 first, and the parts are str."""
    if isinstance(url, (bytes, bytearray)):
        url = bytes(url).decode('utf-8')
    scheme, rest = schemesplit(url)
    locstr, path = rest.split('/', 1) if '/' in rest else (rest, '')
    if scheme == 'tag' and not path:
        locstr, path = '', locstr
    disco_port = str(disco_port or DiscoSettings()['DISCO_PORT'])
    loc = netloc.parse(locstr)
    if scheme == 'disco' or (loc.port and loc.port == disco_port):
        if localhost is True or (localhost is not None and loc.host == localhost):
            return 'file', netloc(), localize(path, **kwargs)
        if scheme == 'disco':
            scheme = 'http'
            loc = netloc((loc.host, disco_port))
    return scheme, loc, path


def urlresolve(url, master=None):
    """Resolve ``dir://``/``disco://`` to ``http://host:DISCO_PORT/...`` and ``tag://`` to the master."""
    scheme, rest = schemesplit(url)
    if scheme == 'dir':
        return urlresolve('disco://' + rest, master=master)
    if scheme == 'tag':
        _s, _loc, path = urlsplit(url)
        master = master or DiscoSettings()['DISCO_MASTER']
        return '{0}/ddfs/tag/{1}'.format(master.rstrip('/'), path)
    disco = scheme == 'disco'
    scheme, loc, path = urlsplit(url)
    if not scheme:
        return url
    if disco:
        loc = _node_netloc(loc, master)
    return '{0}://{1}/{2}'.format(scheme, loc, path)


def urljoin(scheme_netloc_path):
    """The URL of a ``(scheme, netloc, path)`` triple (the inverse of :func:`urlsplit`)."""
    scheme, loc, path = scheme_netloc_path
    return '%s%s%s' % ('%s://' % scheme if scheme else '', '%s/' % (loc,) if loc else '', path)


def urltoken(url):
    """The token of ``scheme://user:token@host/...``, or None."""
    _scheme, rest = schemesplit(url)
    locstr = rest.split('/', 1)[0]
    if '@' in locstr:
        auth = locstr.split('@', 1)[0]
        return auth.split(':', 1)[1] if ':' in auth else auth
    return None


def external(files):
    """Pack an external program (the first file) and its data files as a classic job's
    ``map`` or ``reduce`` (see ``disco.worker.classic.external``)."""
    from discolite.worker.classic.external import package
    return package(files)
_resolvable = {}


def _node_netloc(loc, master=None):
    """Where to fetch ``disco://<host>/...`` from: the host itself, or -- when the name does
    not resolve (a node emulated by a discolite master, e.g. ``node2``) -- the HTTP master,
    which serves every node's data."""
    host = loc.host
    if host not in _resolvable:
        import socket
        try:
            socket.getaddrinfo(host, None)
            _resolvable[host] = True
        except (socket.gaierror, UnicodeError, OSError):
            _resolvable[host] = False
    if _resolvable[host]:
        return loc
    master = master or DiscoSettings()['DISCO_MASTER']
    scheme, rest = schemesplit(master or '')
    if scheme not in ('http', 'https') or not rest:
        return loc
    return netloc.parse(rest.split('/', 1)[0])


def jobname(url):
    """The second-to-last path segment of a disco/dir/http URL (``.disco`` for 0.5.4 results)."""
    scheme, _loc, path = urlsplit(url)
    if scheme in ('disco', 'dir', 'http'):
        parts = path.strip('/').split('/')
        if len(parts) >= 2:
            return parts[-2]
    raise DiscoError("Cannot parse jobname from {0}".format(url))


def proxy_url(url, proxy=None, meth='GET', to_master=True):
    """Route an http URL without dots through ``DISCO_PROXY`` when one is set."""
    if proxy is None:
        proxy = DiscoSettings()['DISCO_PROXY']
    if not proxy:
        return url
    scheme, (host, port), path = urlsplit(url)
    if scheme != 'http' or '.' in url:
        return url
    if to_master:
        return '{0}/{1}'.format(proxy.rstrip('/'), path)
    return '{0}/proxy/{1}/{2}/{3}'.format(proxy.rstrip('/'), host, meth, path)


# ----------------------------------------------------------------------------
# local data roots: disco://<host>/disco/<rest> -> <disco_data>/<rest>

_roots_lock = threading.Lock()
_local_roots = []  # [(host, abs disco_data)] in registration order
_roots_of = {}  # (host, 'disco' or 'ddfs') -> local_roots(host, ...), until the roots change
_ddfs_roots = []  # [(host, abs ddfs_data)]: disco://<host>/ddfs/<rest> -> <ddfs_data>/<rest>


def register_local_root(host, disco_data, ddfs_data=None):
    """Declare that ``disco://<host>/disco/<rest>`` may be read from ``<disco_data>/<rest>``
    (and ``disco://<host>/ddfs/<rest>`` from ``<ddfs_data>/<rest>``)."""
    entry = (str(host), os.path.abspath(disco_data))
    with _roots_lock:
        _roots_of.clear()
        if entry not in _local_roots:
            _local_roots.append(entry)
        if ddfs_data:
            entry = (str(host), os.path.abspath(ddfs_data))
            if entry not in _ddfs_roots:
                _ddfs_roots.append(entry)


def unregister_local_root(disco_data):
    """Forget every registration of ``disco_data`` (and of its master's DDFS root)."""
    root = os.path.abspath(disco_data)
    ddfs = os.path.join(os.path.dirname(root), 'ddfs')
    with _roots_lock:
        _roots_of.clear()
        _local_roots[:] = [e for e in _local_roots if e[1] != root]
        _ddfs_roots[:] = [e for e in _ddfs_roots if e[1] != ddfs]


def local_roots(host=None, ddfs=False):
    """The registered data roots (for ``host``, or all), in registration order."""
    with _roots_lock:
        return [r for h, r in (_ddfs_roots if ddfs else _local_roots)
                if host is None or h == host]


def local_path(url):
    """Absolute local path of a ``disco://`` or ``dir://`` URL under a registered root, else None."""
    for candidate in _local_candidates(url):
        if os.path.exists(candidate):
            return candidate
    return None


def _local_candidates(url):
    """The paths where a ``disco://`` or ``dir://`` URL may be found locally, in order: the
    first that exists is :func:`local_path`'s answer."""
    if not isinstance(url, str):
        return
    scheme, sep, rest = url.partition('://')
    if not sep or scheme not in ('disco', 'dir'):
        return
    locstr, _, path = rest.partition('/')
    host = locstr.split('@', 1)[-1].split(':', 1)[0]  # netloc.parse(locstr).host
    kind = path.split('/', 1)[0]
    if kind not in ('disco', 'ddfs'):
        return
    relative = path[len(kind) + 1:]
    parts = relative.split('/')
    if not relative or '..' in parts:
        return
    roots = _roots_of.get((host, kind))
    if roots is None:
        with _roots_lock:  # (so that a registration cannot slip in between)
            roots = _roots_of[host, kind] = [
                r for h, r in (_ddfs_roots if kind == 'ddfs' else _local_roots) if h == host]
    for root in roots:
        yield os.path.join(root, relative)
    if parts[0] == host:
        # disco://<node>/disco/<node>/...: the data directory of another node emulated by a
        # master whose data root is registered here (every node's data is <root>/<node>/)
        for root in local_roots():
            if os.path.isdir(os.path.join(root, host)):
                yield os.path.join(root, relative)


def _open_url(url):
    """Open ``url`` for reading bytes through the scheme modules (local files for known roots)."""
    # local_path(url), then open: the same outcome with one system call where the
    # first place tried holds the file (exists() answers False on any error of stat)
    for path in _local_candidates(url):
        try:
            return open(path, 'rb')
        except OSError as e:
            if os.path.exists(path):
                raise DataError("Cannot open %s: %s" % (path, e), url)
    scheme, rest = schemesplit(url)
    if scheme in ('', 'file'):
        from discolite.schemes import scheme_file
        return scheme_file.open(url)
    if scheme in ('dir', 'disco'):
        url = urlresolve(url)
        scheme = 'http'
    if scheme in ('http', 'https'):
        from discolite.schemes import scheme_http
        return scheme_http.open(url)
    raise DataError("Cannot open URL of scheme '%s'" % scheme, url)


def read_index(dir_url):
    """Yield ``(int(label), url, int(size))`` for each line of an index file (``.gz`` aware)."""
    fd = _open_url(dir_url)
    try:
        if dir_url.endswith('.gz'):
            fd = gzip.GzipFile(fileobj=fd)
        for line in fd:
            if isinstance(line, bytes):
                line = line.decode('utf-8')
            if not line.strip():
                continue
            label, url, size = line.split()
            yield int(label), url, int(size)
    finally:
        fd.close()


def parse_dir(dir_url, label=None):
    """The URLs of an index (sorted by triple) whose label matches ``label`` (None = all)."""
    if isinstance(dir_url, (list, tuple)):
        dir_url = dir_url[0]
    return [url for l, url, s in sorted(read_index(dir_url)) if label in (l, None)]


def ispartitioned(x):
    """A ``dir://`` string, or a non-empty list of them."""
    if isinstance(x, (list, tuple)):
        return bool(all(ispartitioned(i) for i in x) and len(x))
    return isinstance(x, str) and x.startswith('dir://')


def inputexpand(input, label=None, settings=None):
    """Expand one input into a list of inputs (dir:// via parse_dir, lists as replica sets, tags)."""
    if ispartitioned(input) and label is not False:
        return list(zip(*(parse_dir(i, label=label) for i in iterify(input))))
    if isiterable(input):
        return [inputlist(input, label=label, settings=settings)]
    if isinstance(input, str) and input.startswith('tag://'):  # Disco: also bare names
        return _tag_blobs(input, settings)
    return [input]


def _tag_blobs(tag, settings):
    """The blobs of ``tag`` as Disco's client expands a ``tag://`` input: the tag's own blobs
    first, then linked tags breadth first, missing linked tags skipped."""
    from discolite.ddfs import DDFS
    settings = settings if settings is not None else DiscoSettings()
    ddfs = DDFS(settings['DISCO_MASTER'] or None, settings=settings)
    return [list(blob) for _tag, _tags, blobs in ddfs.findtags([tag]) for blob in blobs]


def inputlist(inputs, label=None, settings=None):
    """Expand a list of inputs (see :func:`inputexpand`); falsy entries are dropped."""
    return [inp for input in inputs if input
            for inp in inputexpand(input, label=label, settings=settings)]


def deref(inputs, resolve=False):
    """Yield a list of URLs (resolved when ``resolve``) for each expanded input."""
    resolver = urlresolve if resolve else identity
    for input in inputlist(inputs):
        yield [resolver(i) for i in iterify(input)]


# ----------------------------------------------------------------------------
# misc

def format_size(num):
    """Human size with ``"{:3.1f}{unit}"``, units ' bytes', KB, MB, GB, TB (base 1024)."""
    for unit in [' bytes', 'KB', 'MB', 'GB']:
        if num < 1024.0:
            return "{0:3.1f}{1}".format(num, unit)
        num /= 1024.0
    return "{0:3.1f}{1}".format(num, 'TB')


def msg(message):
    """Compatibility shim (removed in Disco 0.5): print ``message``."""
    print(message)


def err(message):
    """Compatibility shim: raise ``DiscoError(message)``."""
    raise DiscoError(message)


def data_err(message, url):
    """Compatibility shim: raise ``DataError(message, url)``."""
    raise DataError(message, url)


def unix_sort(filename, sort_buffer_size='10%'):
    """Sort a ``sort.dl`` file (Disco's external sort format) in place, in pure Python."""
    if not os.path.isfile(filename):
        raise DataError("Invalid sort input file {0}".format(filename), filename)
    with open(filename, 'rb') as fd:
        out = filename + '.sorted'
        with open(out, 'wb') as o:
            for k, v in _external_sort(sort_reader(fd, filename), filename, sort_buffer_size,
                                       raw=True):
                o.write(k + b'\xff' + encode(v) + b'\x00')
    os.replace(out, filename)


def encode(data):
    """Escape bytes for the sort file: 0x01->0x0101, 0x02->0x0202, 0x00->0x020102."""
    return data.replace(b'\x01', b'\x01\x01').replace(b'\x02', b'\x02\x02').replace(b'\x00', b'\x02\x01\x02')


def decode(data):
    """Inverse of :func:`encode`."""
    return data.replace(b'\x02\x01\x02', b'\x00').replace(b'\x02\x02', b'\x02').replace(b'\x01\x01', b'\x01')


def sort_reader(fd, fname, read_buffer_size=8192):
    """Read Disco's sort file format (``key 0xff escaped-value 0x00``): yields ``(key, value_bytes)``."""
    buf = b''
    while True:
        r = fd.read(read_buffer_size)
        if not r:
            break
        buf += r
        records = buf.split(b'\x00')
        buf = records.pop()
        for rec in records:
            k, sep, v = rec.partition(b'\xff')
            if not sep:
                raise DataError("Corrupted sort file record", fname)
            yield k, decode(v)
    if buf:
        raise DataError("Truncated sort file: {0} trailing bytes".format(len(buf)), fname)


# ----------------------------------------------------------------------------
# external sort

MAX_SORT_BUFFER = 64 * 1024 * 1024
_ENTRY_OVERHEAD = 160  # approximate bytes of Python objects per buffered record
_MAX_OPEN_RUNS = 64


def parse_size(size, default=MAX_SORT_BUFFER):
    """Parse ``'10%'`` (of RAM), ``'64M'``/``'2G'``/``'100K'`` or an int byte count."""
    if size is None:
        return default
    if isinstance(size, (int, float)):
        return int(size)
    s = str(size).strip()
    try:
        if s.endswith('%'):
            try:
                ram = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
            except (ValueError, OSError, AttributeError):
                ram = 1024 ** 3
            return int(ram * float(s[:-1]) / 100)
        mult = {'b': 1, 'k': 1024, 'm': 1024 ** 2, 'g': 1024 ** 3, 't': 1024 ** 4}
        if s and s[-1].lower() in mult:
            return int(float(s[:-1]) * mult[s[-1].lower()])
        return int(float(s))
    except ValueError:
        raise DiscoError("Invalid sort_buffer_size: %r" % (size,))


_RUNHDR = struct.Struct('<II')


def _write_run(path, items):
    pack = _RUNHDR.pack
    with open(path, 'wb', buffering=1024 * 1024) as f:
        w = f.write
        for k, v in items:
            w(pack(len(k), len(v)))
            w(k)
            w(v)


def _read_run(path):
    unpack = _RUNHDR.unpack
    size = _RUNHDR.size
    with open(path, 'rb', buffering=256 * 1024) as f:
        read = f.read
        while True:
            hdr = read(size)
            if not hdr:
                return
            if len(hdr) < size:
                raise DataError("Truncated sort run", path)
            kl, vl = unpack(hdr)
            k = read(kl)
            v = read(vl)
            yield k, v


def _external_sort(records, filename, sort_buffer_size, raw=False):
    """Sort ``(key_bytes, value)`` records with bounded memory; values pickled unless ``raw``."""
    budget = min(max(parse_size(sort_buffer_size), 1024 * 1024), MAX_SORT_BUFFER)
    runs = []
    base = os.path.abspath(filename)
    directory = os.path.dirname(base) or '.'
    prefix = os.path.basename(base) + '.run'
    dumps = pickle.dumps
    buf = []
    used = 0
    keyf = key

    def spill(items):
        fd, path = tempfile.mkstemp(prefix=prefix, dir=directory)
        os.close(fd)
        runs.append(path)
        _write_run(path, items)

    try:
        for k, v in records:
            if not raw:
                v = dumps(v, pickle.HIGHEST_PROTOCOL)
            buf.append((k, v))
            used += len(k) + len(v) + _ENTRY_OVERHEAD
            if used >= budget:
                buf.sort(key=keyf)
                spill(buf)
                buf = []
                used = 0
                if len(runs) > _MAX_OPEN_RUNS:  # merge them into one: bounded open files
                    old = runs[:]
                    del runs[:]
                    spill(heapq.merge(*[_read_run(p) for p in old], key=keyf))
                    for p in old:
                        os.unlink(p)
        buf.sort(key=keyf)
        if runs:
            if buf:
                spill(buf)
                buf = []
            merged = heapq.merge(*[_read_run(p) for p in runs], key=keyf)
        else:
            merged = iter(buf)
        loads = pickle.loads
        for k, v in merged:
            yield (k, v) if raw else (k, loads(v))
    finally:
        for p in runs:
            try:
                os.unlink(p)
            except OSError:
                pass


def _checked_keys(input):
    for k, v in input:
        if not isinstance(k, bytes):
            raise ValueError("Keys must be bytes for external sort", k)
        if b'\xff' in k or b'\x00' in k:
            raise ValueError("Cannot sort key with 0xFF or 0x00 bytes", k)
        yield k, v


def disk_sort(worker, input, filename, sort_buffer_size='10%'):
    """External merge sort of ``(bytes_key, value)`` records, in ascending raw key order (stable).

    Sorted runs spill to temporary files next to ``filename`` once the buffer passes
    ``sort_buffer_size`` (``'10%'`` of RAM, ``'64M'`` or bytes; capped at 64 MiB); they are
    merged with :func:`heapq.merge` and removed when the generator finishes or is closed.
    """
    send = getattr(worker, 'send', None)
    if send is not None:
        try:
            send('MSG', "Sorting {0}...".format(filename))
        except Exception:
            pass
    yield from _external_sort(_checked_keys(input), filename, sort_buffer_size)


def dsorted(iterable, buffer_size=1e6, tempdir='.'):
    """Sort ``iterable`` spilling chunks of ``buffer_size`` items to pickled temp files."""
    buffer_size = int(buffer_size)
    iterator = iter(iterable)
    subiters = []

    def read(handle):
        try:
            while True:
                try:
                    yield pickle.load(handle)
                except EOFError:
                    return
        finally:
            handle.close()

    while True:
        buffer = sorted(itertools.islice(iterator, buffer_size))
        if len(buffer) < buffer_size and not subiters:
            return iter(buffer)
        handle = tempfile.TemporaryFile(dir=tempdir)
        for item in buffer:
            pickle.dump(item, handle, pickle.HIGHEST_PROTOCOL)
        handle.seek(0)
        subiters.append(read(handle))
        if len(buffer) < buffer_size:
            break
    return heapq.merge(*subiters)


# ----------------------------------------------------------------------------
# OOB

def _ddfs_store(master):
    from discolite.master.ddfs_store import DDFSStore
    return DDFSStore(os.path.join(master[len('local://'):], 'ddfs'))


def load_oob(master, jobname, key):
    """Read OOB value ``key`` of job ``jobname`` as Disco does: the first entry of the tag
    ``disco:job:oob:<job>`` (token ``job``) named ``key``, read at its blob URL (``$<ts>``
    included).  Bytes, or None if the job has OOB data but not this key; CommError 404 when
    the job has none."""
    if master.startswith('local://'):
        from discolite.master.ddfs_store import DDFSError
        try:
            return _ddfs_store(master).oob_get(jobname, key)
        except DDFSError as e:
            raise CommError(e.body, '%s/ddfs/tag/disco:job:oob:%s' % (master, jobname),
                            e.status)
    from discolite.ddfs import DDFS
    ddfs = DDFS(master)
    tag = ddfs.get(DDFS.job_oob(jobname))
    for replicas in tag.get('urls', []):
        if replicas and DDFS.blob_name(replicas[0]) == key:
            return ddfs.read_blob(replicas)
    return None


def save_oob(master, jobname, key, value):
    """Store OOB ``value`` (bytes) under ``key`` for ``jobname`` as Disco's worker does:
    a blob ``<key>$<ts>`` added to the tag ``disco:job:oob:<job>`` (token ``job``, delayed)."""
    if not isinstance(value, (bytes, bytearray)):
        raise DiscoError("OOB values must be bytes, not %s" % type(value).__name__)
    if master.startswith('local://'):
        from discolite.master.ddfs_store import DDFSError
        try:
            return _ddfs_store(master).oob_put(jobname, key, bytes(value))
        except DDFSError as e:
            raise CommError(e.body, '%s/ddfs/tag/disco:job:oob:%s' % (master, jobname),
                            e.status)
    from discolite.ddfs import DDFS
    from io import BytesIO
    DDFS(master).push(DDFS.job_oob(jobname), [(BytesIO(bytes(value)), key)], delayed=True)
