"""Worker processes for the in-process master.

Each slot is a pair of processes sharing one duplex pipe with the master:

* the **keeper** (the process multiprocessing starts) loads discolite once and
  never runs task code.  It forks the **worker**, which runs tasks, and forks a
  fresh worker each time the previous one finishes its job (or, with
  ``DISCOLITE_ISOLATION=task``, each task), so a process never runs tasks of two
  jobs and a new worker is ready before the next job's task arrives: a fork of a
  small clean process, not a process start.
* the keeper is a *child subreaper* (Linux ``PR_SET_CHILD_SUBREAPER``) and so is
  the worker: every process a task starts, including daemons that ``setsid`` and
  double-fork, stays below them, so the worker can kill what its task left at the
  end of each task and the keeper kills and reaps whatever remains when a worker
  dies.  The keeper also reaps everything below it, so nothing is left as a zombie
  for the master to reap (which matters where the master is PID 1).

The scheduler waits on every pipe *and* every keeper's sentinel at once, so a
worker that dies (SIGKILL, out of memory, ``os._exit``) is noticed at once: its
keeper exits with the worker's status and the slot is replaced.  Unlike
``multiprocessing.Pool``, nothing here can block on a dead worker.

A worker is replaced (the keeper forks a new one; the master keeps the slot)
when it is told its job has ended (``release``), after a task that failed (ERROR,
FATAL: task code may have left the process in a state the next task should not
inherit), and after every task in ``task`` isolation.  It says so with a byte on
a private pipe and a SIGUSR2 before it exits, and the keeper forks its successor at
once, while the old process is still being torn down (which takes milliseconds on
a virtual machine); any other exit is a crash.  Because the worker
reads its pipe in order and exits right after such a message, the master may send
the next task at once: the new worker reads it.

Threads: only the scheduler thread creates, waits on, reaps and removes slots
(:meth:`Pool.fill`, :meth:`Pool.wait`, :meth:`Pool.remove`).  Any thread holding
the scheduler lock may :meth:`Pool.retire` a slot: that only signals the keeper
(which kills its worker and exits) and marks the slot; the scheduler thread sees
the death through the sentinel.  So no descriptor is ever closed under a
``wait()``.

Nothing outlives the master: a keeper dies of ``PR_SET_PDEATHSIG`` (a signal it
catches to kill its worker and everything below first), a worker dies with its
keeper, and each keeper leads a process group that the master also kills.
"""
import contextlib
import multiprocessing
import multiprocessing.connection
import os
import select
import signal
import sys
import time
import types

PROCESS_NAME = 'discolite-worker'  # the name ps/top show for worker processes (first 15 chars)
KEEPER_NAME = 'discolite-keep'

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15
_PR_SET_CHILD_SUBREAPER = 36
_REPLACE = b'R'
_KEEPER_SIGNALS = {signal.SIGCHLD, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2}

_libc = None


def _prctl(option, arg):
    """``prctl(option, arg)``; False where it is not available (not Linux)."""
    global _libc
    try:
        if _libc is None:
            import ctypes
            _libc = ctypes.CDLL(None, use_errno=True)
        return _libc.prctl(option, arg, 0, 0, 0) == 0
    except Exception:
        return False


def _set_name(name):
    _prctl(_PR_SET_NAME, name.encode()[:15])


def _release_forkserver():
    """Drop the fork server's "alive" pipe that a forkserver child inherits.

    The fork server exits only once every holder of that pipe's write end is gone,
    and our death signal is its exit: if we kept the pipe, a master that dies
    without closing the pool (SIGKILL, SIGTERM: no atexit) would leave the fork
    server and every pool process (a task spinning forever) running for good.
    Task code that uses multiprocessing's forkserver itself just starts its own.
    """
    try:
        from multiprocessing import forkserver
        server = forkserver._forkserver
        fd = server._forkserver_alive_fd
        if fd is not None and server._forkserver_pid is None:  # inherited, not our own
            server._forkserver_alive_fd = None
            os.close(fd)
    except Exception:
        pass


# -- the processes below a subreaper

def _children(pid):
    """Direct children of ``pid`` (from /proc/<pid>/task/*/children, else a /proc scan)."""
    try:
        tids = os.listdir('/proc/%d/task' % pid)
    except OSError:
        return []
    kids = []
    try:
        for tid in tids:
            with open('/proc/%d/task/%s/children' % (pid, tid)) as f:
                kids.extend(int(k) for k in f.read().split())
        return kids
    except FileNotFoundError:
        pass  # a kernel without CONFIG_PROC_CHILDREN
    except OSError:
        return kids
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry) as f:
                    stat = f.read()
                if int(stat[stat.rindex(')') + 2:].split()[1]) == pid:
                    kids.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return kids


def descendants(pid):
    """Every process below ``pid`` (children first)."""
    out, todo = [], [pid]
    while todo:
        kids = _children(todo.pop())
        out.extend(kids)
        todo.extend(kids)
    return out


def kill_descendants(spare=None, timeout=5.0):
    """SIGKILL and reap every process below this one but ``spare`` and its tree; returns
    the ``(pid, status)`` of every child reaped (``spare`` too, if it died meanwhile).

    Called by a subreaper, which inherits the orphans of whatever it kills, so
    repeating "kill all we see, reap" until no other child is left reaches the whole
    tree, even processes forked while we were killing their parents (and, in the
    keeper, what retired workers left: their descendants became its children).
    """
    me = os.getpid()
    reaped = []
    deadline = time.monotonic() + timeout
    while True:
        victims = []
        for pid in _children(me):  # a zombie is still listed: killing it is harmless
            if pid != spare:
                victims.append(pid)
                victims.extend(descendants(pid))
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        reaped.extend(_reap())
        if not victims or time.monotonic() > deadline:
            return reaped
        time.sleep(0.001)


def end_task_processes():
    """After a task: kill (and reap) whatever it started.  Cheap when it started nothing."""
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return  # no child at all; as a subreaper, that means no descendant either
    kill_descendants()


# -- the keeper and its worker

def child_main(conn, roots, keep_globals, parent_pid, options=None):
    """The keeper: forks one worker after another until the master stops it."""
    options = dict(options or {})
    _prctl(_PR_SET_PDEATHSIG, signal.SIGUSR1)  # caught below: kill the worker's tree, exit
    _release_forkserver()
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(0)  # the master died before we got here
    try:
        os.setpgid(0, 0)  # our own group: away from a terminal's Ctrl-C, killed with us
    except OSError:
        pass
    signal.pthread_sigmask(signal.SIG_BLOCK, _KEEPER_SIGNALS)
    options['subreaper'] = _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    _set_name(KEEPER_NAME)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the master's to handle
    # A Disco task is an ordinary process: job code may start processes of its own
    # (multiprocessing refuses to in a daemonic one).  The master still kills us.
    multiprocessing.current_process()._config['daemon'] = False
    from discolite import dPickle, util
    _preload()
    dPickle.KEEP_GLOBALS = keep_globals
    for root in roots:  # (host, disco_data[, ddfs_data])
        util.register_local_root(*root)
    keeper = os.getpid()
    options['warm'] = _warm_setup(roots)
    import gc
    gc.collect()
    gc.freeze()  # workers' collections never walk (and so never copy) the keeper's objects

    def start_worker():
        while True:
            status_r, status_w = os.pipe()
            try:
                pid = os.fork()
            except OSError:
                os.close(status_r)
                os.close(status_w)
                time.sleep(0.05)
                continue
            if pid == 0:
                try:
                    os.close(status_r)
                    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
                    if os.getppid() != keeper:
                        os._exit(1)
                    if options['subreaper']:
                        _prctl(_PR_SET_CHILD_SUBREAPER, 1)
                    _set_name(PROCESS_NAME)
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
                    signal.pthread_sigmask(signal.SIG_UNBLOCK, _KEEPER_SIGNALS)
                    _worker_loop(conn, status_w, options, keeper)
                finally:
                    os._exit(1)
            os.close(status_w)
            os.set_blocking(status_r, False)
            return pid, status_r

    # The worker asks to be replaced with a byte on its status pipe and a SIGUSR2; the
    # next worker is forked at once, while the old one is still exiting (tearing down
    # a process takes milliseconds, and the next job's tasks may already be waiting).
    # A worker that exits without asking has crashed: the keeper exits the same way.
    worker, status_r = start_worker()
    retiring = set()

    def asked(fd):
        """Has the worker of status pipe ``fd`` asked to be replaced?  (The byte stays
        readable after it has exited, so a signal handled late still finds it.)"""
        try:
            return os.read(fd, 1) == _REPLACE
        except OSError:  # BlockingIOError: not (yet)
            return False

    def replace(old, old_status):
        """Retire ``old`` (reaped, and what it left killed, when it exits); fork the next."""
        os.close(old_status)
        retiring.add(old)
        return start_worker()

    while True:
        sig = signal.sigwait(_KEEPER_SIGNALS)
        if sig not in (signal.SIGCHLD, signal.SIGUSR2):  # told to stop, or the master died
            kill_descendants()
            _warm_cleanup(options['warm'])
            os._exit(0)
        if asked(status_r):
            worker, status_r = replace(worker, status_r)
        if sig != signal.SIGCHLD:
            continue
        exited = _reap()
        while exited:
            pid, status = exited.pop(0)
            if pid == worker:
                if not asked(status_r):  # a crash: the master sees the same status from us
                    kill_descendants()
                    _warm_cleanup(options['warm'])
                    _exit_like(status)
                # it asked, and exited before we read its byte (its signals were
                # handled late): replaced now, like any other
                worker, status_r = replace(worker, status_r)
            if pid in retiring:  # what its tasks left behind is now ours: kill it
                retiring.discard(pid)
                exited.extend(kill_descendants(spare=worker))


def _warm_map(entry, params):
    yield entry, 1


class _Discard(object):
    """The connection of a warm-up task: the master hears nothing of it."""

    def send(self, msg):
        pass


def _warm_setup(roots):
    """In the keeper: a tiny classic job (one ``raw://`` input, one map) in a scratch
    directory ``<data root>/warmup/<keeper pid>``, which every fresh worker runs once
    before it reads its first task (:func:`_warm_up`).  Returns ``(scratch, payload, inputs)``,
    or None where it cannot be built (the workers then start cold)."""
    try:
        host, disco_data = roots[0][0], roots[0][1]
        scratch = os.path.join(os.path.dirname(os.path.abspath(disco_data)), 'warmup',
                               str(os.getpid()))
        _warm_cleanup((scratch,))
        os.makedirs(scratch)
        pack = _warm_pack()
        jobfile = os.path.join(scratch, 'jobfile')
        with open(jobfile, 'wb') as f:
            f.write(pack.dumps())
        payload = {'host': host, 'jobfile': jobfile, 'jobname': 'warmup@000:00000:00000',
                   'disco_data': disco_data, 'stage': 'map', 'taskid': 0,
                   'grouping': 'split', 'group': [0, host]}
        if len(roots[0]) > 2 and roots[0][2]:
            payload['ddfs_data'] = roots[0][2]
        return scratch, payload, [(0, 0, ['raw://warm'])]
    except Exception:
        return None


def _warm_pack():
    """The warm-up job's pack, built without a ``Disco`` client: nothing here may look
    for (or start) a master, least of all an in-process one in a pool process."""
    import io
    import zipfile
    from discolite.job import Job, JobPack
    from discolite.settings import DiscoSettings
    from discolite.task import jobdata
    from discolite.worker.classic.worker import Worker
    worker = Worker()
    job = Job.__new__(Job)
    job.name, job.worker, job.settings = 'warmup', worker, DiscoSettings()
    job.disco = types.SimpleNamespace(master='http://localhost')  # no Disco, no master
    jobargs = {'input': ['raw://warm'], 'map': _warm_map}
    home = io.BytesIO()
    zipfile.ZipFile(home, 'w').close()
    return JobPack(worker.jobpack_version, worker.jobdict(job, **jobargs),
                   worker.jobenvs(job, **jobargs), home.getvalue(),
                   jobdata(job, jobargs, keep_globals=False))


def _warm_cleanup(warm):
    if warm:
        import shutil
        shutil.rmtree(warm[0], ignore_errors=True)


def _warm_up(warm):
    """In a fresh worker, before its first task: run the keeper's tiny job once.

    After a fork, the first task of a worker pays for every page of the keeper it
    writes to (a copy each: 6 us a page on a virtual machine, some 500 pages) and for
    the caches it fills; the warm-up pays for most of it while the worker is idle,
    instead of in the first real task.  It leaves no files, changes neither the
    environment nor the working directory, and nobody hears of it.
    """
    if warm is None:
        return
    scratch, payload, inputs = warm
    from discolite.worker import JobCache, execute, protocol
    cwd = os.getcwd()
    try:
        os.chdir(scratch)
        execute(dict(payload), protocol.PipeChannel(_Discard(), inputs), JobCache())
    except BaseException:
        pass
    finally:
        try:
            os.chdir(cwd)
            import shutil
            for name in os.listdir(scratch):
                if name != 'jobfile':
                    shutil.rmtree(os.path.join(scratch, name), ignore_errors=True)
        except OSError:
            pass
        protocol.CHANNEL = None


def _reap():
    """``(pid, status)`` of every child that has exited (without waiting)."""
    out = []
    try:
        while True:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return out
            out.append((pid, status))
    except ChildProcessError:
        return out


def _preload():
    """Import once, in the keeper, what every task imports: each worker starts with it."""
    import importlib
    for name in ('discolite.worker.classic.worker', 'discolite.task', 'discolite.job',
                 'discolite.alias', 'discolite.fileutils', 'discolite.oobstore', 'importlib.abc',
                 'discolite.schemes.scheme_raw', 'discolite.schemes.scheme_file',
                 'discolite.schemes.scheme_dir', 'discolite.schemes.scheme_disco',
                 'discolite.schemes.scheme_http', 'discolite.jobcheck',
                 'discolite.master.storage'):
        try:
            importlib.import_module(name)
        except Exception:
            pass
    from discolite.worker import _alias_disco
    _alias_disco()


def _exit_like(status):
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            if sig != signal.SIGKILL:
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {sig})
            os.kill(os.getpid(), sig)
        except (OSError, ValueError):
            pass
        os._exit(128 + sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def _worker_loop(conn, status_fd, options, keeper=None):
    """Run tasks of one job until replaced: ``release``, a failed task, or ``task`` isolation."""
    from discolite.worker import JobCache, execute, protocol
    from discolite.master.storage import index_name
    conn.send(('hello', os.getpid()))  # first: the master knows which process it may kill
    _warm_up(options.get('warm'))
    cache = JobCache()
    per_task = options.get('isolation') == 'task'
    kill_children = options.get('kill_children', True) and options.get('subreaper')
    base_path = list(sys.path)
    setup = None
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            os._exit(0)
        if msg[0] == 'release':
            break
        if msg[0] != 'task':
            os._exit(0)
        _, fields, inputs, new_setup = msg
        if new_setup is not None:
            setup = new_setup
        base, jobhome, pythonpath, index = setup
        payload = dict(base)
        payload.update(fields)
        if index is not None:  # (directory, host, url prefix): this task's index file
            index = index + (index_name(fields['stage'], fields['taskid']),)
        done = False
        try:
            os.chdir(jobhome)
            sys.path[:] = [os.path.join(jobhome, p) for p in pythonpath] + base_path
            # what the task started is killed before the master hears that it ended
            channel = protocol.PipeChannel(conn, inputs, end_task_processes if kill_children
                                           else None, index)
            done = execute(payload, channel, cache)
        except Exception as e:  # the channel itself failed: report and go
            try:
                conn.send(('ERROR', 'discolite pool process: %s: %s' % (type(e).__name__, e)))
            except Exception:
                os._exit(1)
        if kill_children:
            end_task_processes()  # in case no message ended the task
        if not done or per_task:
            break
    os.write(status_fd, _REPLACE)
    if keeper is not None:
        try:
            os.kill(keeper, signal.SIGUSR2)  # the keeper forks our successor now
        except OSError:
            pass
    os._exit(0)


class Slot(object):
    """One keeper/worker pair, the task it is running (``None`` when idle) and its job.

    ``job`` is the name of the job the current worker serves (None: a fresh worker);
    ``loaded`` the job whose setup the current worker has been sent.  ``retired`` is
    set once the slot must not get new work (it was killed); it leaves the pool when
    its keeper is reaped.
    """

    def __init__(self, pool, index):
        self.index = index
        parent, child = multiprocessing.Pipe(duplex=True)
        fork = pool.ctx.get_start_method() == 'fork'
        self.process = pool.ctx.Process(target=child_main, name='%s-%d' % (PROCESS_NAME, index),
                                        args=(child, pool.roots, pool.keep_globals,
                                              os.getpid() if fork else None, pool.options),
                                        daemon=True)
        try:
            with (contextlib.nullcontext() if fork else _main_module_hidden()):
                self.process.start()
        finally:
            child.close()
        self.conn = parent
        self.task = None
        self.next = []            # tasks sent behind ``task``, which the worker runs next
        self.job = None
        self.loaded = None
        self.worker_pid = None    # the current worker's pid, once it has said hello
        self.retired = False
        self.exitcode = None      # set once the keeper has been reaped

    @property
    def pid(self):
        """The pid of the process that runs the tasks (the keeper's until the worker is known)."""
        return self.worker_pid or self.process.pid

    @property
    def keeper_pid(self):
        return self.process.pid

    def __repr__(self):
        return '<Slot %d pid %s%s>' % (self.index, self.pid, ' retired' if self.retired else '')


@contextlib.contextmanager
def _main_module_hidden():
    """Start a forkserver/spawn child without re-importing the submitting script.

    multiprocessing re-runs the parent's ``__main__`` in such children, which
    would re-execute an unguarded Disco script (submitting its jobs again) or
    fail on its ``disco.*`` imports.  A pool process needs nothing from the
    script, exactly like a Disco node, so it is shown an empty ``__main__``.
    """
    main = sys.modules.get('__main__')
    sys.modules['__main__'] = types.ModuleType('__main__')
    try:
        yield
    finally:
        sys.modules['__main__'] = main


class Pool(object):
    """``size`` slots that the scheduler thread keeps filled.

    A slot may be sent one more task of its job while it runs one (``slot.next``): the
    worker reads it as soon as it has finished the first, without waiting a round trip
    for the master to hear DONE and answer, which is most of a small task's time.

    ``isolation``: ``job`` (a worker serves one job) or ``task`` (one task);
    ``kill_children``: kill what a task started when it ends (else when its job ends).
    """

    def __init__(self, size, start_method, roots, keep_globals=False, isolation='job',
                 kill_children=True):
        self.ctx = multiprocessing.get_context(start_method)
        if start_method == 'forkserver':
            self.ctx.set_forkserver_preload(['discolite.worker.classic.worker'])
        self.roots = roots
        self.keep_globals = keep_globals
        self.options = {'isolation': isolation, 'kill_children': kill_children}
        self.isolation = isolation
        self.pipelined = True   # the scheduler may queue a task behind a running one
        self.size = size
        self.slots = []
        self._next = 0
        self._poll = None        # select.poll over every pipe and sentinel, rebuilt on change
        self._fds = {}

    # -- scheduler thread only

    def fill(self):
        """Start keepers until ``size`` live (non-retired) slots exist."""
        while sum(1 for s in self.slots if not s.retired) < self.size:
            slot = Slot(self, self._next)
            self._next += 1
            self.slots.append(slot)
            self._poll = None

    def _poller(self, extra):
        if self._poll is None:
            self._poll = select.poll()
            self._fds = {}
            for slot in self.slots:
                self._fds[slot.conn.fileno()] = (slot, True)
                self._fds[slot.process.sentinel] = (slot, False)
            for fd in extra:
                self._fds[fd] = (None, False)
            for fd in self._fds:
                self._poll.register(fd, select.POLLIN)
        return self._poll

    def wait(self, extra, timeout):
        """Wait for messages or deaths. Returns ``[(slot, msg)]``; ``msg`` None means it died.

        ``extra``: file descriptors to wake up on too.  A dead slot is reaped and
        removed from the pool before this returns; call :meth:`fill` to replace it.
        """
        poll = self._poller(extra)
        try:
            ready = poll.poll(None if timeout is None else max(0, timeout) * 1000)
        except InterruptedError:
            ready = []
        events = []
        dead = []
        for fd, _mask in ready:
            slot, is_conn = self._fds.get(fd, (None, False))
            if slot is None or slot in dead:
                continue
            if is_conn:
                try:  # one message per wake-up: poll() says again if there are more
                    self._received(slot, slot.conn.recv(), events)
                except (EOFError, OSError):
                    dead.append(slot)
            else:
                dead.append(slot)
        for slot in dead:
            try:
                while slot.conn.poll():  # drain what it said before dying
                    self._received(slot, slot.conn.recv(), events)
            except (EOFError, OSError):
                pass
            self.remove(slot)
            events.append((slot, None))
        return events

    @staticmethod
    def _received(slot, msg, events):
        if msg[0] == 'hello':
            slot.worker_pid = msg[1]
        elif msg[0] == 'batch':
            events.extend((slot, m) for m in msg[1])
        else:
            events.append((slot, msg))

    def remove(self, slot):
        """Reap ``slot``'s keeper (killing it if needed) and drop it from the pool."""
        if slot.process.exitcode is None:
            _kill(slot.process)
            slot.process.join(5)
        else:
            slot.process.join()
        slot.exitcode = slot.process.exitcode
        _kill_group(slot.keeper_pid)  # stragglers of its group, if the keeper was SIGKILLed
        slot.conn.close()
        try:
            slot.process.close()
        except ValueError:
            pass
        if slot in self.slots:
            self.slots.remove(slot)
        self._poll = None

    # -- any thread holding the scheduler lock

    def take(self, job, fresh=True):
        """An idle slot for a task of ``job`` (a JobRecord), or None.

        A worker already serving the job first, then (if ``fresh``) a fresh one,
        preferably one that has started (a worker forked a moment ago is still
        paying for its fork); failing both, a worker serving another job that has no task on it right now
        is released (its replacement is ready in about a millisecond).
        """
        fresh_ok, fresh, other = fresh, None, None
        for slot in self.slots:
            if slot.task is not None or slot.retired:
                continue
            if slot.job == job.name:
                return slot
            if not fresh_ok:
                continue
            if slot.job is None:  # a worker that has said hello first: it is ready
                if fresh is None or (fresh.worker_pid is None and slot.worker_pid is not None):
                    fresh = slot
            else:
                other = other or slot
        if fresh is None and other is not None:
            self.release(other)
            fresh = other
        return fresh

    def serving(self, name, host=None):
        """How many live workers serve job ``name`` (last sent a task for node ``host``)."""
        return sum(1 for s in self.slots if s.job == name and not s.retired and
                   (host is None or s.loaded == (name, host)))

    def idle(self):
        """Slots that may take a task now."""
        return [s for s in self.slots if s.task is None and not s.retired]

    def run(self, slot, task, fields, inputs, setup):
        """Send ``task`` to ``slot``'s worker; its messages come back through :meth:`wait`.

        ``setup`` is what the worker needs to know about the job on the task's
        node (the payload fields that are the same for all those tasks, the job
        home, the PYTHONPATH, where index files go); it goes only when the worker does
        not have it yet.  A task sent while the slot runs another (``slot.next``) always
        carries it: a failure of the first task gives the slot a fresh worker, which
        reads the queued task without having seen any setup.
        """
        key = (task.job.name, task.node)
        if slot.task is None:
            slot.task = task
            if slot.loaded == key:
                setup = None
        else:
            slot.next.append(task)
        slot.job = task.job.name
        slot.loaded = key
        try:
            slot.conn.send(('task', fields, inputs, setup))
        except (OSError, ValueError):
            pass  # the process has just died: wait() reports it and the task is retried

    def finished(self, slot, ok):
        """``slot``'s current task ended (DONE when ``ok``, else ERROR/FATAL); the task
        queued behind it, if any, is the one running now."""
        slot.task = slot.next.pop(0) if slot.next else None
        if not ok or self.isolation == 'task':
            slot.loaded = slot.worker_pid = None  # the worker replaces itself
            if slot.task is None:
                slot.job = None

    def release(self, slot):
        """Replace ``slot``'s idle worker by a fresh one (its job has ended)."""
        if slot.job is not None and slot.task is None and not slot.retired:
            slot.job = slot.loaded = slot.worker_pid = None
            try:
                slot.conn.send(('release',))
            except (OSError, ValueError):
                pass

    def release_job(self, name):
        """Replace the idle workers that served job ``name``."""
        for slot in self.slots:
            if slot.job == name and slot.task is None:
                self.release(slot)

    def retire(self, slot):
        """Stop giving ``slot`` work and have its keeper kill everything and exit.

        The scheduler thread reaps it (:meth:`wait`) and starts a new slot.
        """
        slot.retired = True
        slot.task = None
        slot.next = []
        try:
            slot.process.terminate()  # SIGTERM: the keeper kills its worker's tree, then exits
        except Exception:
            pass

    def close(self, timeout=5.0):
        """Stop every slot: keepers kill their workers and whatever those started."""
        for slot in self.slots:
            try:
                slot.process.terminate()
            except Exception:
                pass
        deadline = time.time() + timeout
        for slot in self.slots:
            slot.process.join(max(0, deadline - time.time()))
            if slot.process.exitcode is None:
                _kill(slot.process)
                slot.process.join(5)
            _kill_group(slot.keeper_pid)
            slot.conn.close()
        self.slots = []
        self._poll = None


def _kill(process):
    """SIGKILL the keeper and its process group (the worker, unless a task moved it)."""
    _kill_group(process.pid)
    try:
        process.kill()
    except Exception:
        pass


def _kill_group(pid):
    """SIGKILL what is left of the process group led by ``pid`` (a keeper leads its own).

    Safe after the leader has been reaped: Linux does not reuse a pid while a process
    group of that id still exists, so this reaches only that group's stragglers.
    """
    if pid:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
