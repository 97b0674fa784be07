"""Live display of a job's events while ``wait(show=...)`` runs (``DISCO_EVENTS``).

``show`` falsy prints nothing; ``'json'`` prints each event as a JSON list on
stdout; ``'nocolor'`` (or any true value when stderr is not a terminal) prints
``<timestamp> <host> <message>`` lines and status lines to stderr; any other
true value on a terminal adds ANSI colours.
"""
import json
import re
import sys
import time

from discolite.error import CommError

COLORS = {'ERROR': '\033[31m', 'FATAL': '\033[31m', 'WARN': '\033[35m', 'READY': '\033[42m'}
RESET = '\033[0m'


class EventMonitor(object):
    """Prints the new events of one job (and a status line) each time it is refreshed."""

    def __init__(self, disco, jobname, show=None, poll_interval=2, stream=None):
        self.disco = disco
        self.jobname = jobname
        self.show = show if show not in ('', '0', 'False', 'false', 'off', None) else False
        self.offset = 0
        self.status = None
        self.poll_interval = poll_interval
        self.out = stream
        self.color = False
        self.progress = None  # a live progress line under the events, on a terminal
        if self.show == 'json':
            self.out = stream or sys.stdout
        elif self.show:
            self.out = stream or sys.stderr
            self.color = self.show != 'nocolor' and getattr(self.out, 'isatty', lambda: False)()
            if getattr(self.out, 'isatty', lambda: False)():
                self.progress = Progress(disco, jobname, self.out, tty=True)
            if self.color:
                self.out.write('\033[1mJob %s\033[0m\n' % jobname)

    def refresh(self, final=False):
        if not self.show:
            return
        try:
            events = list(self.disco.events(self.jobname, self.offset))
            if events and self.progress is not None:
                self.progress.clear()
            for offset, (timestamp, host, message) in events:
                self.offset = offset
                self.event(timestamp, host, message)
            if self.show != 'json':
                self.status_line()
        except CommError:
            pass
        if self.progress is not None:
            self.progress.update()
        self.out.flush()

    def close(self):
        """Take the progress line away (the job has ended, or waiting was given up)."""
        if self.progress is not None:
            self.progress.clear()
            self.out.flush()

    def event(self, timestamp, host, message):
        if self.show == 'json':
            self.out.write(json.dumps([timestamp, host, message]) + '\n')
        elif self.color:
            color = next((c for p, c in COLORS.items() if message.startswith(p)), '')
            self.out.write('\033[32m%s\033[0m \033[34m%-10s\033[0m %s%s%s\n'
                           % (timestamp, host, color, message, RESET if color else ''))
        else:
            self.out.write('%s %s %s\n' % (timestamp, host, message))

    def status_line(self):
        try:
            pipeline = self.disco.jobinfo(self.jobname)['pipeline']
        except CommError:
            return
        if not pipeline:
            return
        current = next((s for s in reversed(pipeline) if any(s[1:])), pipeline[0])
        stage, pending, waiting, running, done, failed = current
        status = ('Status: [%s] %d pending, %d waiting, %d running, %d done, %d failed\n'
                  % (stage, pending, waiting, running, done, failed))
        if status != self.status:
            self.status = status
            self.out.write(status)


class Progress(object):
    """A live progress line for a job, e.g.
    ``[WordCount@…] map 6/8 (2 running)  reduce 0/4 | 1,200,000 records 340,000/s | 12.3s, map ~4s left``.

    Tasks done/running/total per stage come from ``jobinfo``; records from the workers'
    status events (``N entries mapped``/``reduced``, each task's last count); the
    estimate is the running stage's time per finished task times the tasks left.
    ``update()`` polls the master and redraws (``\\r`` on a terminal, a new line otherwise).
    """

    COUNT = re.compile(r'^MSG: \[(\w+:\d+)\] (?:Done: )?(\d+) entries (?:mapped|reduced)$')

    def __init__(self, disco, name, stream, tty=None):
        self.disco = disco
        self.name = name
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.start = time.time()
        self.offset = 0
        self.counts = {}            # task -> records it reported
        self.samples = []           # (time, total records), for the rate
        self.stage_start = {}       # stage -> when it was first seen running
        self.width = 0
        self.printed = 0            # when the last line was printed (not on a terminal)

    def poll(self):
        """Read new events and the job's pipeline; returns the pipeline."""
        for self.offset, (_t, _h, message) in self.disco.events(self.name, self.offset):
            m = self.COUNT.match(message)
            if m:
                self.counts[m.group(1)] = int(m.group(2))
        return self.disco.jobinfo(self.name).get('pipeline') or []

    def line(self, pipeline, now=None):
        now = time.time() if now is None else now
        parts = []
        estimate = ''
        for stage, pending, waiting, running, done, failed in pipeline:
            total = max(pending + waiting + running + done, done)
            part = '%s %d/%d' % (stage, done, total)
            if running:
                part += ' (%d running)' % running
            if failed:
                part += ' (%d failed)' % failed
            parts.append(part)
            if (running or done) and stage not in self.stage_start:
                self.stage_start[stage] = self.start if done else now
            if running or (done and done < total):
                if done:
                    spent = now - self.stage_start.get(stage, self.start)
                    estimate = ', %s ~%s left' % (stage, _secs(spent / done * (total - done)))
                else:
                    estimate = ', %s ~? left' % stage
        records = sum(self.counts.values())
        self.samples.append((now, records))
        while len(self.samples) > 2 and now - self.samples[1][0] >= 3:
            self.samples.pop(0)  # the rate over the last few seconds
        t0, r0 = self.samples[0]
        rate = (records - r0) / (now - t0) if now - t0 > 0.05 else 0.0
        text = '[%s] %s | %s records %s/s | %s%s' % (
            self.name, '  '.join(parts) or 'starting', _num(records), _num(rate),
            _secs(now - self.start), estimate)
        return text

    def update(self):
        try:
            text = self.line(self.poll())
        except CommError:
            return
        if self.tty:
            self.stream.write('\r' + text.ljust(self.width))
            self.width = len(text)
        elif time.time() - self.printed >= 1:  # a log file gets a line a second at most
            self.printed = time.time()
            self.stream.write(text + '\n')
        self.stream.flush()

    def clear(self):
        if self.tty and self.width:
            self.stream.write('\r' + ' ' * self.width + '\r')
            self.stream.flush()
            self.width = 0


def _num(n):
    return '{:,}'.format(int(round(n)))


def _secs(s):
    return '%.1fs' % s if s < 60 else '%dm%02ds' % divmod(int(s), 60)
