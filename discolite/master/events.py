"""Per-job event logs in Disco's line format: ``["<YYYY/MM/DD HH:MM:SS>","<host>",<json msg>]``.

The file is pure ASCII (non-ASCII is ``\\uXXXX``-escaped), so byte offsets equal
character offsets, as the ``events(offset)`` API expects.
"""
import json
import os
import time


def timestamp(t=None):
    """Local time ``t`` (default now) as Disco writes it: ``YYYY/MM/DD HH:MM:SS``."""
    tm = time.localtime(t)
    return '%d/%02d/%02d %02d:%02d:%02d' % tm[:6]


def duration(seconds):
    """Seconds as Disco's ``H:MM:SS.mmm``."""
    ms = int(round(seconds * 1000))
    h, rest = divmod(ms, 3600000)
    m, rest = divmod(rest, 60000)
    s, ms = divmod(rest, 1000)
    return '%d:%02d:%02d.%03d' % (h, m, s, ms)


MAX_MESSAGE = 8192


def format_line(host, message, t=None):
    """One event line; bytes are decoded (or shown escaped) and long messages cut short."""
    if isinstance(message, bytes):
        try:
            message = message.decode('utf-8')
        except UnicodeDecodeError:
            message = 'WARNING: Binary message data: ' + ''.join('\\x%02x' % b for b in message)
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + '...'
    return '[%s,%s,%s]\n' % (json.dumps(timestamp(t)), json.dumps(host), json.dumps(message))


def io_message(error, path=None):
    """One line for an OSError of the master's own writes: ``no space left on device in
    <path>`` for ENOSPC (and EDQUOT), else ``<strerror> in <path>``."""
    import errno
    path = path or getattr(error, 'filename', None) or '?'
    if getattr(error, 'errno', None) in (errno.ENOSPC, getattr(errno, 'EDQUOT', -1)):
        return 'no space left on device in %s' % path
    return '%s in %s' % ((getattr(error, 'strerror', None) or str(error)).lower(), path)


MAX_PENDING = 1000


class EventLog(object):
    """Append-only event file of one job; closed (and frozen) once the job ends.

    ``add`` never raises: a write that fails (a full disk) is undone (the file is cut
    back to its last whole line), the line is kept in memory (at most MAX_PENDING of
    newest) and written with the next line once the disk has room again; ``read`` serves
    the file plus those lines, so offsets do not change.  The first failure is kept in
    ``error`` and reported to ``on_error(self, message)``, where the scheduler ends the
    job: a log write that raised halfway through a state change is what used to wedge
    the master.
    """

    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.written = os.fstat(self.fd).st_size
        self.pending = []
        self.dropped = 0
        self.error = None
        self.on_error = None
        self.listeners = []

    @property
    def file(self):  # open while the job is active
        return self.fd

    def add(self, host, message):
        if self.fd is None:
            return
        line = format_line(host, message)
        self.pending.append(line)
        if len(self.pending) > MAX_PENDING:  # keep the newest: they say how the job ended
            del self.pending[0]
            self.dropped += 1
        self._write()
        for listener in list(self.listeners):
            listener(line)

    def _write(self):
        if not self.pending:
            return
        data = ''.join(self.pending).encode('ascii')
        try:
            view = memoryview(data)
            while view:
                n = os.write(self.fd, view)
                view = view[n:]
        except OSError as e:
            try:  # no half line in the file: it would end every reader at that point
                os.ftruncate(self.fd, self.written)
            except OSError:
                pass
            if self.error is None:
                self.error = e
                if self.on_error is not None:
                    self.on_error(self, io_message(e, self.path))
            return
        self.written += len(data)
        self.pending = []

    def close(self):
        if self.fd is not None:
            self._write()
            os.close(self.fd)
            self.fd = None

    def read(self, offset=0):
        try:
            with open(self.path, 'rb') as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            data = b''
        if self.pending:  # lines a full disk kept out of the file
            tail = ''.join(self.pending).encode('ascii')
            start = max(0, offset - self.written)
            data = data[:max(0, self.written - offset)] + tail[start:]
        return data

    def size(self):
        try:
            return os.path.getsize(self.path) + sum(len(l) for l in self.pending)
        except OSError:
            return 0

    def last(self, num=10, filter=None):
        """The last ``num`` events, newest first, optionally grepped (case-insensitive)."""
        lines = self.read().decode('ascii').splitlines()
        if filter:
            import re
            f = re.sub(r'[^a-zA-Z0-9:\-_!@]', '', filter).lower()
            lines = [l for l in lines if f in l.lower()]
        return [json.loads(l) for l in reversed(lines[-num:])] if num > 0 else []
