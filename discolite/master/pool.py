"""Worker processes for the in-process master.

Each slot is one long-lived process with its own duplex pipe; the scheduler
waits on every pipe *and* every process sentinel at once, so a worker that
dies (SIGKILL, out of memory, ``os._exit``) is noticed at once and replaced.
Unlike ``multiprocessing.Pool``, nothing here can block on a dead worker.
"""
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys


def _die_with_parent():
    """Ask Linux to SIGKILL this process when the master process dies."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def child_main(conn, roots, keep_globals, parent_pid):
    """Loop of a pool process: run tasks sent by the master until told to exit."""
    _die_with_parent()
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(0)  # the master died before we got here
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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
    """One worker process and the task it is running (``None`` when idle)."""

    def __init__(self, pool, index):
        self.index = index
        parent, child = multiprocessing.Pipe(duplex=True)
        self.process = pool.ctx.Process(target=child_main, name='discolite-worker-%d' % index,
                                        args=(child, pool.roots, pool.keep_globals,
                                              os.getpid() if pool.ctx.get_start_method() == 'fork' else None),
                                        daemon=True)
        self.process.start()
        child.close()
        self.conn = parent
        self.task = None

    @property
    def pid(self):
        return self.process.pid

    def kill(self):
        try:
            self.process.kill()
        except Exception:
            pass
        self.process.join(5)
        self.conn.close()


class Pool(object):
    def __init__(self, size, start_method, roots, keep_globals=False):
        self.ctx = multiprocessing.get_context(start_method)
        if start_method == 'forkserver':
            self.ctx.set_forkserver_preload(['discolite.worker.classic.worker'])
        self.roots = roots
        self.keep_globals = keep_globals
        self.size = size
        self.slots = []
        self._next = 0

    def start(self):
        while len(self.slots) < self.size:
            self._spawn()

    def _spawn(self):
        slot = Slot(self, self._next)
        self._next += 1
        self.slots.append(slot)
        return slot

    def idle(self):
        return [s for s in self.slots if s.task is None]

    def run(self, slot, task, payload, inputs, jobhome, pythonpath):
        slot.task = task
        slot.conn.send(('task', payload, inputs, jobhome, pythonpath))

    def replace(self, slot):
        """Kill ``slot`` (if alive) and start a fresh process in its place."""
        slot.kill()
        if slot in self.slots:
            self.slots.remove(slot)
        if len(self.slots) < self.size:
            self._spawn()

    def wait(self, extra, timeout):
        """Wait for messages or deaths. Returns ``[(slot, msg)]``; ``msg`` None means it died."""
        waitables = {}
        for slot in self.slots:
            waitables[slot.conn] = slot
            waitables[slot.process.sentinel] = slot
        ready = multiprocessing.connection.wait(list(waitables) + list(extra), timeout)
        events = []
        dead = set()
        for obj in ready:
            slot = waitables.get(obj)
            if slot is None:
                continue
            if obj is slot.conn:
                try:
                    while slot.conn.poll():
                        events.append((slot, slot.conn.recv()))
                except (EOFError, OSError):
                    dead.add(slot)
            else:
                dead.add(slot)
        for slot in dead:
            try:
                while slot.conn.poll():  # drain what it said before dying
                    events.append((slot, slot.conn.recv()))
            except (EOFError, OSError):
                pass
            slot.process.join(1)
            events.append((slot, None))
        return events

    def close(self):
        for slot in self.slots:
            try:
                slot.conn.send(('exit',))
            except Exception:
                pass
        for slot in self.slots:
            slot.process.join(0.5)
            if slot.process.is_alive():
                slot.kill()
            else:
                slot.conn.close()
        self.slots = []
