"""Out-of-band values on disk: ``<root>/oob/<hh(job)>/<job>/<key>`` (raw bytes, stdlib only)."""
import os
import shutil
import tempfile
from hashlib import md5

from discolite.error import CommError, DiscoError


def _hh(name):
    return md5(name.encode()).hexdigest()[:2]


def _check(kind, name):
    if not isinstance(name, str) or not name or '/' in name or '\\' in name or \
            '\x00' in name or name in ('.', '..') or '..' in name.split(os.sep):
        raise DiscoError("Invalid OOB %s name: %r" % (kind, name))


class OOBStore(object):
    """OOB values of the jobs of one data root.

    ``get``/``list`` raise ``CommError(..., code=404)`` when the job has no OOB data at all;
    ``get`` returns None when the job has OOB data but not the key.
    """

    def __init__(self, root):
        self.root = os.path.abspath(root)

    def jobdir(self, job):
        """Directory holding the OOB values of ``job``."""
        _check('job', job)
        return os.path.join(self.root, 'oob', _hh(job), job)

    def _url(self, job, key=None):
        url = 'local://%s/oob/%s' % (self.root, job)
        return url if key is None else url + '/' + key

    def put(self, job, key, value):
        """Store ``value`` (bytes) atomically; a later put of the same key wins."""
        _check('key', key)
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise DiscoError("OOB values must be bytes, not %s" % type(value).__name__)
        d = self.jobdir(job)
        os.makedirs(d, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix='.%s.' % key[:50], suffix='.partial', dir=d)
        try:
            with os.fdopen(fd, 'wb') as f:
                f.write(value)
            os.replace(tmp, os.path.join(d, key))
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def _existing(self, job):
        d = self.jobdir(job)
        if not os.path.isdir(d):
            raise CommError("No OOB data for job %s" % job, self._url(job), 404)
        return d

    def get(self, job, key):
        """The bytes stored under ``key``, or None; CommError 404 if the job has no OOB."""
        _check('key', key)
        d = self._existing(job)
        try:
            with open(os.path.join(d, key), 'rb') as f:
                return f.read()
        except FileNotFoundError:
            return None

    def list(self, job):
        """The keys stored for ``job``; CommError 404 if the job has no OOB."""
        d = self._existing(job)
        return sorted(n for n in os.listdir(d) if not n.startswith('.'))

    def exists(self, job):
        """True when ``job`` has an OOB directory."""
        return os.path.isdir(self.jobdir(job))

    def purge(self, job):
        """Remove every OOB value of ``job``."""
        shutil.rmtree(self.jobdir(job), ignore_errors=True)
