"""The base ``Worker`` (``disco.worker``): builds job packs on the client and runs tasks on the node.

Client side: :meth:`Worker.jobdict`, :meth:`Worker.jobenvs`, :meth:`Worker.jobhome`.
Node side: :func:`execute` runs one task given the master's TASK payload and a
channel (:mod:`discolite.worker.protocol`); :meth:`Worker.main` is the entry
point when the worker is started as an executable, as on a Disco node.
"""
import io
import os
import sys
import traceback
import zipfile

from discolite import dPickle
from discolite.error import DataError, DiscoError
from discolite.worker import protocol

JOBPACK_VERSION1 = 0x0001
JOBPACK_VERSION2 = 0x0002

_PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB_PREFIX = 'lib/'


class Params(object):
    """A plain object whose attributes are the given keywords (functions are shipped too)."""

    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)

    def __repr__(self):
        return 'Params(%s)' % ', '.join('%s=%r' % kv for kv in sorted(self.__dict__.items()))


_library_zip = None
_BINS = {}  # a worker module's file -> its path in the job home (Worker.bin)


def library_zip():
    """Zip bytes of the discolite package under ``lib/discolite``, built once per process."""
    global _library_zip
    if _library_zip is None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, 'w', zipfile.ZIP_DEFLATED) as z:
            root = os.path.dirname(_PKG_DIR)
            for path in _py_files(_PKG_DIR):
                info = zipfile.ZipInfo(LIB_PREFIX + os.path.relpath(path, root),
                                       (1980, 1, 1, 0, 0, 0))
                # worker.py is the executable a Disco node starts
                info.external_attr = (0o755 if os.path.basename(path) == 'worker.py'
                                      else 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, _read(path))
        _library_zip = buf.getvalue()
    return _library_zip


_JOBHOMES = {}  # what went into a job home zip (names, file identities, bytes) -> the zip


def _jobhome_zip(extra):
    """The library zip plus ``extra`` (``(arcname, path or bytes)``), built once for the
    same entries: a file counts as the same while its inode, size, mtime and ctime are."""
    key = []
    for arcname, source in extra:
        if isinstance(source, (bytes, bytearray)):
            key.append((arcname, bytes(source)))
        else:
            try:
                st = os.stat(source)
            except OSError:
                key = None  # _read raises the error below
                break
            key.append((arcname, source, st.st_ino, st.st_size, st.st_mtime_ns,
                        st.st_ctime_ns))
    key = tuple(key) if key is not None else None
    if key is not None and key in _JOBHOMES:
        return _JOBHOMES[key]
    buf = io.BytesIO(library_zip())
    with zipfile.ZipFile(buf, 'a', zipfile.ZIP_DEFLATED) as z:
        names = set(z.namelist())
        for arcname, source in extra:  # source: a path, or the bytes of a required file
            if arcname not in names:
                names.add(arcname)
                data = source if isinstance(source, (bytes, bytearray)) else _read(source)
                z.writestr(zipfile.ZipInfo(arcname, (1980, 1, 1, 0, 0, 0)), data,
                           zipfile.ZIP_DEFLATED)
    data = buf.getvalue()
    if key is not None:
        if len(_JOBHOMES) >= 16:  # a few recent job homes (each ~200 KB)
            _JOBHOMES.pop(next(iter(_JOBHOMES)))
        _JOBHOMES[key] = data
    return data


def _py_files(directory):
    """The ``.py`` files below ``directory`` (not in ``__pycache__``), in a stable order."""
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if d != '__pycache__')
        for name in sorted(filenames):
            if name.endswith('.py'):
                yield os.path.join(dirpath, name)


def _read(path):
    with open(path, 'rb') as f:
        return f.read()


def _strip(path):
    return path.lstrip('/')


class Worker(dict):
    """A dict of job parameters with the methods that turn a Job into a job pack and run its tasks."""

    jobpack_version = JOBPACK_VERSION1

    def __init__(self, **kwargs):
        super().__init__(self.defaults())
        self.update(kwargs)
        self.outputs = {}

    def defaults(self):
        return {'save_results': False,
                'profile': False,
                'required_files': {},
                'required_modules': None}

    def getitem(self, key, job, jobargs, default=None):
        """Resolve ``key`` as Disco does: jobargs, then attributes of the job, then this worker."""
        if key in jobargs:
            return jobargs[key]
        elif not _surely_absent(job, key) and hasattr(job, key):
            return getattr(job, key)
        return self.get(key, default)

    @property
    def bin(self):
        """Path, relative to the job home, of the executable that runs this worker."""
        module = sys.modules[type(self).__module__]
        known = _BINS.get(module.__file__)
        if known is None:
            path = os.path.abspath(module.__file__)
            if path.startswith(_PKG_DIR + os.sep):
                known = LIB_PREFIX + os.path.relpath(path, os.path.dirname(_PKG_DIR))
            else:
                known = _strip(path)
            if os.path.isabs(module.__file__):  # a relative one depends on the cwd
                _BINS[module.__file__] = known
        return known

    # ----------------------------------------------------------------- client side

    def prepare_jobargs(self, job, jobargs):
        """Called by ``Job.pack`` first: resolve ``required_modules`` on the client.

        ``None`` (the default) means auto-detection with :func:`modutil.find_modules`
        over every job function; an explicit list is checked.  The result is put in
        the returned jobargs, so the job home and the node use the same list.
        """
        from discolite.worker import modutil
        jobargs = dict(jobargs)
        modules = self.getitem('required_modules', job, jobargs)
        if modules is None:
            functions = [f for key in self if key != 'required_modules'
                         for f in _callables(self.getitem(key, job, jobargs))]
            job_module = sys.modules.get(type(job).__module__)
            if job_module is not None and modutil.is_user_module(job_module) and \
                    job_module.__name__ != '__main__':
                # the job's own module travels anyway; ship the user modules it imports
                functions.append(job_module)
            modules = modutil.find_modules(functions)
        else:
            modules = modutil.check_required_modules(modules)
        jobargs['required_modules'] = modules
        return jobargs

    def jobdict(self, job, **jobargs):
        return {'prefix': self.getitem('name', job, jobargs),
                'save_results': self.getitem('save_results', job, jobargs, False),
                'save_info': self.getitem('save_info', job, jobargs, 'ddfs'),
                'scheduler': self.getitem('scheduler', job, jobargs, {}),
                'owner': self.getitem('owner', job, jobargs, job.settings['DISCO_JOB_OWNER'])}

    def jobenvs(self, job, **jobargs):
        return {'PYTHONPATH': ':'.join(['lib'] + [_strip(p) for p in sys.path if p]),
                'LD_LIBRARY_PATH': 'lib'}

    def jobhome(self, job, **jobargs):
        """The job home zip: discolite itself, the job's module, required files and modules."""
        extra = []
        for path in self._job_module_files(job):
            extra.append((_strip(path), path))
        if not self.bin.startswith(LIB_PREFIX):
            extra.append((self.bin, '/' + self.bin))
        files = self.getitem('required_files', job, jobargs) or {}
        if isinstance(files, dict):
            extra.extend((_safe_arcname(relpath), data) for relpath, data in files.items())
        else:
            extra.extend((LIB_PREFIX + os.path.basename(path), path) for path in files)
        for mod in self.getitem('required_modules', job, jobargs) or ():
            if isinstance(mod, (tuple, list)):
                extra.extend(_module_files(*mod))
        if not extra:
            return library_zip()  # nothing of the job's own: no need to rewrite the zip
        return _jobhome_zip(extra)

    @staticmethod
    def _job_module_files(job):
        """The source of the Job subclass's module (and its packages' __init__ files)."""
        module = sys.modules.get(type(job).__module__)
        path = getattr(module, '__file__', None)
        if not path or type(job).__module__ in ('__main__',) or \
                type(job).__module__.split('.')[0] == 'discolite':
            return []
        path = os.path.abspath(path)
        files = [path]
        parts = type(job).__module__.split('.')
        directory = os.path.dirname(path)
        for _ in parts[:-1]:
            init = os.path.join(directory, '__init__.py')
            if os.path.exists(init):
                files.append(init)
            directory = os.path.dirname(directory)
        return files

    # ----------------------------------------------------------------- node side

    def start(self, task, job, **jobargs):
        """Run the task (under cProfile when ``profile`` is set), then report outputs and DONE."""
        if self.getitem('profile', job, jobargs):
            import cProfile
            filename = task.path('profile-%s' % task.uid)
            task.makedirs()
            cProfile.runctx('self.run(task, job, **jobargs)', globals(), locals(), filename)
            with open(filename, 'rb') as f:
                task.put('profile-%s' % task.uid, f.read())
        else:
            self.run(task, job, **jobargs)
        flush_output()
        self.end(task, job, **jobargs)

    def run(self, task, job, **jobargs):
        """Run ``task.stage`` of the job (subclasses implement the stages)."""
        raise NotImplementedError

    def end(self, task, job, **jobargs):
        """Close and report the outputs, then tell the master the task is DONE."""
        self.send_outputs()
        protocol.send('MSG', "Results sent to master")
        protocol.send('DONE')

    def send_outputs(self):
        for output in self.outputs.values():
            output.close()
            protocol.send('OUTPUT', [output.label, output.path, output.size])

    def get_inputs(self):
        return protocol.get_inputs()

    def iter_inputs(self):
        """The task's inputs one at a time (``get_inputs()`` when a subclass overrides it)."""
        if type(self).get_inputs is not Worker.get_inputs:
            return iter(self.get_inputs())
        return protocol.iter_inputs()

    @classmethod
    def main(cls):
        """Entry point of a worker started as an executable (Disco's worker protocol)."""
        channel = protocol.StreamChannel(sys.stdin.buffer, sys.stderr.buffer)
        protocol.CHANNEL = channel
        channel.send('WORKER', protocol.worker_hello())
        _, payload = channel.request('TASK', '')
        sys.exit(0 if execute(payload, channel) else 1)


_PLAIN_LOOKUP = {}  # class -> True when its attributes are found by plain lookups alone


def _surely_absent(job, key):
    """True when ``job`` has no attribute ``key``, found without raising AttributeError.

    ``hasattr`` on a Job goes through ``Job.__getattr__`` (its proxies of Disco methods)
    and an exception for each of the ~40 keys a job pack looks up; a class whose only
    dynamic attributes are those proxies is answered from the dicts instead.
    """
    cls = type(job)
    plain = _PLAIN_LOOKUP.get(cls)
    if plain is None:
        from discolite.job import Job
        plain = _PLAIN_LOOKUP[cls] = (
            cls.__getattribute__ is object.__getattribute__ and
            getattr(cls, '__getattr__', None) in (None, Job.__getattr__) and
            not hasattr(cls, '__slots__'))
    if not plain or key in getattr(cls, 'proxy_functions', ()):
        return False
    try:
        if key in job.__dict__:
            return False
    except AttributeError:
        return False
    for klass in cls.__mro__:
        if key in klass.__dict__:
            return False
    return True


def _module_files(name, path):
    """``(arcname, path)`` of the files that make the user module ``name`` importable.

    A top-level single-file module goes to ``lib/<name>.py``.  A module inside a
    package, or a package (shipped whole), keeps its place in the tree it was
    imported from: the files go under that sys.path entry (stripped of its leading
    ``/``, which the job's PYTHONPATH lists), with the ``__init__.py`` of every
    package above it, so it sits next to the job's own module instead of
    shadowing that package with a partial copy under ``lib/``.
    """
    parts = name.split('.')
    path = os.path.abspath(path)
    is_package = os.path.basename(path) == '__init__.py'
    if len(parts) == 1 and not is_package:
        return [(LIB_PREFIX + name + '.py', path)]
    root = os.path.dirname(path)
    for _ in parts[(0 if is_package else 1):]:
        root = os.path.dirname(root)
    files = list(_py_files(os.path.dirname(path))) if is_package else [path]
    for depth in range(1, len(parts)):  # the packages above it
        init = os.path.join(root, *parts[:depth], '__init__.py')
        if os.path.isfile(init):
            files.append(init)
    on_path = {os.path.realpath(p) for p in sys.path if p}
    prefix = _strip(root) if os.path.realpath(root) in on_path else LIB_PREFIX.rstrip('/')
    return [(prefix + '/' + os.path.relpath(f, root), f) for f in files]


def _callables(value):
    """Job functions in a parameter value: callables, lists of them, and Params/dict values."""
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _callables(item)
    elif isinstance(value, Params):
        for item in vars(value).values():
            yield from _callables(item)
    elif isinstance(value, dict):
        for item in value.values():
            if callable(item) and not isinstance(item, type):
                yield item
    elif callable(value) and not isinstance(value, type):
        yield value


def _safe_arcname(relpath):
    norm = os.path.normpath(relpath)
    if os.path.isabs(relpath) or norm.startswith('..'):
        raise DiscoError("required_files entry %r must be a relative path inside the job home"
                         % relpath)
    return norm


NAMEERROR_HINT = (
    "\n\nNote: job functions run without the module-level globals of the script that defined "
    "them, exactly as on a Disco node. Import {name!r} inside the function, pass it through "
    "params, or list its module in required_modules.")


def describe_exception(exc):
    """Traceback text for an event, with a hint for the errors newcomers hit."""
    text = ''.join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if isinstance(exc, NameError) and getattr(exc, 'name', None):
        text += NAMEERROR_HINT.format(name=exc.name)
    elif isinstance(exc, dPickle.MainModuleError):
        text = "%s: %s" % (type(exc).__name__, exc)
    elif type(exc).__name__ == 'BdbQuit':
        text += ("\nNote: breakpoint()/pdb cannot use a terminal in a worker process; run the "
                 "job inline to debug it (discolite run --inline, DISCOLITE_INLINE=1 or "
                 "pytest --disco-inline).")
    elif isinstance(exc, SystemExit):
        text += "\nNote: the task called sys.exit(%r); job functions must return instead." % (
            exc.code,)
    return text


def is_recoverable(exc):
    return isinstance(exc, (DataError, EnvironmentError, MemoryError))


def _alias_disco():
    """Make ``disco.*`` importable in job code, as it is on a Disco node."""
    try:
        from discolite import alias
        alias.install()
    except ImportError:
        pass  # a real ``disco`` package is already imported here; leave it alone


#: The Task being run in this process (None between tasks); the schemes read it.
active_task = None


def flush_output():
    """Send what job code printed without a final newline."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, protocol.MessageWriter):
            try:
                stream.flush()
            except Exception:
                pass


_registered = [None, None]  # (the last task's node fields, cwd), its registered root


def _node_settings(task):
    """Started as an executable, a task knows its node only from the TASK payload: make
    ``disco://<its host>/disco/...`` local files and other hosts reachable at its DISCO_PORT."""
    from discolite import util
    relative = not (os.path.isabs(task.disco_data or '') and
                    os.path.isabs(task.ddfs_data or '/'))  # (the master sends absolute ones)
    key = (task.host, task.disco_data, task.ddfs_data, os.getcwd() if relative else None)
    if key == _registered[0] and _registered[1] in util._local_roots:
        pass  # the same node as the last task's, still registered: no need to stat it again
    elif task.host and task.disco_data and os.path.isdir(task.disco_data):
        _registered[:] = [key, (str(task.host), os.path.abspath(task.disco_data))]
        ddfs = task.ddfs_data if task.ddfs_data and os.path.isdir(task.ddfs_data) else None
        util.register_local_root(task.host, task.disco_data, ddfs)
    if task.disco_port and 'DISCO_PORT' not in os.environ:
        os.environ['DISCO_PORT'] = str(task.disco_port)


class JobCache(object):
    """The job data of the one job a pool process serves, read from the job file once.

    The job file holds every input of the job; reading and unpickling it for each
    task made a task's cost grow with the job.  The first task reads the jobdata
    field alone; each later task unpickles it again, so every task starts from
    fresh job objects and fresh function globals, as in a new process on Disco.
    For a job of many inputs the objects are first pickled again without
    ``jobargs['input']`` (the part that grows), and each task gets the one input
    list back.  Objects that cannot be pickled again are then shared by the job's
    tasks instead.
    """

    MANY = 256  # inputs from which a job's data is pickled again without them

    def __init__(self):
        self.jobfile = None
        self.slim = None
        self.shared = None
        self.inputs = None
        self.info = None  # what the master should know about the job, once (JOBINFO)

    def jobobjs(self, task):
        """``(job, jobargs)`` for ``task`` (which belongs to the cached job, or replaces it)."""
        if task.jobfile != self.jobfile:
            self.jobfile = None
            dPickle.new_globals()
            data = _read_jobdata(task.jobfile)
            task._jobobjs = dPickle.loads(data)
            job, jobargs = task._jobobjs
            self.inputs = self.shared = None
            self.slim = data  # a small job: each task just unpickles it again
            inputs = jobargs.get('input') if isinstance(jobargs, dict) else None
            if isinstance(inputs, (list, tuple)) and len(inputs) > self.MANY:  # not a Job
                self.inputs = jobargs['input']
                jobargs = dict(jobargs)
                del jobargs['input']
                try:
                    self.slim = dPickle.dumps((job, jobargs), -1)
                except Exception:
                    self.shared = task._jobobjs
            self.jobfile = task.jobfile
            self.info = {'shuffle_here': _standard_shuffle(job, task._jobobjs[1])}
            return task._jobobjs
        if self.shared is not None:
            return self.shared
        dPickle.new_globals()
        job, jobargs = _SlimUnpickler(io.BytesIO(self.slim)).load()
        if self.inputs is not None:
            jobargs['input'] = self.inputs
        return job, jobargs


_FOUND = {}  # (module, name) -> object, for the modules of discolite and the standard library
_STDLIB = frozenset(getattr(sys, 'stdlib_module_names', ())) | {'builtins'}


class _SlimUnpickler(dPickle.Unpickler):
    """``dPickle.loads`` for the job data each task unpickles again: the classes and
    functions it names in discolite and the standard library are looked up once per
    process (those modules are not the job's to change; a task that patched one would
    not patch it for the next task on Disco, each task being a new process)."""

    def find_class(self, module, name):
        found = _FOUND.get((module, name))
        if found is None:
            found = super().find_class(module, name)
            top = module.partition('.')[0]
            if top == 'discolite' or top in _STDLIB:
                _FOUND[module, name] = found
        return found


def _read_jobdata(jobfile):
    """The jobdata field of a job pack file, read alone (the rest holds every input)."""
    from discolite.job import JobPack
    fd = os.open(jobfile, os.O_RDONLY | getattr(os, 'O_CLOEXEC', 0))
    try:  # two reads at known offsets: no file object, no seeks
        header = os.pread(fd, JobPack.HEADER_SIZE, 0)
        offsets = JobPack.offsets(io.BytesIO(header))
        chunks, at = [], offsets[3]
        while True:
            chunk = os.pread(fd, 1 << 20, at)
            if not chunk:
                return b''.join(chunks)
            chunks.append(chunk)
            at += len(chunk)
    finally:
        os.close(fd)


def _standard_shuffle(job, jobargs):
    """True when the job's shuffle stages are the classic Worker's own and are not profiled,
    so the master may do small ones itself (``discolite.master.shuffle``)."""
    try:
        from discolite.worker.classic.worker import Worker as Classic
        worker = job.worker
        cls = type(worker)
        return isinstance(worker, Classic) and all(
            getattr(cls, name) is getattr(Classic, name)
            for name in ('shuffle', 'map_shuffle', 'reduce_shuffle', 'run', 'start', 'end')) \
            and not worker.getitem('profile', job, jobargs)
    except Exception:
        return False


def execute(payload, channel, cache=None):
    """Run one task described by a TASK payload. Returns True when it sent DONE.

    ``cache``: a :class:`JobCache` kept by a pool process across its job's tasks.
    """
    global active_task
    from discolite.task import Task
    protocol.CHANNEL = channel
    fields = ('host', 'jobfile', 'jobname', 'master', 'disco_port', 'put_port', 'ddfs_data',
              'disco_data', 'stage', 'group', 'grouping', 'taskid')
    task = Task(**{k: payload[k] for k in fields if k in payload})
    _alias_disco()
    _node_settings(task)
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = protocol.MessageWriter()
    active_task = task
    try:
        if cache is not None:
            job, jobargs = task._jobobjs = cache.jobobjs(task)
            if cache.info is not None:
                channel.send('JOBINFO', cache.info)
                cache.info = None
        else:
            dPickle.new_globals()
            job, jobargs = task.jobobjs
        job.worker.start(task, job, **jobargs)
        return True
    except BaseException as exc:
        flush_output()
        channel.error = exc  # the inline executor re-raises it in the caller
        kind = 'ERROR' if is_recoverable(exc) else 'FATAL'
        try:
            channel.send(kind, describe_exception(exc))
        except Exception:
            pass
        if isinstance(exc, KeyboardInterrupt):
            raise
        return False
    finally:
        active_task = None
        sys.stdout, sys.stderr = stdout, stderr
