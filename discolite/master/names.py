"""Job names and prefixes: the one check every entry point uses.

A job name is ``<prefix>@<megasecs>:<secs>:<microsecs>`` (lowercase hex, see
``jobs.new_jobname``).  It becomes a directory name under the data dir, part of
result URLs (``disco://host/disco/host/hh/<job>/...``) and of DDFS tag names
(``disco:job:oob:<job>``), so:

* a prefix with ``/`` or ``.`` is refused with Disco's own ``invalid prefix``;
* a prefix with any other character outside ``A-Z a-z 0-9 _ - @ :`` (the
  characters DDFS allows in tag names; whitespace, ``#``, ``?``, ``%``, non-ASCII
  ...) is refused at submission with ``invalid prefix: ...`` saying why: Disco
  accepts some of these and then fails later (whitespace breaks its
  ``map_shuffle`` index parser, ``#?%`` make results unreadable over HTTP);
* anything that is not a job name of that shape is "no such job" for every
  endpoint and CLI command, and never reaches a file system path.

:class:`JobName` is a ``str`` that can only be made by :func:`jobname` (or
``jobs.new_jobname``): storage functions that read or delete accept nothing else.
"""
import re

PREFIX_CHARS = 'A-Z a-z 0-9 _ - @ :'
MAX_PREFIX = 200  # bytes; the whole name must fit in a file name (255)
_PREFIX = re.compile(r'[A-Za-z0-9_\-@:]*\Z')
_JOBNAME = re.compile(r'([A-Za-z0-9_\-@:]*)@[0-9a-f]{1,16}:[0-9a-f]{1,16}:[0-9a-f]{1,16}\Z')


class InvalidName(ValueError):
    """A prefix or job name the master refuses; ``str()`` says why."""


class JobName(str):
    """A job name that passed :func:`jobname` (safe as a path component and in URLs)."""
    __slots__ = ()


def check_prefix(prefix):
    """Return ``prefix`` if jobs may be submitted with it, else raise InvalidName."""
    if not isinstance(prefix, str) or '/' in prefix or '.' in prefix:
        raise InvalidName('invalid prefix')  # exactly Disco's answer
    if len(prefix.encode('utf-8')) > MAX_PREFIX:
        raise InvalidName('invalid prefix: longer than %d bytes' % MAX_PREFIX)
    if not _PREFIX.match(prefix):
        bad = sorted({c for c in prefix if not _PREFIX.match(c)})
        raise InvalidName('invalid prefix: %s not allowed (a job name goes into result URLs '
                          'and DDFS tag names: use only %s)'
                          % (', '.join(repr(c) for c in bad), PREFIX_CHARS))
    return prefix


def is_jobname(name):
    """True when ``name`` has the shape of a job name this master could have made."""
    return isinstance(name, str) and _JOBNAME.match(name) is not None and \
        len(name.encode('utf-8')) <= MAX_PREFIX + 60


def jobname(name):
    """``name`` as a :class:`JobName`; raises InvalidName when it is not a valid job name."""
    if isinstance(name, JobName):
        return name
    if not is_jobname(name):
        raise InvalidName('not a job name: %r (expected <prefix>@<hex>:<hex>:<hex>)'
                          % (name,))
    return JobName(name)


def lookup(name):
    """``name`` as a :class:`JobName`, or None when it cannot name any job (for lookups that
    answer "unknown job" rather than an error, as Disco does)."""
    try:
        return jobname(name)
    except InvalidName:
        return None
