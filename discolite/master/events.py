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


_quote = json.encoder.encode_basestring_ascii  # what json.dumps does to a str, minus its overhead
_stamp = (None, None)  # (second, its quoted timestamp): events come many to a second


def format_line(host, message, t=None):
    """One event line; bytes are decoded (or shown escaped) and long messages cut short."""
    if isinstance(message, bytes):
        try:
            message = message.decode('utf-8')
        except UnicodeDecodeError:
            message = 'WARNING: Binary message data: ' + ''.join('\\x%02x' % b for b in message)
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + '...'
    global _stamp
    second = int(time.time() if t is None else t)
    stamp = _stamp
    if stamp[0] != second:
        stamp = _stamp = (second, _quote(timestamp(second)))
    return '[%s,%s,%s]\n' % (stamp[1], _quote(host), _quote(message))


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

    Lines are written in batches, as Disco's master does (it flushes every 2 s):
    a busy job writes its events once every :attr:`FLUSH_AFTER` seconds or
    :attr:`FLUSH_LINES` lines rather than once a line.  Reading through this
    object (:meth:`read`, :meth:`size`, :meth:`last`) writes what is pending
    first, so ``events()`` never lags; the scheduler also flushes logs with
    pending lines (:meth:`due`) when it goes idle.

    Writing never raises: a write that fails (a full disk) is undone (the file is
    cut back to its last whole line), the lines stay pending in memory (the newest
    MAX_PENDING of them) and are tried again later; :meth:`read` serves the file plus
    those lines, so offsets do not change.  The first failure is kept in ``error``
    and reported to ``on_error(self, message)``, where the scheduler ends the job: a
    log write that raised halfway through a state change is what used to wedge the
    master.
    """

    FLUSH_AFTER = 0.1
    FLUSH_LINES = 1000

    def __init__(self, path):
        import threading
        self.path = path
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        try:  # the job's master directory is made with its job home, as a rule
            self.fd = os.open(path, flags, 0o644)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self.fd = os.open(path, flags, 0o644)
        self.written = os.fstat(self.fd).st_size
        self.pending = []
        self.since = None
        self.dropped = 0
        self.error = None
        self.on_error = None
        self.listeners = []
        self.lock = threading.Lock()

    @property
    def file(self):  # open while the job is active
        return self.fd

    def add(self, host, message):
        if self.fd is None:
            return
        line = format_line(host, message)
        report = None
        with self.lock:
            self.pending.append(line)
            if self.error is not None and len(self.pending) > MAX_PENDING:
                del self.pending[0]  # keep the newest: they say how the job ended
                self.dropped += 1
            if self.since is None:
                self.since = time.monotonic()
            elif len(self.pending) >= self.FLUSH_LINES or \
                    time.monotonic() - self.since >= self.FLUSH_AFTER:
                report = self._flush()
        if report is not None:
            self._report(report)
        if self.listeners:
            for listener in list(self.listeners):
                listener(line)

    def due(self):
        """Seconds until pending lines should be written (None: nothing pending)."""
        since = self.since
        return None if since is None else max(0.0, since + self.FLUSH_AFTER - time.monotonic())

    def flush(self):
        with self.lock:
            report = self._flush()
        if report is not None:
            self._report(report)

    def _flush(self):
        """Write the pending lines; on the first failure, the message to report."""
        if not self.pending or self.fd is None:
            self.since = None
            return None
        data = ''.join(self.pending).encode('ascii')
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view):]
        except OSError as e:
            try:  # no half line in the file: it would end every reader at that point
                os.ftruncate(self.fd, self.written)
            except OSError:
                pass
            self.since = time.monotonic()  # due again in FLUSH_AFTER: try once more then
            if self.error is None:
                self.error = e
                return io_message(e, self.path)
            return None
        self.written += len(data)
        self.pending = []
        self.since = None
        return None

    def _report(self, message):
        if self.on_error is not None:
            self.on_error(self, message)

    def _flush_for_reader(self):
        self.flush()

    def close(self):
        with self.lock:
            report = None
            if self.fd is not None:
                report = self._flush()
                os.close(self.fd)
                self.fd = None
        if report is not None:
            self._report(report)

    def read(self, offset=0):
        self._flush_for_reader()
        try:
            with open(self.path, 'rb') as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            data = b''
        with self.lock:
            pending, written = list(self.pending), self.written
        if pending:  # lines a full disk kept out of the file
            tail = ''.join(pending).encode('ascii')
            start = max(0, offset - written)
            data = data[:max(0, written - offset)] + tail[start:]
        return data

    def size(self):
        self._flush_for_reader()
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
