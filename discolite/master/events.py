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


class EventLog(object):
    """Append-only event file of one job; closed (and frozen) once the job ends.

    Lines are written in batches, as Disco's master does (it flushes every 2 s):
    a busy job writes its events once every :attr:`FLUSH_AFTER` seconds or
    :attr:`FLUSH_LINES` lines rather than once a line.  Reading through this
    object (:meth:`read`, :meth:`size`, :meth:`last`) writes what is pending
    first, so ``events()`` never lags; the scheduler also flushes logs with
    pending lines (:meth:`due`) when it goes idle.
    """

    FLUSH_AFTER = 0.1
    FLUSH_LINES = 1000

    def __init__(self, path):
        import threading
        self.path = path
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.file = open(path, 'a', encoding='ascii')
        self.listeners = []
        self.pending = []
        self.since = None
        self.lock = threading.Lock()

    def add(self, host, message):
        if self.file is None:
            return
        line = format_line(host, message)
        with self.lock:
            self.pending.append(line)
            if self.since is None:
                self.since = time.monotonic()
            elif len(self.pending) >= self.FLUSH_LINES or \
                    time.monotonic() - self.since >= self.FLUSH_AFTER:
                self._flush()
        for listener in list(self.listeners):
            listener(line)

    def due(self):
        """Seconds until pending lines should be written (None: nothing pending)."""
        since = self.since
        return None if since is None else max(0.0, since + self.FLUSH_AFTER - time.monotonic())

    def flush(self):
        with self.lock:
            self._flush()

    def _flush(self):
        if self.pending and self.file is not None:
            self.file.write(''.join(self.pending))  # on an error the lines stay pending
            self.file.flush()
        self.pending = []
        self.since = None

    def _flush_for_reader(self):
        try:
            self.flush()
        except OSError:
            pass  # a reader gets what is on disk; the writer sees the error

    def close(self):
        with self.lock:
            if self.file is not None:
                self._flush()
                self.file.close()
                self.file = None

    def read(self, offset=0):
        self._flush_for_reader()
        try:
            with open(self.path, 'rb') as f:
                f.seek(offset)
                return f.read()
        except FileNotFoundError:
            return b''

    def size(self):
        self._flush_for_reader()
        try:
            return os.path.getsize(self.path)
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
