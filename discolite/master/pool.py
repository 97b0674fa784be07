"""Worker processes for the in-process master.

Each slot is one long-lived process with its own duplex pipe; the scheduler
waits on every pipe *and* every process sentinel at once, so a worker that
dies (SIGKILL, out of memory, ``os._exit``) is noticed at once and replaced.
Unlike ``multiprocessing.Pool``, nothing here can block on a dead worker.

Threads: only the scheduler thread creates, waits on, reaps and removes slots
(:meth:`Pool.fill`, :meth:`Pool.wait`, :meth:`Pool.remove`).  Any thread
holding the scheduler lock may :meth:`Pool.retire` a slot: that only sends
SIGKILL and marks it, and the scheduler thread then sees the death through the
sentinel and cleans up.  So no descriptor is ever closed under a ``wait()``,
and every worker is a child of the long-lived scheduler thread (the
``PR_SET_PDEATHSIG`` signal that kills workers when the master dies is tied to
the thread that forked them).

A slot whose task failed (ERROR, FATAL) is retired too: task code may have
left the process in a state the next task should not inherit (resource
limits, signal handlers, half-imported modules, a fragmented heap).

Nothing outlives the master: each worker leads its own process group (killed
with it, taking along whatever its task started), dies of ``PR_SET_PDEATHSIG``
when the master dies, and has a tiny watchdog process that kills the group if
the worker dies first (see :func:`_start_group_watchdog`).
"""
import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
import types

PROCESS_NAME = 'discolite-worker'  # the name ps/top show for pool processes (first 15 chars)


def _die_with_parent():
    """Ask Linux to SIGKILL this process when the master process dies, and name it."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        libc.prctl(15, PROCESS_NAME.encode()[:15], 0, 0, 0)  # PR_SET_NAME
    except Exception:
        pass


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


def _prctl(option, arg):
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(option, arg, 0, 0, 0)


def _start_group_watchdog():
    """Fork a tiny process that SIGKILLs this worker's process group once the worker is gone.

    Processes that task code starts (``subprocess``, ``multiprocessing``) belong to the
    worker's group.  When the master is killed outright, the worker dies of its death
    signal and nothing else would be left to stop them; the watchdog is told of the
    worker's death by its own death signal (SIGUSR1, caught) and kills the group.
    """
    worker = os.getpid()
    group = os.getpgid(0)
    try:
        pid = os.fork()
    except OSError:
        return
    if pid:
        return
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGINT, signal.SIGTERM})
        os.setpgid(0, 0)  # out of the group it will kill
        _prctl(1, signal.SIGUSR1)  # PR_SET_PDEATHSIG
        _prctl(15, b'discolite-watch')  # PR_SET_NAME
        os.closerange(3, 1 << 16)  # hold none of the worker's pipes open
        if os.getppid() == worker:
            signal.sigwait({signal.SIGUSR1})
        os.killpg(group, signal.SIGKILL)
    except BaseException:
        pass
    os._exit(0)


def child_main(conn, roots, keep_globals, parent_pid):
    """Loop of a pool process: run tasks sent by the master until told to exit."""
    _die_with_parent()
    _release_forkserver()
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(0)  # the master died before we got here
    try:
        os.setpgid(0, 0)  # our own process group: killing it also kills what the task started
    except OSError:
        pass
    else:
        _start_group_watchdog()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the master's to handle
    # A Disco task is an ordinary process: job code may start processes of its own
    # (multiprocessing refuses to in a daemonic one).  The master still kills us.
    multiprocessing.current_process()._config['daemon'] = False
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from discolite import dPickle, util
    from discolite.worker import execute, protocol
    dPickle.KEEP_GLOBALS = keep_globals
    for host, root in roots:
        util.register_local_root(host, root)
    base_path = list(sys.path)
    base_cwd = os.getcwd()
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] != 'task':
            return
        _, payload, inputs, jobhome, pythonpath = msg
        before = set(sys.modules)
        try:
            os.chdir(jobhome)
            sys.path[:0] = [os.path.join(jobhome, p) for p in pythonpath]
            execute(payload, protocol.PipeChannel(conn, inputs))
        except Exception as e:  # the channel itself failed: report and carry on
            try:
                conn.send(('ERROR', 'discolite pool process: %s: %s' % (type(e).__name__, e)))
            except Exception:
                return
        finally:
            sys.path[:] = base_path
            try:
                os.chdir(base_cwd)
            except OSError:
                os.chdir('/')
            prefix = os.path.realpath(jobhome) + os.sep
            for name in set(sys.modules) - before:
                path = getattr(sys.modules.get(name), '__file__', None) or ''
                if path and os.path.realpath(path).startswith(prefix):
                    del sys.modules[name]


class Slot(object):
    """One worker process and the task it is running (``None`` when idle).

    ``retired`` is set once the slot must not get new work (it was killed, or
    its last task failed); it leaves the pool when its process is reaped.
    """

    def __init__(self, pool, index):
        self.index = index
        parent, child = multiprocessing.Pipe(duplex=True)
        fork = pool.ctx.get_start_method() == 'fork'
        self.process = pool.ctx.Process(target=child_main, name='%s-%d' % (PROCESS_NAME, index),
                                        args=(child, pool.roots, pool.keep_globals,
                                              os.getpid() if fork else None),
                                        daemon=True)
        try:
            with (contextlib.nullcontext() if fork else _main_module_hidden()):
                self.process.start()
        finally:
            child.close()
        self.conn = parent
        self.task = None
        self.retired = False
        self.exitcode = None      # set once the process has been reaped

    @property
    def pid(self):
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
    """``size`` worker processes (slots) that the scheduler thread keeps filled."""

    def __init__(self, size, start_method, roots, keep_globals=False):
        self.ctx = multiprocessing.get_context(start_method)
        if start_method == 'forkserver':
            self.ctx.set_forkserver_preload(['discolite.worker.classic.worker'])
        self.roots = roots
        self.keep_globals = keep_globals
        self.size = size
        self.slots = []
        self._next = 0

    # -- scheduler thread only

    def fill(self):
        """Start processes until ``size`` live (non-retired) slots exist."""
        while sum(1 for s in self.slots if not s.retired) < self.size:
            slot = Slot(self, self._next)
            self._next += 1
            self.slots.append(slot)

    def wait(self, extra, timeout):
        """Wait for messages or deaths. Returns ``[(slot, msg)]``; ``msg`` None means it died.

        A dead slot is reaped and removed from the pool before this returns; call
        :meth:`fill` to replace it.
        """
        waitables = {}
        for slot in self.slots:
            waitables[slot.conn] = slot
            waitables[slot.process.sentinel] = slot
        ready = multiprocessing.connection.wait(list(waitables) + list(extra), timeout)
        events = []
        dead = []
        for obj in ready:
            slot = waitables.get(obj)
            if slot is None or slot in dead:
                continue
            if obj is slot.conn:
                try:
                    while slot.conn.poll():
                        events.append((slot, slot.conn.recv()))
                except (EOFError, OSError):
                    dead.append(slot)
            else:
                dead.append(slot)
        for slot in dead:
            try:
                while slot.conn.poll():  # drain what it said before dying
                    events.append((slot, slot.conn.recv()))
            except (EOFError, OSError):
                pass
            self.remove(slot)
            events.append((slot, None))
        return events

    def remove(self, slot):
        """Reap ``slot``'s process (killing it if needed) and drop it from the pool."""
        if slot.process.exitcode is None:
            _kill(slot.process)
            slot.process.join(5)
        else:
            slot.process.join()
        slot.exitcode = slot.process.exitcode
        _kill_group(slot.pid)  # a task's own child processes do not outlive its worker
        slot.conn.close()
        try:
            slot.process.close()
        except ValueError:
            pass
        if slot in self.slots:
            self.slots.remove(slot)

    # -- any thread holding the scheduler lock

    def idle(self):
        """Slots that may take a task now."""
        return [s for s in self.slots if s.task is None and not s.retired]

    def run(self, slot, task, payload, inputs, jobhome, pythonpath):
        """Send ``task`` to ``slot``'s process; its messages come back through :meth:`wait`."""
        slot.task = task
        try:
            slot.conn.send(('task', payload, inputs, jobhome, pythonpath))
        except (OSError, ValueError):
            pass  # the process has just died: wait() reports it and the task is retried

    def retire(self, slot):
        """Stop giving ``slot`` work and SIGKILL its process; the scheduler thread reaps it."""
        slot.retired = True
        slot.task = None
        _kill(slot.process)

    def close(self, timeout=1.0):
        """Stop every process: idle ones exit when asked, the rest are killed."""
        for slot in self.slots:
            if slot.task is None and not slot.retired:
                try:
                    slot.conn.send(('exit',))
                except Exception:
                    _kill(slot.process)
            else:
                _kill(slot.process)
        deadline = time.time() + timeout
        for slot in self.slots:
            slot.process.join(max(0, deadline - time.time()))
            if slot.process.exitcode is None:
                _kill(slot.process)
                slot.process.join(5)
            _kill_group(slot.pid)
            slot.conn.close()
        self.slots = []


def _kill(process):
    """SIGKILL the process and its process group (anything its tasks started)."""
    _kill_group(process.pid)
    try:
        process.kill()
    except Exception:
        pass


def _kill_group(pid):
    """SIGKILL what is left of the process group led by ``pid`` (a pool process leads its own).

    Safe after the leader has been reaped: Linux does not reuse a pid while a process
    group of that id still exists, so this reaches only that group's stragglers.
    """
    if pid:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
