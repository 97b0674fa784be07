"""File helpers used by tasks (``disco.fileutils``): atomic output files, the chunker,
Disco's output streams, job-home zips and timed reads."""
import io
import os
import select
import time
from inspect import getmodule, getsourcefile
from zipfile import ZIP_DEFLATED, ZipFile

from discolite.error import DataError
from discolite.worker.task_io import DiscoOutputStream_v0, DiscoOutputStream_v1

MB = 1024 ** 2
MIN_DISK_SPACE = 1024 * 1024
CHUNK_SIZE = 64 * 1024 * 1024
MAX_RECORD_SIZE = 1024 * 1024
HUNK_SIZE = 1024 * 1024


def ensure_path(path):
    """Create the parent directory of ``path`` if needed."""
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)


_made = [None]  # the directory make_dir has just made (see AtomicFile)


def make_dir(path):
    """``os.makedirs(path, exist_ok=True)``, in one system call when the parent exists."""
    _made[0] = None
    make_dirs(path)
    _made[0] = path


def make_dirs(path):
    """``os.makedirs(path, exist_ok=True)`` in as many system calls as there are missing
    directories, plus one (makedirs first stats each parent)."""
    try:
        os.mkdir(path)
    except FileExistsError:
        if not os.path.isdir(path):
            raise
    except FileNotFoundError:
        parent = os.path.dirname(path.rstrip(os.sep))
        if not parent or parent == path:
            raise
        make_dirs(parent)  # a task's directory: mostly its <hh> bucket is all that is missing
        try:
            os.mkdir(path)
        except FileExistsError:
            if not os.path.isdir(path):
                raise


# The directory where free space was last asked for, when, and how much there was: a task
# writes its outputs in a directory of its own, so while the disk has plenty (64 times the
# minimum) its next outputs there need not ask again at once.
_last = [None, 0.0, 0]
PLENTY_FOR = 0.5  # seconds


def ensure_free_space(fname):
    """Raise DataError when less than 1 MiB is free on the file system holding ``fname``."""
    directory = os.path.dirname(fname) or '.'
    if _last[0] == directory and _last[2] >= 64 * MIN_DISK_SPACE and \
            time.monotonic() - _last[1] < PLENTY_FOR:
        return
    try:
        s = os.statvfs(directory)
    except (OSError, AttributeError):
        return
    free = s.f_frsize * s.f_bavail
    if free < MIN_DISK_SPACE:
        raise DataError("Only {0} KB disk space available. Task failed.".format(free // 1024), fname)
    _last[:] = [directory, time.monotonic(), free]


class AtomicFile(object):
    """A binary file written as ``path + '.partial'`` and renamed to ``path`` by :meth:`close`."""

    def __init__(self, path, sync=False):
        self.path = path
        self.partial = '{0}.partial'.format(path)
        self.sync = sync
        self.final_size = None
        directory = os.path.dirname(self.partial)
        made, _made[0] = _made[0], None
        if directory and directory != made and not os.path.isdir(directory):
            make_dir(directory)  # (a task's Output has just made its directory, as a rule)
        ensure_free_space(self.partial)
        # an explicit buffer size: no isatty() system call on a file that never is one
        self._fd = open(self.partial, 'wb', buffering=io.DEFAULT_BUFFER_SIZE)
        self.write = self._fd.write

    @property
    def closed(self):
        return self._fd.closed

    def __getattr__(self, attr):
        if attr == '_fd':
            raise AttributeError(attr)
        return getattr(self._fd, attr)

    def close(self):
        """Flush, close and rename into place (idempotent)."""
        if self._fd.closed:
            return
        self._fd.flush()
        if self.sync:
            os.fsync(self._fd.fileno())
        self.final_size = os.fstat(self._fd.fileno()).st_size
        self._fd.close()
        os.replace(self.partial, self.path)

    def size(self):
        """The size of the file (of the partial file while it is open)."""
        return os.path.getsize(self.partial if not self._fd.closed else self.path)

    def abort(self):
        """Close and remove the partial file without renaming it."""
        if not self._fd.closed:
            self._fd.close()
        try:
            os.unlink(self.partial)
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, typ, value, tb):
        if typ is None:
            self.close()
        else:
            self.abort()


class Chunker(object):
    """Split records into independent v1 streams ("chunks"), each closed with its own terminator.

    A new chunk starts once the current one's written size is greater than ``chunk_size``.
    """

    def __init__(self, chunk_size=CHUNK_SIZE, max_record_size=MAX_RECORD_SIZE):
        self.chunk_size = chunk_size
        self.max_record_size = max_record_size

    def make_output(self):
        return DiscoOutputStream_v1(io.BytesIO(), max_record_size=self.max_record_size)

    def dump(self, out):
        out.close()
        return out.stream.getvalue()

    makeout = make_output   # Disco's names
    dumpout = dump

    def chunks(self, records):
        """Yield the bytes of each chunk."""
        out = self.make_output()
        for record in records:
            if out.size > self.chunk_size:
                yield self.dump(out)
                out = self.make_output()
            out.append(record)
        yield self.dump(out)


# ----------------------------------------------------------------------------
# Disco's output streams (the classes live in worker.task_io, next to the readers)

def DiscoOutputStream(stream, version=-1, **kwargs):
    """A writer of Disco's record format: the old text format (v0) for ``version=0``,
    else the internal format (v1; ``-1`` means the latest)."""
    if version == 0:
        return DiscoOutputStream_v0(stream)
    return DiscoOutputStream_v1(stream, version=1, **kwargs)


class DiscoOutput(object):
    """A v1 output stream written atomically to ``url`` (a path); ``close()`` renames it into place."""

    def __init__(self, url, **kwargs):
        self.url = url
        self.file = AtomicFile(url)
        self.stream = DiscoOutputStream(self.file, **kwargs)
        self.add = self.stream.add
        self.append = self.stream.append

    def __getattr__(self, attr):
        if attr == 'stream':
            raise AttributeError(attr)
        return getattr(self.stream, attr)

    def close(self):
        self.stream.close()
        self.file.close()


# ----------------------------------------------------------------------------
# job home zips

class DiscoZipFile(ZipFile, object):
    """An in-memory deflated zip, as Disco builds job homes."""

    def __init__(self):
        self.buffer = io.BytesIO()
        super(DiscoZipFile, self).__init__(self.buffer, 'w', ZIP_DEFLATED)

    def writepath(self, pathname, exclude=()):
        """Add a file, or every file below a directory, under its own path."""
        for file in files(pathname):
            name, ext = os.path.splitext(file)
            if ext not in exclude:
                self.write(file, file)

    def writemodule(self, module, arcname=None):
        """Add a module's source file (``module`` may be a module or its name)."""
        if isinstance(module, str):
            module = __import__(module, fromlist=['_'])
        self.write(getsourcefile(module), arcname=arcname)

    def writesource(self, object):
        """Add the source file of the module that defines ``object``."""
        self.writepath(getsourcefile(getmodule(object)))

    def dump(self, handle):
        handle.write(self.dumps())

    def dumps(self):
        if self.fp is not None:   # not closed yet: finish the central directory
            self.close()
        return self.buffer.getvalue()


def files(path):
    """Every file below ``path`` (or ``path`` itself when it is a file)."""
    if os.path.isdir(path):
        for name in os.listdir(path):
            for file in files(os.path.join(path, name)):
                yield file
    else:
        yield path


def get_valid_path(path):
    """The real path of a link, or the absolute path of a relative one."""
    if os.path.islink(path):
        return os.path.realpath(path)
    return os.path.abspath(path)


# ----------------------------------------------------------------------------
# timed reads (Disco's worker protocol uses these on stdin)

class Wait(Exception):
    """Reading would block: try again ``retry_after`` seconds later."""

    def __init__(self, retry_after=None):
        super(Wait, self).__init__(retry_after)
        self.retry_after = 1 if retry_after is None else retry_after


def raise_if_empty(read_bytes):
    """``read_bytes``, or IOError when a read returned nothing (the other end closed)."""
    if not read_bytes:
        raise IOError("Received an empty read")
    return read_bytes


class NonBlockingInput(object):
    """Reads from a file descriptor with a total ``timeout`` (seconds) for each call."""

    def __init__(self, file, timeout=600):
        self.fd = file.fileno() if hasattr(file, 'fileno') else file
        self.timeout = timeout

    def select(self, timeout=None):
        ready, _, _ = select.select([self.fd], [], [], timeout)
        return bool(ready)

    def _deadline_left(self, deadline):
        left = deadline - time.time()
        if left <= 0 or not self.select(left):
            raise IOError("Timed out after %ss waiting for input" % self.timeout)

    def t_read(self, nbytes, spent=0, bytes=b''):
        """Read exactly ``nbytes`` bytes."""
        deadline = time.time() + self.timeout - spent
        buf = [bytes] if bytes else []
        n = len(bytes)
        while n < nbytes:
            self._deadline_left(deadline)
            data = raise_if_empty(os.read(self.fd, nbytes - n))
            buf.append(data)
            n += len(data)
        return b''.join(buf)

    def t_read_until(self, delim, spent=0, bytes=b''):
        """Read up to and including ``delim``; returns ``(spent seconds, bytes)``."""
        start = time.time()
        deadline = start + self.timeout - spent
        data = bytes
        while not data.endswith(delim):
            self._deadline_left(deadline)
            data += raise_if_empty(os.read(self.fd, 1))
        return spent + time.time() - start, data
