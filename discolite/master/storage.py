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
import threading
import time
import zipfile

from discolite.fileutils import make_dirs
from discolite.master import names
from discolite.task import hexhash


def index_name(stage, taskid):
    """The file name of a task run's index: ``<stage>-<taskid>-<microseconds>.results``."""
    return '%s-%d-%d.results' % (stage, taskid, int(time.time() * 1e6))


def index_entries(host, prefix, outputs):
    """``(label, url, size)`` of each line of the index file of ``outputs``, as
    ``util.read_index`` yields them back; None when reading might give something else
    (a URL with white space or non-ASCII in it)."""
    data = 'disco://%s/%s/' % (host, prefix)
    entries = []
    for label, path, size in outputs:
        url = path if '://' in path else data + path
        if not url.isascii() or url.split() != [url]:
            return None
        entries.append((label, url, size))
    return entries


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
        if text.isascii():  # every index of discolite's own jobs: no text layer
            write_new_file(path, text.encode('ascii'), directory)
        else:
            try:
                f = open(path, 'w')
            except FileNotFoundError:  # the job's first index
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


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, 'O_CLOEXEC', 0)


def write_new_file(path, data, directory=None):
    """Write ``data`` (bytes) as the file ``path``, as ``open(path, 'wb')`` would (mode 0666
    less the umask), in three system calls instead of the six of a Python file object;
    with ``directory``, that directory is made when missing (the job's first file there)."""
    try:
        fd = os.open(path, _CREATE, 0o666)
    except FileNotFoundError:
        if directory is None:
            raise
        make_dirs(directory)
        fd = os.open(path, _CREATE, 0o666)
    try:
        done = os.write(fd, data)  # no memoryview kept: ``data`` may be an mmap closed later
        while done < len(data):
            done += os.write(fd, data[done:])
    finally:
        os.close(fd)


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


RAM_DIR = '/dev/shm'
RAM_MIN_FREE = 1 << 30  # bytes free on RAM_DIR for a temporary data root to go there


def temporary_root():
    """A fresh directory for a master given no data directory (deleted when it closes).

    On a RAM-backed file system (``/dev/shm``) when there is one with at least
    ``RAM_MIN_FREE`` bytes free and ``TMPDIR`` is not set: a task creates several
    files and directories, and creating a file on a disk file system costs from
    10 us to, on some virtual machines, a millisecond (tmpfs: a few us).  Else
    under ``TMPDIR`` (``tempfile``'s choice).  Nothing here needs to outlive the
    master; a directory that must is given with ``DISCOLITE_DATA``/``--data-dir``.
    Returns ``(root, lock)``: the descriptor whose lock says the root is in use (None
    where there is no ``flock``); the roots of masters that died are swept first.
    """
    parent = temporary_parent()
    sweep_temporary_roots(parent)
    root = tempfile.mkdtemp(prefix='discolite-', dir=parent)
    return root, _claim(root)


TEMPORARY_MARK = '.discolite-temporary'  # in a temporary root: locked while its master lives


def _claim(root):
    """Mark ``root`` as a temporary root and hold its lock (an open descriptor, released
    by the kernel however this process ends)."""
    try:
        import fcntl
    except ImportError:  # no flock: no sweeping either
        return None
    mark = os.path.join(root, TEMPORARY_MARK)
    fd = os.open(mark + '.new',
                 os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, 'O_CLOEXEC', 0), 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.rename(mark + '.new', mark)  # locked before a sweeper can see it
    return fd


def sweep_temporary_roots(parent):
    """Delete the temporary roots in ``parent`` whose master has died without deleting
    its own (SIGKILL, SIGTERM, a crash): on ``/dev/shm`` they would hold memory until
    the next reboot.  Only directories named ``discolite-*`` that hold our mark, with
    nobody holding its lock, and owned by us, are touched."""
    try:
        import fcntl
        names = os.listdir(parent)
    except (ImportError, OSError):
        return 0
    swept = 0
    for name in names:
        if not name.startswith('discolite-'):
            continue
        root = os.path.join(parent, name)
        try:
            st = os.lstat(root)
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
                continue
            fd = os.open(os.path.join(root, TEMPORARY_MARK),
                         os.O_RDONLY | os.O_NOFOLLOW | getattr(os, 'O_CLOEXEC', 0))
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # its master is alive
            os.close(fd)
            continue
        try:
            shutil.rmtree(root, ignore_errors=True)
            swept += 1
        finally:
            os.close(fd)
    return swept


def temporary_parent():
    """Where :func:`temporary_root` makes its directories now."""
    if not os.environ.get('TMPDIR'):
        try:
            st = os.statvfs(RAM_DIR)
            if st.f_bavail * st.f_frsize >= RAM_MIN_FREE and os.access(RAM_DIR, os.W_OK | os.X_OK):
                return RAM_DIR
        except OSError:
            pass
    return tempfile.gettempdir()


class Storage(object):
    """Paths and URLs under one master's data root (a fresh temp dir when ``root`` is empty).

    Functions taking ``job`` accept a JobRecord or a ``names.JobName``; every path they
    build is checked to resolve inside the data root before it is used.
    """

    def __init__(self, root, host):
        self.owns_root = not root
        self._claim = None  # the lock of a temporary root (see sweep_temporary_roots)
        if not root:
            root, self._claim = temporary_root()
        self.root = os.path.abspath(root)
        self.host = host
        self.disco_data = os.path.join(self.root, 'data')
        self.master_root = os.path.join(self.root, 'master')
        self.ddfs_root = os.path.join(self.root, 'ddfs')
        for d in (self.disco_data, self.master_root, self.ddfs_root):
            os.makedirs(d, exist_ok=True)
        self._index_dirs = {}     # job name -> (its .disco directory, its URL prefix)
        self._homes_on = set(self.hosts())  # nodes that have had a job home here (purge
        #                                     looks there, without listing the directory)
        self.home_dirs = {}       # job home just made -> the directories in it (see
        #                           create_jobhome; taken by the scheduler)
        self._trash = Trash(os.path.join(self.root, 'trash'))
        self._dirs_lock = threading.Lock()

    def checked(self, path):
        """``path`` if it resolves strictly inside the data root, else UnsafePath."""
        if self._plainly_inside(path):
            return path
        if not inside(path, self.root):
            raise UnsafePath('refusing %r: it is outside the data directory %s'
                             % (path, self.root))
        return path

    def _plainly_inside(self, path):
        """True for a path below the root whose existing parts below it are no symbolic
        links (and no ``.``/``..``): it resolves inside without resolving the root again."""
        prefix = self.root + os.sep
        if not path.startswith(prefix):
            return False
        parts = path[len(prefix):].split(os.sep)
        if '' in parts or '.' in parts or '..' in parts:
            return False
        current = self.root
        for part in parts:
            current = current + os.sep + part
            try:
                mode = os.lstat(current).st_mode
            except FileNotFoundError:
                return True  # nothing below it exists: no link to follow
            except OSError:
                return False
            if stat.S_ISLNK(mode):
                return False
        return True

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
        self._homes_on.add(host or self.host)
        with self._dirs_lock:  # not while remove_job removes an empty <hh> bucket
            make_dirs(home)
            if host is None or host == self.host:  # the event log's directory
                make_dirs(self.master_dir(job))
        try:
            dirs = unpack_zip(jobhome_zip, home, skip_prefix, max_size)
        except Exception:
            shutil.rmtree(home, ignore_errors=True)
            raise
        if dirs is not None:  # a fresh home holds only what the zip made
            if len(self.home_dirs) > 100:
                self.home_dirs.clear()
            self.home_dirs[home] = dirs
        jobfile = os.path.join(home, 'jobfile')
        write_new_file(jobfile, packbytes)
        write_new_file(os.path.join(home, '.jobhome'), b'')
        return home, jobfile

    def remove_uploads(self):
        """Delete the job packs a stopped master was receiving (``tmp/upload-*``): called at
        start-up on a kept data directory, whose lock says no other master uses them."""
        directory = os.path.join(self.root, 'tmp')
        try:
            names = os.listdir(directory)
        except OSError:
            return
        for name in names:
            if name.startswith('upload-'):
                try:
                    os.unlink(os.path.join(directory, name))
                except OSError:
                    pass

    def remove_job(self, job, data=True):
        """Delete the job's events; with ``data`` also its job home and task outputs.  Its DDFS
        data (OOB values, saved results) stays, as on Disco (docs/differences.md).

        The job's directories leave their places at once (a rename into ``<root>/trash``);
        deleting their files, a few hundred microseconds a directory on a disk, is left to
        a background thread, as a Disco node deletes a purged job's data after the master
        has answered.
        """
        name = _record_name(job)
        for key in [k for k in self._index_dirs if k[0] == name]:
            del self._index_dirs[key]
        doomed = [self.master_dir(name)]
        if data:
            home = self.jobhome(name)
            doomed += [other for other in (self.jobhome(name, host)
                                           for host in sorted(self._homes_on)
                                           if host != self.host)
                       if other != home]  # its home on every emulated node
            doomed.append(home)
        with self._dirs_lock:
            moved = self._trash.move(doomed)
            for d in doomed:  # their <hh> buckets, once empty (a refused pack leaves nothing)
                try:
                    os.rmdir(os.path.dirname(d))
                except OSError:
                    pass
        # the deleting thread starts only now: it would hold up the rmdirs above (the GIL)
        self._trash.push(moved)

    def settle(self, timeout=None):
        """Wait until the directories of purged jobs are really deleted (True when they are)."""
        return self._trash.settle(timeout)

    def hosts(self):
        """The node names that have a data directory here."""
        try:
            return [h for h in os.listdir(self.disco_data)
                    if os.path.isdir(os.path.join(self.disco_data, h))]
        except OSError:
            return []

    def destroy(self):
        """Finish deleting purged jobs; delete the data root if this Storage created it."""
        self._trash.close(None if self.owns_root else 30)
        if self.owns_root:
            shutil.rmtree(self.root, ignore_errors=True)
            if self._claim is not None:
                os.close(self._claim)
                self._claim = None


class Trash(object):
    """Directories moved out of the way at once and deleted by a background thread.

    Entries are numbered (``<dir>/<pid>-<n>``), so nothing in the trash carries a job's
    name; what a previous master left there is deleted when the next one starts.
    """

    def __init__(self, directory):
        import itertools
        self.directory = directory
        self._count = itertools.count()
        self._queue = []
        self._cond = threading.Condition()
        self._busy = False
        self._thread = None
        self._closed = False
        try:
            leftovers = [os.path.join(directory, n) for n in os.listdir(directory)]
        except OSError:
            leftovers = []
        if leftovers:
            self._push(leftovers)

    def discard(self, paths):
        """Move each existing directory in ``paths`` into the trash and have it deleted."""
        self.push(self.move(paths))

    def push(self, moved):
        """Have the directories :meth:`move` moved deleted."""
        if moved:
            self._push(moved)

    def move(self, paths):
        """Move each existing directory in ``paths`` into the trash; the new paths."""
        moved = []
        for path in paths:
            target = os.path.join(self.directory, '%d-%d' % (os.getpid(), next(self._count)))
            try:
                os.rename(path, target)
            except FileNotFoundError:
                if not os.path.lexists(path):
                    continue  # nothing there: nothing to delete
                os.makedirs(self.directory, exist_ok=True)  # the first purge
                try:
                    os.rename(path, target)
                except OSError:
                    shutil.rmtree(path, ignore_errors=True)
                    continue
            except OSError:  # e.g. another file system: delete it in place
                shutil.rmtree(path, ignore_errors=True)
                continue
            moved.append(target)
        return moved

    def _push(self, paths):
        with self._cond:
            if self._closed:
                for path in paths:
                    shutil.rmtree(path, ignore_errors=True)
                return
            self._queue.extend(paths)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name='discolite-trash',
                                                daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _run(self):
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._busy = False
                    self._cond.notify_all()
                    self._cond.wait()
                if not self._queue:
                    self._busy = False
                    self._cond.notify_all()
                    return
                path = self._queue.pop(0)
                self._busy = True
            shutil.rmtree(path, ignore_errors=True)

    def settle(self, timeout=None):
        """Wait until everything queued is deleted; False if ``timeout`` passed first."""
        deadline = None if timeout is None else time.time() + timeout
        with self._cond:
            while self._queue or self._busy:
                left = None if deadline is None else deadline - time.time()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout=None):
        """Stop the thread; with a ``timeout``, first finish (for that long) what is queued."""
        if timeout:
            self.settle(timeout)
        with self._cond:
            self._closed = True
            thread = self._thread
            if timeout is None:
                self._queue = []
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout if timeout else 0.5)


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


_PLANS = []  # [(zip bytes, skip_prefix, plan)]: the last job homes unpacked (see _plan)
_PLAN_BYTES = 1 << 20  # entries of at most this many bytes in all are kept with a plan


def unpack_zip(data, dest, skip_prefix=None, max_size=0):
    """Extract zip bytes into ``dest``; an entry with an absolute path or ``..`` is an error,
    and so is (``max_size`` > 0) more than ``max_size`` bytes unpacked: the sizes the zip
    declares are checked before anything is written, the bytes written as they are.

    A client submits the same job home again and again (the library zip, plus the same
    module): what its checks found and the (small) entries to write are kept for the
    last few zips, compared byte for byte, so the zip is not parsed again.

    Returns the directories the entries made in ``dest`` (relative, normalised; ``.`` is
    ``dest``), or None when the zip was extracted without a plan."""
    if not data:
        return frozenset(['.'])
    plan = None
    for known, skip, known_plan in _PLANS:
        if skip == skip_prefix and len(known) == len(data) and known == data:
            plan = known_plan
            break
    if plan is None:
        plan = _plan(data, skip_prefix)
    if plan is not None:
        if max_size and sum(len(c) for _n, c, _m in plan if c is not None) > max_size:
            raise _too_large(max_size)
        base = os.path.realpath(dest) if plan else None
        for name, content, mode in plan:
            target = _target(base, name)
            if content is None:
                os.makedirs(target, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, 'wb') as out:
                out.write(content)
            if mode & 0o100:
                os.chmod(target, 0o755)
        return _plan_dirs(plan)
    _extract(data, dest, skip_prefix, max_size)
    return None


_DIRS = {}  # id(plan) -> (plan, the directories it makes)


def _plan_dirs(plan):
    """The directories (relative, normalised, and ``.``) that writing ``plan`` makes."""
    known = _DIRS.get(id(plan))
    if known is not None and known[0] is plan:
        return known[1]
    dirs = {'.'}
    for name, content, _mode in plan:
        path = os.path.normpath(name)
        if content is not None:
            path = os.path.dirname(path)
        while path and path not in dirs:
            dirs.add(path)
            path = os.path.dirname(path)
    dirs = frozenset(dirs)
    if len(_DIRS) >= 8:
        _DIRS.clear()
    _DIRS[id(plan)] = (plan, dirs)
    return dirs


def _target(base, name):
    target = os.path.realpath(os.path.join(base, name))
    if not (target == base or target.startswith(base + os.sep)):
        raise UnsafeJobHome("jobhome entry %r escapes the job directory" % name)
    return target


def _open_zip(data):
    import io
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as e:
        raise UnsafeJobHome("jobhome is not a valid zip file: %s" % e)


def _check_entries(infos):
    for info in infos:  # refuse the whole zip before writing anything
        name = info.filename
        if name.startswith('/') or name.startswith('\\') or \
                '..' in name.replace('\\', '/').split('/') or (len(name) > 1 and name[1] == ':'):
            raise UnsafeJobHome("jobhome entry %r escapes the job directory" % name)
        if '\0' in name:
            raise UnsafeJobHome("jobhome entry %r has a NUL byte in its name" % name)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UnsafeJobHome("jobhome entry %r is a symbolic link" % name)


def _plan(data, skip_prefix):
    """``[(name, bytes or None for a directory, mode)]`` to write for a zip whose entries
    pass the checks and are small, remembered for the next identical zip; None when the
    zip is better extracted as it is (big entries).  Raises UnsafeJobHome as _extract."""
    with _open_zip(data) as z:
        infos = z.infolist()
        _check_entries(infos)
        wanted = [i for i in infos if not (skip_prefix and i.filename.startswith(skip_prefix))]
        if sum(i.file_size for i in wanted) > _PLAN_BYTES:
            return None
        plan = []
        total = 0
        for info in wanted:
            if info.is_dir():
                plan.append((info.filename, None, 0))
                continue
            try:
                with z.open(info) as src:
                    content = src.read(_PLAN_BYTES + 1)
            except Exception:
                return None  # a broken entry: _extract says what is wrong
            total += len(content)
            if total > _PLAN_BYTES:
                return None
            plan.append((info.filename, content, (info.external_attr >> 16) & 0o777))
    if len(_PLANS) >= 4:
        _PLANS.pop(0)
    _PLANS.append((bytes(data), skip_prefix, plan))
    return plan


def _extract(data, dest, skip_prefix, max_size):
    base = os.path.realpath(dest)
    with _open_zip(data) as z:
        infos = z.infolist()
        _check_entries(infos)
        wanted = [i for i in infos if not (skip_prefix and i.filename.startswith(skip_prefix))]
        if max_size and sum(i.file_size for i in wanted) > max_size:
            raise _too_large(max_size)
        written = 0
        for info in wanted:
            target = _target(base, info.filename)
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
