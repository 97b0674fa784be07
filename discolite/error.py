"""Disco's exception types (``disco.error``), with the same messages."""


class DiscoError(Exception):
    """Base class of every error discolite raises on purpose."""

    def __str__(self):
        return ' '.join(str(a) for a in self.args) if self.args else ''


class JobError(DiscoError):
    """A job failed (or timed out while being waited on)."""

    def __init__(self, job, message):
        self.job = job
        self.message = message
        super().__init__(job, message)

    def __str__(self):
        name = getattr(self.job, 'name', self.job)
        return "Job {0} failed: {1}".format(name, self.message)


class DataError(DiscoError):
    """A resource could not be read; inside a task this is recoverable (the task is retried)."""

    def __init__(self, msg, url, code=None):
        self.msg = msg
        self.url = url
        self.code = code
        super().__init__(msg, url, code)

    def __str__(self):
        s = "Unable to access resource ({0}): {1}".format(self.url, self.msg)
        if self.code is not None:
            s += " ({0})".format(self.code)
        return s


class CommError(DataError):
    """A network or HTTP failure; ``code`` is the HTTP status or None."""


def failure_events(messages):
    """The event messages that say why a job died: its first FATAL, else the last task ERROR
    with the WARNING (the task's own error) before it.  ``messages``: the job's event texts."""
    messages = list(messages)
    fatal = [m for m in messages if m.startswith('FATAL: ')]
    if fatal:
        return fatal[:1]
    errors = [i for i, m in enumerate(messages) if m.startswith('ERROR: [')]
    if not errors:
        return []
    first = errors[0]
    warnings = [m for m in messages[:first] if m.startswith('WARNING: [')]
    return warnings[-1:] + [messages[first]]


def _stdlib():
    """Prefixes of the standard library's files (not the user's code)."""
    import sysconfig
    paths = sysconfig.get_paths()
    return tuple(p.rstrip('/') + '/' for p in (paths.get('stdlib'), paths.get('platstdlib')) if p)


def _own(path):
    """True for a file of discolite itself: this package, or a copy shipped in a job home
    (``lib/discolite/...``); not a user's file that merely lies in a directory named
    discolite (a clone of this repository, say)."""
    import os
    import re
    pkg = os.path.dirname(os.path.abspath(__file__))
    return path == pkg or path.startswith(pkg + os.sep) or \
        re.search(r'(^|[/\\])lib[/\\]discolite[/\\]', path) is not None


def summarize_failure(message):
    """One line from a FATAL/ERROR/WARNING event: the exception type and message, the task,
    and the file and line of the innermost frame outside discolite, e.g.
    ``ValueError: boom (map:0, wc.py line 3)``."""
    import os
    import re
    text = re.sub(r'^(FATAL|ERROR|WARNING|WARN): ', '', message)
    task = ''
    m = re.match(r'\[([\w.-]+:\d+)\] ', text)
    if m:
        task, text = m.group(1), text[m.end():]
    lines = text.splitlines()
    start = max((i for i, l in enumerate(lines) if l.startswith('Traceback (most recent call')),
                default=None)
    where = ''
    if start is None:
        line = next((l.strip() for l in lines if l.strip()), '')
    else:
        line = ''
        for l in lines[start + 1:]:
            frame = re.match(r'\s+File "([^"]+)", line (\d+)', l)
            if frame:
                path = frame.group(1)
                if not path.startswith('<') and not path.startswith(_stdlib()) and \
                        not _own(path):
                    rel = os.path.relpath(path) if os.path.isabs(path) else path
                    where = '%s line %s' % (path if rel.startswith('..') else rel,
                                            frame.group(2))
            elif l and not l[0].isspace():
                line = l.strip()
                break
    parts = [p for p in (task, where) if p]
    if parts:
        line += ' (%s)' % ', '.join(parts)
    if len(line) > 300:
        line = line[:297] + '...'
    note = next((l.strip() for l in lines if l.startswith('Note: ')), None)
    return '%s. %s' % (line, note) if note else line


def failure_reason(messages):
    """``(one line, full event text)`` of why a job died, from its event messages, or None."""
    import re
    found = failure_events(messages)
    if not found:
        return None
    line = summarize_failure(found[0])
    if len(found) > 1:
        line += '; ' + re.sub(r'^ERROR: \[[^\]]*\] ', '', found[-1].splitlines()[0])
    return line, '\n'.join(found)
