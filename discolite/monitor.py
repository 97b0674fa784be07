"""Live display of a job's events while ``wait(show=...)`` runs (``DISCO_EVENTS``).

``show`` falsy prints nothing; ``'json'`` prints each event as a JSON list on
stdout; ``'nocolor'`` (or any true value when stderr is not a terminal) prints
``<timestamp> <host> <message>`` lines and status lines to stderr; any other
true value on a terminal adds ANSI colours.
"""
import json
import sys

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
        if self.show == 'json':
            self.out = stream or sys.stdout
        elif self.show:
            self.out = stream or sys.stderr
            self.color = self.show != 'nocolor' and getattr(self.out, 'isatty', lambda: False)()
            if self.color:
                self.out.write('\033[1mJob %s\033[0m\n' % jobname)

    def refresh(self, final=False):
        if not self.show:
            return
        try:
            for offset, (timestamp, host, message) in self.disco.events(self.jobname, self.offset):
                self.offset = offset
                self.event(timestamp, host, message)
            if self.show != 'json':
                self.status_line()
        except CommError:
            pass
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
