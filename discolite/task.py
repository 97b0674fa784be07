"""``Task``: what a job function knows about the task it runs in (``disco.task``)."""
import hashlib
import os
import re
import time

from discolite import dPickle
from discolite.error import DiscoError


_HEXHASHES = {}  # str -> hexhash(str): job names and task uids are hashed again and again


def hexhash(s):
    """The first two hex digits of ``md5(s)`` (a str is UTF-8 encoded): a directory fan-out."""
    if type(s) is str:
        known = _HEXHASHES.get(s)
        if known is None:
            if len(_HEXHASHES) >= 4096:
                _HEXHASHES.clear()
            known = _HEXHASHES[s] = hashlib.md5(s.encode('utf-8')).hexdigest()[:2]
        return known
    if isinstance(s, str):
        s = s.encode('utf-8')
    return hashlib.md5(s).hexdigest()[:2]


_UNSAFE = re.compile(r'[^A-Za-z0-9_\-@:]')


def safe_name(name):
    r"""``str(name)`` with every character outside ``[A-Za-z0-9_\-@:]`` replaced by ``_``."""
    return _UNSAFE.sub('_', str(name))


def jobdata(*objs, keep_globals=None):
    """The opaque jobdata field of a job pack: the pickled ``(job, jobargs)``."""
    return dPickle.dumps(objs, -1, keep_globals=keep_globals)


MAX_OOB_KEY = 200  # longer blob prefixes become their md5 in DDFS: unreadable by name
OOB_KEY_CHARS = 'allowed are the letters A-Z a-z, the digits 0-9 and _ - @ :'


class Task(object):
    """The task a worker runs, built from the fields of the master's TASK payload.

    Paths (:attr:`taskpath`, :meth:`path`, :meth:`output`) are relative to the
    worker's working directory, as on a Disco node.
    """

    def __init__(self, host='', jobfile='', jobname='', master=None, disco_port=None,
                 put_port=None, ddfs_data='', disco_data='', stage=None, group=None,
                 grouping=None, taskid=-1):
        from discolite.job import JobPack
        self.host = host
        self.jobfile = jobfile
        self.jobname = jobname
        self.master = master
        self.disco_port = disco_port
        self.put_port = put_port
        self.ddfs_data = ddfs_data
        self.disco_data = disco_data
        self.stage = stage
        self.grouping = grouping
        self.taskid = taskid
        label, ghost = group if group is not None else (0, '')
        self.group_label = label
        self.group_host = ghost or ''
        self.group = '{0}-{1}'.format(label, self.group_host)
        self.outputs = {}
        self.uid = '{0}:{1}-{2}-{3}-{4}'.format(stage, safe_name(self.group), taskid,
                                              hexhash(str(time.time())), os.getpid())
        self._jobpack = None
        self._jobobjs = None
        self._JobPack = JobPack

    @property
    def jobpack(self):
        if self._jobpack is None:
            import io
            with open(self.jobfile, 'rb') as f:
                self._jobpack = self._JobPack.load(io.BytesIO(f.read()))
        return self._jobpack

    @property
    def jobobjs(self):
        if self._jobobjs is None:
            self._jobobjs = dPickle.loads(self.jobpack.jobdata)
        return self._jobobjs

    @property
    def jobpath(self):
        return os.path.join(self.host, hexhash(self.jobname), self.jobname)

    @property
    def taskpath(self):
        return os.path.join(hexhash(self.uid), self.uid)

    def makedirs(self):
        os.makedirs(self.taskpath, exist_ok=True)

    def path(self, name):
        return os.path.join(self.taskpath, name)

    def output_filename(self, label):
        if not isinstance(label, int):
            raise ValueError("Output label ({0} : {1}) must be an integer or None"
                             .format(label, type(label)))
        return '{0}-{1}-{2}'.format(self.stage, self.group, label)

    def output_path(self, label):
        return self.path(self.output_filename(label))

    def output(self, label=None, typ='disco'):
        """``(path, type, label)`` of an output: label None is the task's single output."""
        if label is None:
            return self.path(self.uid), typ, 0
        return self.output_path(label), 'part', label

    def url(self, name, scheme='disco'):
        return '{0}://{1}/disco/{2}/{3}/{4}'.format(scheme, self.host, self.jobpath,
                                                  self.taskpath, name)

    def get(self, key):
        """The OOB value stored under ``key`` for this job (bytes), or None."""
        from discolite.util import load_oob
        return load_oob(self.master, self.jobname, key)

    def put(self, key, value):
        """Store ``value`` (bytes) under ``key`` in this job's OOB storage."""
        check_oob_key(key)
        if not isinstance(value, (bytes, bytearray)):
            raise DiscoError("OOB value for key %r must be bytes, not %s"
                             % (key, type(value).__name__))
        from discolite.util import save_oob
        save_oob(self.master, self.jobname, key, bytes(value))

    def __repr__(self):
        return 'Task(%s %s:%s)' % (self.jobname, self.stage, self.taskid)


def check_oob_key(key):
    """Raise DiscoError unless ``key`` is a non-empty safe_name of at most MAX_OOB_KEY characters."""
    if not isinstance(key, str) or safe_name(key) != key or not key:
        raise DiscoError("OOB key contains invalid characters ({0}): {1}".format(
            key, OOB_KEY_CHARS if isinstance(key, str) and key else
            'it must be a non-empty str; ' + OOB_KEY_CHARS))
    if len(key) > MAX_OOB_KEY:
        raise DiscoError("OOB key is longer than %d characters (%d): %s..."
                         % (MAX_OOB_KEY, len(key), key[:40]))
