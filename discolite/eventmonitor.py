"""Disco's console display of a job's events (``disco.eventmonitor``).

``EventMonitor(job, format)`` prints the job's new events and its status line on
each ``refresh()``; ``format`` (default ``DISCO_EVENTS``) chooses the writer:
falsy prints nothing, ``'json'`` a JSON list per event, ``'nocolor'`` (or any
value when stderr is not a terminal) plain text, anything else ANSI colours.
``Disco.wait(show=...)`` uses :mod:`discolite.monitor`, which prints the same lines.
"""
import json
import sys
import time

from discolite.error import DiscoError  # noqa: F401

BLACK, RED, GREEN, YELLOW, BLUE, MAGENTA, CYAN, WHITE = range(8)


class EventWriter(object):
    """Writes nothing (events disabled)."""
    hascolor = False

    def __init__(self, handle):
        self.handle = handle

    def write(self, status=None, timestamp=None, host=None, message=None):
        pass

    def cleanup(self):
        pass


class TextEventWriter(EventWriter):
    """``<timestamp> <host> <message>`` lines; status lines as they are."""

    def write(self, status=None, timestamp=None, host=None, message=None):
        if message is not None:
            self.handle.write('%s %s %s\n' % (timestamp, host, message))
        elif status:
            self.handle.write('%s\n' % status)
        self.handle.flush()


class JSONEventWriter(EventWriter):
    """One JSON list ``[timestamp, host, message]`` per event."""

    def write(self, status=None, timestamp=None, host=None, message=None):
        if message is not None:
            self.handle.write(json.dumps([timestamp, host, message]) + '\n')
            self.handle.flush()


class ANSIEventWriter(TextEventWriter):
    """Text with ANSI colours: errors red, warnings magenta, hosts blue, timestamps green."""
    hascolor = True

    def ansi_text(self, text, foreground=None, background=None, bold=False):
        codes = ([1] if bold else []) + \
            ([30 + foreground] if foreground is not None else []) + \
            ([40 + background] if background is not None else [])
        return '\033[%sm%s\033[0m' % (';'.join(map(str, codes)), text) if codes else text

    def colour_of(self, message):
        for prefix, colour in (('ERROR', RED), ('FATAL', RED), ('WARN', MAGENTA),
                               ('READY', GREEN)):
            if message.startswith(prefix):
                return colour
        return None

    def write(self, status=None, timestamp=None, host=None, message=None):
        if message is not None:
            self.handle.write('%s %s %s\n' % (self.ansi_text(timestamp, GREEN),
                                              self.ansi_text('%-10s' % host, BLUE),
                                              self.ansi_text(message, self.colour_of(message))))
        elif status:
            self.handle.write(self.ansi_text(status, bold=True) + '\n')
        self.handle.flush()

    def heading(self, text):
        self.handle.write(self.ansi_text(text, bold=True) + '\n')


class OutputStream(object):
    """Picks the writer for ``format`` and forwards ``write``/``cleanup`` to it."""

    def __init__(self, format, handle=sys.stderr):
        if not format or format in ('0', 'False', 'false', 'off'):
            writer = EventWriter
        elif format == 'json':
            writer = JSONEventWriter
        elif format == 'nocolor' or not getattr(handle, 'isatty', lambda: False)():
            writer = TextEventWriter
        else:
            writer = ANSIEventWriter
        self.writer = writer(handle)
        self.format = format

    @property
    def hascolor(self):
        return self.writer.hascolor

    def write(self, *args, **kwargs):
        self.writer.write(*args, **kwargs)

    def cleanup(self):
        self.writer.cleanup()


class EventMonitor(object):
    """Follows one job: ``refresh()`` prints new events and a changed status line, then sleeps
    ``poll_interval`` seconds."""

    def __init__(self, job, format=None, poll_interval=2):
        self.job = job
        self.disco = job.disco
        if format is None:
            format = job.settings['DISCO_EVENTS'] if hasattr(job, 'settings') else ''
        self.format = format
        self.poll_interval = poll_interval
        self.output = OutputStream(format)
        self.offset = 0
        self.status = None
        if self.isenabled:
            self.output.write(status='Job %s' % job.name)

    @property
    def isenabled(self):
        return type(self.output.writer) is not EventWriter

    @property
    def events(self):
        """New ``(offset, (timestamp, host, message))`` pairs since the last call."""
        for offset, event in self.disco.events(self.job.name, self.offset):
            self.offset = offset
            yield offset, event

    @property
    def stats(self):
        return self.disco.jobinfo(self.job.name)

    def log_events(self):
        for offset, (timestamp, host, message) in self.events:
            self.output.write(timestamp=timestamp, host=host, message=message)

    def refresh(self):
        if self.isenabled:
            self.log_events()
            status = self._status_line()
            if status and status != self.status:
                self.status = status
                self.output.write(status=status)
        time.sleep(self.poll_interval)

    def _status_line(self):
        pipeline = self.stats.get('pipeline') or []
        if not pipeline:
            return None
        current = next((s for s in reversed(pipeline) if any(s[1:])), pipeline[0])
        return 'Status: [%s] %d pending, %d waiting, %d running, %d done, %d failed' \
            % tuple(current)

    def cleanup(self):
        self.output.cleanup()
