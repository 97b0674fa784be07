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


class EventLog(object):
    """Append-only event file of one job; closed (and frozen) once the job ends."""

    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.file = open(path, 'a', encoding='ascii')
        self.listeners = []

    def add(self, host, message):
        if self.file is None:
            return
        line = format_line(host, message)
        self.file.write(line)
        self.file.flush()
        for listener in list(self.listeners):
            listener(line)

    def close(self):
        if self.file is not None:
            self.file.close()
            self.file = None

    def read(self, offset=0):
        try:
            with open(self.path, 'rb') as f:
                f.seek(offset)
                return f.read()
        except FileNotFoundError:
            return b''

    def size(self):
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
