"""Inline debug mode (``DISCOLITE_INLINE=1``): every task runs in the submitting thread.

:class:`InlinePool` takes the place of :class:`~discolite.master.pool.Pool` in the
scheduler: it has one slot, and "running" a task there only queues it.  The master
has no scheduler thread; ``Scheduler.submit`` calls :meth:`InlinePool.drive`, which
runs the job to its end, one task after another, in the caller's thread, through the
very same scheduler (stages, partition files, index files, events, retries, results)
and the very same task code (``worker.execute``: the job pack is loaded from the job
file, job functions are rebuilt without their module's globals, the task's working
directory is its job home).  What differs, for debugging:

* ``breakpoint()``/``pdb`` work in job functions (the terminal is the caller's);
* what a task prints goes to the caller's stdout as well as to the events, and the
  message throttle is off;
* an exception in a task kills the job as usual and is kept, so that ``wait()`` (or
  ``results``) re-raises it in the caller with its original traceback.
"""
import collections
import os
import sys
import threading
import time

from discolite.worker import execute, protocol


class InlineSlot(object):
    """The one slot of the inline pool (never a process)."""

    pid = None
    worker_pid = None
    retired = False
    exitcode = None

    def __init__(self):
        self.task = None
        self.job = None

    def __repr__(self):
        return '<InlineSlot>'


class InlineChannel(protocol.Channel):
    """Task messages collected for the scheduler; INPUT answered from the task's inputs."""

    def __init__(self, inputs, sink):
        self.inputs = inputs
        self.sink = sink
        self.error = None  # the exception that ended the task (set by worker.execute)

    def send(self, type, payload=''):
        self.sink(type, payload)

    request = protocol.PipeChannel.request


class InlinePool(object):
    """The scheduler's pool in inline mode: one slot, tasks run by :meth:`drive`."""

    size = 1

    def __init__(self, scheduler):
        self.scheduler = scheduler
        self.slot = InlineSlot()
        self.slots = [self.slot]
        self.queued = collections.deque()
        self.caches = {}  # job name -> JobCache: the job file is read once per job, as a
        #                   pool process does
        self.driving = False
        self.driver = None  # the thread running tasks while driving

    def in_task(self):
        """True in the thread that is running a task of this pool right now."""
        return self.driving and self.driver == threading.get_ident()

    # -- the Pool interface the scheduler uses

    def fill(self):
        pass

    def idle(self):
        return [] if self.slot.task is not None else [self.slot]

    def take(self, job, fresh=True):
        return None if self.slot.task is not None else self.slot

    def serving(self, name, host=None):
        return 0  # one slot, always the caller's process: never worth waiting for

    def run(self, slot, task, fields, inputs, setup):
        slot.task = task
        slot.job = task.job.name
        self.queued.append((slot, task, fields, inputs, setup))

    def finished(self, slot, ok):
        slot.task = None

    def release(self, slot):
        slot.job = None

    def release_job(self, name):
        self.caches.pop(name, None)

    def retire(self, slot):
        slot.task = None

    def wait(self, extra, timeout):
        return []

    def remove(self, slot):
        pass

    def close(self, timeout=None):
        self.queued.clear()
        self.caches.clear()

    # -- running jobs

    def drive(self, job):
        """Run ``job``'s tasks in this thread until it ends (re-entrant calls just return:
        a task that submits a job gets it run after its own task)."""
        if self.driving:
            return
        sched = self.scheduler
        self.driving = True
        self.driver = threading.get_ident()
        saved = _CallerState()  # what tasks change in the process, put back once the job ends
        try:
            while True:
                with sched.lock:
                    if job.status != 'active' and not self.queued:
                        break
                    due = sched._assign()
                if not self.queued:
                    if job.status != 'active':
                        break
                    time.sleep(due if due is not None else 0.001)  # a retry backing off
                    continue
                self._run_one(saved, *self.queued.popleft())
        finally:
            self.driving = False
            saved.restore()

    def _run_one(self, saved, slot, task, fields, inputs, setup):
        from discolite.worker import JobCache
        sched = self.scheduler
        lock = sched.lock
        base, jobhome, pythonpath = setup[:3]
        payload = dict(base)
        payload.update(fields)
        cache = self.caches.get(task.job.name)
        if cache is None:
            cache = self.caches[task.job.name] = JobCache()

        def deliver(mtype, msg):
            with lock:
                if slot.task is task:
                    sched._on_message(slot, (mtype, msg))

        channel = InlineChannel(inputs, deliver)
        echo = protocol.ECHO
        protocol.ECHO = sys.stdout  # print() in a task reaches the terminal too
        try:
            saved.enter(jobhome, pythonpath)
            execute(payload, channel, cache)
        finally:
            protocol.ECHO = echo
            with lock:
                if slot.task is task:  # ended without DONE/ERROR/FATAL: as a crash
                    slot.task = None
                    if task.state == 'running' and task.job.status == 'active':
                        sched.task_failed(task, 'WARNING: [%s] Worker crashed! (the task '
                                                'ended without a result)' % task.name,
                                          crashed=True)
        error = channel.error
        if error is not None and task.job.status != 'active' and \
                getattr(task.job, 'exception', None) is None:
            task.job.exception = error  # re-raised in the caller by wait()
        if task.job.status != 'active':
            self.caches.pop(task.job.name, None)
        if isinstance(error, KeyboardInterrupt):
            raise error


class _CallerState(object):
    """What a task changes in its process for itself (working directory, sys.path, the
    ``disco`` alias, DISCO_PORT, modules imported from job homes), saved when a job starts
    and put back when it ends: the caller's code runs only then, and a pool process
    keeps the same state across the tasks of its job too."""

    def __init__(self):
        from discolite import alias
        self.port = os.environ.get('DISCO_PORT')
        self.aliased = alias.installed()
        self.cwd = os.getcwd()
        self.path = list(sys.path)
        self.modules = set(sys.modules)
        self.homes = set()
        self.home = None

    def enter(self, jobhome, pythonpath):
        """Make ``jobhome`` the working directory, its PYTHONPATH entries first on sys.path."""
        if self.home != (jobhome, tuple(pythonpath)) or os.getcwd() != jobhome:
            os.chdir(jobhome)
            sys.path[:] = [os.path.join(jobhome, p) for p in pythonpath] + self.path
            self.home = (jobhome, tuple(pythonpath))
            self.homes.add(jobhome)  # resolved by restore(), if a module was imported

    def restore(self):
        from discolite import alias
        if self.port is None:
            os.environ.pop('DISCO_PORT', None)
        else:
            os.environ['DISCO_PORT'] = self.port
        if not self.aliased and alias.installed():
            alias.uninstall()
        sys.path[:] = self.path
        os.chdir(self.cwd)
        prefixes = None
        if self.homes:
            for name in set(sys.modules) - self.modules:
                file = getattr(sys.modules.get(name), '__file__', None) or ''
                if not file:
                    continue
                if prefixes is None:
                    prefixes = tuple(os.path.realpath(h) + os.sep for h in self.homes)
                if os.path.realpath(file).startswith(prefixes):
                    del sys.modules[name]


def take_exception(master_url, jobname):
    """The exception that killed an inline job of the in-process master at ``master_url``
    (once: the next call returns None), or None."""
    from discolite.master import get_master
    master = get_master(master_url) if master_url.startswith('local://') else None
    if master is None:
        return None
    with master.scheduler.lock:
        job = master.scheduler.jobs.get(jobname)
        exc = getattr(job, 'exception', None)
        if exc is not None:
            job.exception = None
    return exc
