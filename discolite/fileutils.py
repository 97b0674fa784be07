"""File helpers used by tasks (``disco.fileutils``): atomic output files and the chunker."""
import io
import os

from discolite.error import DataError

MIN_DISK_SPACE = 1024 * 1024
CHUNK_SIZE = 64 * 1024 * 1024
MAX_RECORD_SIZE = 1024 * 1024
HUNK_SIZE = 1024 * 1024


def ensure_path(path):
    """Create the parent directory of ``path`` if needed."""
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)


def ensure_free_space(fname):
    """Raise DataError when less than 1 MiB is free on the file system holding ``fname``."""
    try:
        s = os.statvfs(os.path.dirname(os.path.abspath(fname)))
    except (OSError, AttributeError):
        return
    free = s.f_frsize * s.f_bavail
    if free < MIN_DISK_SPACE:
        raise DataError("Only {0} KB disk space available. Task failed.".format(free // 1024), fname)


class AtomicFile(object):
    """A binary file written as ``path + '.partial'`` and renamed to ``path`` by :meth:`close`."""

    def __init__(self, path, sync=False):
        self.path = path
        self.partial = '{0}.partial'.format(path)
        self.sync = sync
        ensure_path(self.partial)
        ensure_free_space(self.partial)
        self._fd = open(self.partial, 'wb')
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
        self._fd.close()
        os.replace(self.partial, self.path)

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
        from discolite.worker.task_io import DiscoOutputStream
        return DiscoOutputStream(io.BytesIO(), max_record_size=self.max_record_size)

    def dump(self, out):
        out.close()
        return out.stream.getvalue()

    def chunks(self, records):
        """Yield the bytes of each chunk."""
        out = self.make_output()
        for record in records:
            if out.size > self.chunk_size:
                yield self.dump(out)
                out = self.make_output()
            out.append(record)
        yield self.dump(out)
