"""Out-of-band values on disk: ``<root>/oob/<hh(job)>/<job>/<key>`` (raw bytes, stdlib only).

Keys may be up to 256 characters (Disco's documented limit) but a file name may
not exceed 255 bytes, so a key longer than ``MAX_FILENAME`` is stored as
``=<md5(key)>`` with its name in ``=<md5(key)>.key`` (``=`` never occurs in a
valid key, so these names cannot clash with short keys).
"""
import os
import shutil
import tempfile
from hashlib import md5

from discolite.error import CommError, DiscoError


def _hh(name):
    return md5(name.encode()).hexdigest()[:2]


MAX_FILENAME = 200


def _filename(key):
    if len(key.encode('utf-8')) <= MAX_FILENAME:
        return key
    return '=' + md5(key.encode('utf-8')).hexdigest()


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
        filename = _filename(key)
        if filename != key:
            self._write(d, filename + '.key', key.encode('utf-8'))
        self._write(d, filename, value)

    @staticmethod
    def _write(d, filename, value):
        fd, tmp = tempfile.mkstemp(prefix='.%s.' % filename[:50], suffix='.partial', dir=d)
        try:
            with os.fdopen(fd, 'wb') as f:
                f.write(value)
            os.replace(tmp, os.path.join(d, filename))
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
            with open(os.path.join(d, _filename(key)), 'rb') as f:
                return f.read()
        except (FileNotFoundError, IsADirectoryError):
            return None

    def list(self, job):
        """The keys stored for ``job``; CommError 404 if the job has no OOB."""
        d = self._existing(job)
        keys = []
        for name in os.listdir(d):
            if name.startswith('='):
                if name.endswith('.key') and os.path.exists(os.path.join(d, name[:-4])):
                    try:
                        with open(os.path.join(d, name), 'rb') as f:
                            keys.append(f.read().decode('utf-8'))
                    except OSError:
                        pass
            elif not name.startswith('.'):
                keys.append(name)
        return sorted(keys)

    def mtime(self, job, key):
        """Modification time of ``key``'s value (None if absent): newest first in the DDFS tag."""
        try:
            return os.path.getmtime(os.path.join(self.jobdir(job), _filename(key)))
        except (OSError, DiscoError):
            return None

    def exists(self, job):
        """True when ``job`` has an OOB directory."""
        return os.path.isdir(self.jobdir(job))

    def purge(self, job):
        """Remove every OOB value of ``job``."""
        shutil.rmtree(self.jobdir(job), ignore_errors=True)
