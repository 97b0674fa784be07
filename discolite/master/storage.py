"""The master's data directory: where job homes, task outputs, index files and events live.

Layout (mirrors a Disco node and master, see docs/ARCHITECTURE.md)::

    <root>/data/<host>/<hh>/<job>/        node job home, task outputs, .disco/*.results
    <root>/master/<hh>/<job>/events       event log
    <root>/ddfs/vol0/{blob,tag}/<hh>/...  DDFS (OOB values, saved results; ddfs_store.py)
"""
import os
import shutil
import stat
import tempfile
import time
import zipfile

from discolite.master import names
from discolite.task import hexhash


def index_name(stage, taskid):
    """The file name of a task run's index: ``<stage>-<taskid>-<microseconds>.results``."""
    return '%s-%d-%d.results' % (stage, taskid, int(time.time() * 1e6))


def write_index_file(directory, host, prefix, name, outputs):
    """Write ``outputs`` (``(label, path, size)``, paths relative to the job home or URLs)
    as the index file ``directory/name``; returns its ``dir://`` URL.

    Used by the master and, for its own tasks, by a pool worker (``PipeChannel``), which
    saves the master a file creation per task.  No half-written index is left behind.
    """
    data = 'disco://%s/%s/' % (host, prefix)
    text = ''.join(['%d %s %d\n' % (label, path if '://' in path else data + path, size)
                    for label, path, size in outputs])
    path = os.path.join(directory, name)
    try:
        try:
            f = open(path, 'w')
        except FileNotFoundError:  # the job's first index (directories made once per job)
            os.makedirs(directory, exist_ok=True)
            f = open(path, 'w')
        with f:
            f.write(text)
    except OSError as e:  # say which file (a full disk)
        try:
            os.unlink(path)
        except OSError:
            pass
        raise OSError(e.errno, e.strerror, path)
    return 'dir://%s/%s/.disco/%s' % (host, prefix, name)


class UnsafeJobHome(ValueError):
    pass


class UnsafePath(RuntimeError):
    """A path that would leave the data directory: a bug or an attack, never done."""


def inside(path, base):
    """True when ``path`` resolves (symbolic links followed) to something below ``base``."""
    return os.path.realpath(path).startswith(os.path.realpath(base) + os.sep)


def _name(job):
    """The validated name of ``job``: a JobRecord, a ``names.JobName``, or a str that must
    pass ``names.jobname`` (raises ``names.InvalidName``)."""
    return names.jobname(getattr(job, 'name', job))


def _record_name(job):
    """As :func:`_name`, for functions that delete: a free-form string is a TypeError."""
    name = getattr(job, 'name', job)
    if not isinstance(name, names.JobName):
        raise TypeError('expected a job record or a names.JobName, not %r' % (name,))
    return name


class Storage(object):
    """Paths and URLs under one master's data root (a fresh temp dir when ``root`` is empty).

    Functions taking ``job`` accept a JobRecord or a ``names.JobName``; every path they
    build is checked to resolve inside the data root before it is used.
    """

    def __init__(self, root, host):
        self.owns_root = not root
        self.root = os.path.abspath(root or tempfile.mkdtemp(prefix='discolite-'))
        self.host = host
        self.disco_data = os.path.join(self.root, 'data')
        self.master_root = os.path.join(self.root, 'master')
        self.ddfs_root = os.path.join(self.root, 'ddfs')
        for d in (self.disco_data, self.master_root, self.ddfs_root):
            os.makedirs(d, exist_ok=True)
        self._index_dirs = {}     # job name -> (its .disco directory, its URL prefix)

    def checked(self, path):
        """``path`` if it resolves strictly inside the data root, else UnsafePath."""
        if not inside(path, self.root):
            raise UnsafePath('refusing %r: it is outside the data directory %s'
                             % (path, self.root))
        return path

    # -- paths and URLs

    def jobhome(self, job, host=None):
        name = _name(job)
        return self.checked(os.path.join(self.disco_data, host or self.host, hexhash(name), name))

    def master_dir(self, job):
        name = _name(job)
        return self.checked(os.path.join(self.master_root, hexhash(name), name))

    def job_url_prefix(self, job, host=None):
        name = _name(job)
        return 'disco/%s/%s/%s' % (host or self.host, hexhash(name), name)

    def data_url(self, job, relpath, host=None):
        return 'disco://%s/%s/%s' % (host or self.host, self.job_url_prefix(job, host), relpath)

    def index_location(self, job, host=None):
        """``(directory, url prefix)`` of the index files of ``job``'s tasks on node ``host``
        (paths checked once per job and node, not for every task)."""
        host = host or self.host
        key = (_name(job), host)
        known = self._index_dirs.get(key)
        if known is None:
            if len(self._index_dirs) > 1000:
                self._index_dirs.clear()
            known = self._index_dirs[key] = (os.path.join(self.jobhome(job, host), '.disco'),
                                             self.job_url_prefix(job, host))
        return known

    def write_index(self, job, stage, taskid, outputs, host=None):
        """Write the index file of one task run on node ``host``; returns its ``dir://`` URL."""
        host = host or self.host
        directory, prefix = self.index_location(job, host)
        name = index_name(stage, taskid)
        if os.sep in name or name.startswith('.'):
            self.checked(os.path.join(directory, name))  # a stage name with a separator in it
        return write_index_file(directory, host, prefix, name, outputs)

    def resolve_data_path(self, relpath):
        """Map ``/disco/<relpath>`` to a file under the data dir; None if it escapes or is absent."""
        if '\0' in relpath:
            return None
        target = os.path.realpath(os.path.join(self.disco_data, relpath))
        base = os.path.realpath(self.disco_data)
        if not target.startswith(base + os.sep) or not os.path.isfile(target):
            return None
        return target

    # -- job homes

    def create_jobhome(self, job, packbytes, jobhome_zip, skip_prefix=None, host=None,
                       max_size=0):
        """Write the jobfile and unpack the job home zip, refusing entries that escape it
        and (``max_size`` > 0) a home that unpacks to more than ``max_size`` bytes."""
        home = self.jobhome(_record_name(job), host)
        os.makedirs(home, exist_ok=True)
        try:
            unpack_zip(jobhome_zip, home, skip_prefix, max_size)
        except Exception:
            shutil.rmtree(home, ignore_errors=True)
            raise
        jobfile = os.path.join(home, 'jobfile')
        with open(jobfile, 'wb') as f:
            f.write(packbytes)
        open(os.path.join(home, '.jobhome'), 'w').close()
        return home, jobfile

    def remove_job(self, job, data=True):
        """Delete the job's events; with ``data`` also its job home and task outputs.  Its DDFS
        data (OOB values, saved results) stays, as on Disco (docs/differences.md)."""
        name = _record_name(job)
        for key in [k for k in self._index_dirs if k[0] == name]:
            del self._index_dirs[key]
        events, home = self.master_dir(name), self.jobhome(name)
        shutil.rmtree(events, ignore_errors=True)
        if data:
            for host in self.hosts():  # the job's home on every (emulated) node
                other = self.jobhome(name, host)
                if other != home:
                    shutil.rmtree(other, ignore_errors=True)
                    try:
                        os.rmdir(os.path.dirname(other))
                    except OSError:
                        pass
            shutil.rmtree(home, ignore_errors=True)
            for d in (home, events):  # their <hh> parents, once empty
                try:
                    os.rmdir(os.path.dirname(d))
                except OSError:
                    pass

    def hosts(self):
        """The node names that have a data directory here."""
        try:
            return [h for h in os.listdir(self.disco_data)
                    if os.path.isdir(os.path.join(self.disco_data, h))]
        except OSError:
            return []

    def destroy(self):
        """Delete the data root if this Storage created it (a temporary one)."""
        if self.owns_root:
            shutil.rmtree(self.root, ignore_errors=True)


class JobHomeTooLarge(UnsafeJobHome):
    pass


def _too_large(max_size):
    return JobHomeTooLarge('the job home unpacks to more than %s (setting '
                           'DISCOLITE_MAX_JOBHOME=%d)' % (_human(max_size), max_size))


def _human(n):
    for unit in ('bytes', 'KiB', 'MiB', 'GiB'):
        if n < 1024 or unit == 'GiB':
            return '%g %s' % (n, unit)
        n /= 1024.0


def unpack_zip(data, dest, skip_prefix=None, max_size=0):
    """Extract zip bytes into ``dest``; an entry with an absolute path or ``..`` is an error,
    and so is (``max_size`` > 0) more than ``max_size`` bytes unpacked: the sizes the zip
    declares are checked before anything is written, the bytes written as they are."""
    import io
    if not data:
        return
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as e:
        raise UnsafeJobHome("jobhome is not a valid zip file: %s" % e)
    base = os.path.realpath(dest)
    with z:
        infos = z.infolist()
        for info in infos:  # refuse the whole zip before writing anything
            name = info.filename
            if name.startswith('/') or name.startswith('\\') or \
                    '..' in name.replace('\\', '/').split('/') or (len(name) > 1 and name[1] == ':'):
                raise UnsafeJobHome("jobhome entry %r escapes the job directory" % name)
            if '\0' in name:
                raise UnsafeJobHome("jobhome entry %r has a NUL byte in its name" % name)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise UnsafeJobHome("jobhome entry %r is a symbolic link" % name)
        wanted = [i for i in infos if not (skip_prefix and i.filename.startswith(skip_prefix))]
        if max_size and sum(i.file_size for i in wanted) > max_size:
            raise _too_large(max_size)
        written = 0
        for info in wanted:
            target = os.path.realpath(os.path.join(base, info.filename))
            if not (target == base or target.startswith(base + os.sep)):
                raise UnsafeJobHome("jobhome entry %r escapes the job directory" % info.filename)
            if info.is_dir():
                os.makedirs(target, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(info) as src, open(target, 'wb') as out:
                while True:  # the declared sizes may lie: count what is really written
                    block = src.read(1 << 20)
                    if not block:
                        break
                    written += len(block)
                    if max_size and written > max_size:
                        raise _too_large(max_size)
                    out.write(block)
            mode = (info.external_attr >> 16) & 0o777
            if mode & 0o100:
                os.chmod(target, 0o755)
