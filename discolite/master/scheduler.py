"""The scheduler: one explicit state machine for jobs and tasks.

Jobs
====
::

    active --(last stage done)--> ready
    active --(FATAL, too many failures, kill, bad input)--> dead

A job runs its pipeline one stage at a time: a version-2 job's own stages, or
the stages of a classic job (``jobpack.classic_pipeline``: map, map_shuffle,
reduce, reduce_shuffle).  A stage starts only when the previous one has fully
finished; its tasks are the groups :mod:`groupings` makes of the previous
stage's outputs (or of the job inputs).  Stages with no tasks are skipped
silently, as on Disco.

Tasks
=====
::

    waiting --(a slot is free, not_before has passed)--> running
    running --DONE--> done
    running --ERROR / worker crashed--> waiting  (failures += 1, retry after a delay)
                                    \\-> failed   (failures > max_failures: the job dies)
    running --FATAL--> failed                    (the job dies at once)

A waiting task sits in exactly one of two queues of its job: ``job.ready``
(FIFO, runnable now) or ``job.delayed`` (a heap on ``not_before``, retries
backing off).  ``job.running`` is the set of running tasks and
``job.remaining`` counts the tasks of the stage not yet done.  So assigning a
task, finishing one and ending a stage cost O(1) (O(log n) for a retry), and
``_assign`` looks only at active jobs (``self.active``, in submission order),
never at every task: a 10,000-task job schedules as fast as a small one.

Which worker runs a task (``_assign_free``, ``_fresh_ok``, ``_queue_next``): the
job's own idle worker first; a fresh one only when the stage's tasks have proved
long enough to be worth a fork (or the stage has waited ``FRESH_WAIT``); and a
short task may be queued behind a running one of its job so that it starts without
a round trip to the master.

``JobRecord.counts[stage]`` holds Disco's ``[pending, waiting, running, done,
failed]`` numbers for ``jobinfo``.

Failures (spec 7.7)
===================
* ERROR from the task (DataError, OSError, MemoryError) and a worker process
  that dies (SIGKILL, out of memory, ``os._exit``) are recoverable: the events
  ``WARNING: [stage:id] <reason>`` and ``Task stage:id failed on "<host>",
  <k>th failures so far. Sleeping <s> seconds before retrying.``; after more
  than ``max_failures`` failures ``ERROR: [...] Task ... failed <k> times. At
  most <max> failures are allowed.`` and the job dies.
* FATAL (any other exception, a ``sys.exit()``, the message throttle) kills
  the job at once.
* A job that ends kills its running tasks (their processes are SIGKILLed and
  replaced), so ``kill`` stops even a task stuck in ``while True: pass``.

Threads
=======
All state lives behind ``self.lock``.  One scheduler thread owns the pool's
processes: it starts them, waits on the pool (messages and process deaths)
and a wake-up pipe, and reaps them.  API calls (submit, kill, purge, ...)
change state under the lock and wake it; a kill only SIGKILLs (see
``pool.py``).  ``self.changed`` is notified whenever a job ends, which is what
``get_results`` blocks on.
"""
import collections
import glob
import heapq
import os
import shutil
import random
import re
import threading
import time

from discolite.master import groupings
from discolite.master import jobpack as jp
from discolite.master import names
from discolite.master.events import EventLog, duration, io_message
from discolite.master.jobs import JobRecord, TaskRecord, new_jobname
from discolite.master.nodes import BLACKLIST_AFTER, Nodes, node_names
from discolite.master import shuffle
from discolite.master.pool import Pool
from discolite.master.restart import save_state
from discolite.master.storage import index_entries as storage_index_entries, inside
from discolite.fileutils import make_dirs
from discolite.worker import protocol

CLASSIC_WORKER = 'lib/discolite/'

_PROGRESS = re.compile(r'(Done: )?\d+ entries (mapped|reduced)\Z')
QUEUE_BELOW = 0.05  # seconds: stages whose tasks are shorter get a task queued per slot
FRESH_WAIT = 0.02  # seconds a stage runs on the job's own workers before it may take fresh ones
FRESH_WORTH = 0.02  # seconds of known work per own worker that is worth a fresh one
INPUTS_IN_FILE = 1024  # a task with more inputs gets them in a file (protocol.InputsFile)

# indices into JobRecord.counts[stage] (Disco's [pending, waiting, running, done, failed])
WAITING, RUNNING, DONE, FAILED = 1, 2, 3, 4


def _recount(job, task, old, new):
    """Move ``task`` from column ``old`` to column ``new`` of its stage's counts."""
    counts = job.counts[task.stage]
    counts[old] -= 1
    counts[new] += 1


class Scheduler(object):
    """The job and task state machine of one master (see the module docstring)."""

    def __init__(self, master, config):
        self.master = master
        self.storage = master.storage
        self.config = config
        self.host = config['DISCOLITE_HOST']
        self.max_failures = config['DISCOLITE_MAX_FAILURES']
        self.retry_delay = config['DISCOLITE_RETRY_DELAY']
        self.inline = config.get('DISCOLITE_INLINE', False)
        self.msg_limit = 0 if self.inline else config['DISCOLITE_MSG_LIMIT']
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.jobs = {}                    # name -> JobRecord, until cleaned or purged
        self.cleaned = set()              # JobNames of cleaned jobs whose data purge may delete
        self.io_failed = []               # (job, message): jobs whose own files cannot be written
        self.active = {}                  # name -> JobRecord of active jobs, oldest first
        self.seq = 0
        self.blacklisted = set()
        self.nodes = Nodes(node_names(config.get('DISCOLITE_NODES', 1), self.host),
                           config['DISCOLITE_WORKERS'], self.blacklisted,
                           config.get('DISCOLITE_FAILING_NODES', ()))
        self.host = self.nodes.first      # the node that keeps the master's copy of job homes
        self.stats = {'job_ok': 0, 'data_error': 0, 'error': 0}
        self.errors = 0                   # unexpected errors the scheduler thread survived
        self.queued_sent = 0              # tasks sent behind a running one (_queue_next)
        self.accept_new_jobs = True
        if self.inline:
            from discolite.master.inline import InlinePool
            self.pool = InlinePool(self)
        else:
            self.pool = Pool(self.nodes.capacity(), config['DISCOLITE_START_METHOD'],
                             [(self.host, self.storage.disco_data, self.storage.ddfs_root)],
                             config['DISCOLITE_KEEP_GLOBALS'],
                             isolation=config.get('DISCOLITE_ISOLATION', 'job'),
                             kill_children=config.get('DISCOLITE_KILL_TASK_PROCESSES', True))
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        os.set_blocking(self._wake_r, False)
        self.closed = False
        self.thread = None
        self._started = threading.Event()
        self._start_error = None

    # ------------------------------------------------------------------ lifecycle

    def start(self):
        """Start the scheduler thread; returns once it has started the pool's processes."""
        if self.inline:  # no thread: submit() runs the job in the caller's thread
            return
        self.thread = threading.Thread(target=self._loop, name='discolite-scheduler', daemon=True)
        self.thread.start()
        self._started.wait()
        if self._start_error is not None:
            self.close()
            raise self._start_error

    def wake(self):
        """Make the scheduler thread look at the state again (from any thread)."""
        try:
            os.write(self._wake_w, b'x')
        except (BlockingIOError, OSError):
            pass

    def close(self):
        """Kill the active jobs, stop the scheduler thread and the pool."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            for job in list(self.active.values()):
                self._end_job(job, 'dead', 'WARN: Job killed')
        self.wake()
        if self.thread and self.thread is not threading.current_thread():
            self.thread.join(10)
        self.pool.close()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def _loop(self):
        try:
            with self.lock:
                self.pool.fill()
        except BaseException as e:
            self._start_error = e
            self._started.set()
            return
        self._started.set()
        while True:
            try:
                if self._step():
                    return
            except Exception:  # a bug or a full disk must not stop the master: log, go on
                import sys
                import traceback
                self.errors += 1
                if self.errors <= 10:
                    sys.stderr.write('discolite scheduler error (carrying on):\n%s'
                                     % traceback.format_exc())
                time.sleep(0.05)

    def _step(self):
        """One turn of the scheduler thread; returns True once the scheduler is closed."""
        with self.lock:
            if self.closed:
                return True
            self._end_io_failed()
            try:
                self.pool.fill()
            except Exception:  # cannot fork right now (EAGAIN, ENOMEM): try again soon
                timeout = 0.5
            else:
                timeout = self._assign()
            due = self._flush_events()
            if due is not None and (timeout is None or due < timeout):
                timeout = due
        events = self.pool.wait([self._wake_r], timeout)
        try:
            os.read(self._wake_r, 4096)
        except (BlockingIOError, OSError):
            pass
        with self.lock:
            if self.closed:
                return True
            for slot, msg in events:
                try:
                    self._on_message(slot, msg)
                except Exception as e:  # never let one bad message stop the master
                    task = slot.task
                    if task is not None and task.job.status == 'active':
                        self._fatal(task, 'discolite master error: %s: %s'
                                    % (type(e).__name__, e))
            self._end_io_failed()
        return False

    def _io_error(self, job, message):
        """A write of the master's own (event log) failed for ``job``: end it once the
        current state change is complete (``_end_io_failed``)."""
        if job.status == 'active':
            self.io_failed.append((job, message))
            self.wake()

    def _end_io_failed(self):
        while self.io_failed:
            job, message = self.io_failed.pop(0)
            if job.status == 'active':
                job.events.add('master', 'ERROR: %s' % message)
                self._end_job(job, 'dead', 'WARN: Job killed')

    def _flush_events(self):
        """Write the event lines that have waited long enough; seconds until the next are due."""
        next_due = None
        for job in self.active.values():
            due = job.events.due()
            if due is None:
                continue
            if due <= 0:
                job.events.flush()
            elif next_due is None or due < next_due:
                next_due = due
        return next_due

    # ------------------------------------------------------------------ submission

    def submit(self, data):
        """Validate and register a job pack; returns the job name or raises JobPackError."""
        if not self.accept_new_jobs:
            raise jp.JobPackError('No new jobs should be submitted to this cluster.')
        pack = jp.parse(data)
        jobdict = pack.jobdict
        in_pool = jobdict['worker'].startswith(CLASSIC_WORKER) and \
            not self.config.get('DISCOLITE_EXTERNAL_WORKERS')
        name = new_jobname(jobdict['prefix'])
        try:
            jobhome, jobfile = self.storage.create_jobhome(
                name, data, pack.jobhome, skip_prefix=CLASSIC_WORKER if in_pool else None,
                max_size=self.config['DISCOLITE_MAX_JOBHOME'])
        except OSError as e:  # a full disk, not a bad pack
            self.storage.remove_job(name)
            raise jp.JobPackError(io_message(e))
        except Exception as e:
            self.storage.remove_job(name)
            raise jp.JobPackError('invalid jobhome: %s' % e)
        if not in_pool:
            worker = os.path.join(jobhome, jobdict['worker'])
            if not inside(worker, jobhome) or not os.path.isfile(worker):
                self.storage.remove_job(name)
                raise jp.JobPackError("invalid worker: %r is not a file in the job home"
                                      % jobdict['worker'])
            os.chmod(worker, 0o755)
        # The pack is on disk (jobfile); the master keeps only what it needs to schedule.
        pack.jobhome = pack.jobdata = None
        job = JobRecord(name, pack, jobfile, jobhome, jp.pipeline(pack.version, jobdict),
                        jp.job_inputs(pack.version, jobdict), in_pool)
        job.pythonpath = self._pythonpath(job)
        job.homes = {self.host: (jobhome, jobfile)}
        try:
            job.events = EventLog(os.path.join(self.storage.master_dir(name), 'events'))
        except OSError as e:
            self.storage.remove_job(name)
            raise jp.JobPackError(io_message(e))
        job.events.on_error = lambda _log, message: self._io_error(job, message)
        with self.lock:
            if self.closed:
                job.events.close()
                self.storage.remove_job(name)
                raise jp.JobPackError('the master is shutting down')
            self.seq += 1
            job.seq = self.seq
            self.jobs[name] = job
            self.active[name] = job
            job.events.add('master', 'New job initialized!')
            job.events.add('master', 'Created job "%s"' % name)
            self._announce(job)
            self._next_stage(job)
            self._end_io_failed()
        self.wake()
        if self.inline:
            self.pool.drive(job)
        return name

    def _announce(self, job):
        """Tell ``master.on_job`` (``discolite master`` prints a line) a job started or ended."""
        if self.master.on_job is not None:
            try:
                self.master.on_job(job)
            except Exception:
                pass

    def _pythonpath(self, job):
        """Job-home directories listed in the job's PYTHONPATH (computed once per job)."""
        paths = [p for p in job.pack.jobenvs.get('PYTHONPATH', 'lib').split(':')
                 if p and not os.path.isabs(p) and '..' not in p.split('/')]
        dirs = self.storage.home_dirs.pop(job.jobhome, None)
        if dirs is not None:  # the home was just unpacked: its directories are known
            return [p for p in paths if os.path.normpath(p) in dirs]
        return [p for p in paths if os.path.isdir(os.path.join(job.jobhome, p))]

    # ------------------------------------------------------------------ stages

    def _next_stage(self, job):
        """Advance ``job`` to its next stage that has tasks, or finish it."""
        while job.status == 'active':
            prev = job.stage
            job.remember_tasks()
            if prev is not None and job.stage_start is not None:
                job.events.add('master', 'Stage %s finished in %s'
                               % (prev, duration(time.time() - job.stage_start)))
            job.stage_index += 1
            if job.stage_index >= len(job.pipeline):
                results = job.stage_results.get(prev, []) if prev else \
                    (job.inputs if job.classic else job.inputs[::-1])
                if job.jobdict.get('save_results'):
                    results = self._save_results(job)
                    if results is None:
                        return
                self._end_job(job, 'ready', 'READY: Job done in %s'
                              % duration(time.time() - job.start), results)
                return
            stage, grouping = job.pipeline[job.stage_index]
            job.tasks = self._make_tasks(job, stage, grouping, prev)
            job.ready = collections.deque(job.tasks)
            job.delayed = []
            job.running = set()
            job.remaining = len(job.tasks)
            if not job.tasks:  # skipped silently, as on Disco
                job.stage_start = None
                job.stage_results[stage] = []
                continue
            job.stage_start = time.time()
            job.stage_busy, job.stage_done = 0.0, 0
            job.counts[stage][WAITING] = len(job.tasks)
            job.events.add('master', 'Stage %s scheduled with %d tasks' % (stage, len(job.tasks)))
            return

    def _make_tasks(self, job, stage, grouping, prev):
        """The tasks of ``stage``: the groups of the previous stage's outputs (spec 7)."""
        if prev is not None:
            items = job.stage_items.get(prev, [])
        elif job.classic:
            # Classic jobs name their first-stage groups after the node that runs them, and
            # only a group_label stage looks into dir:// inputs (one task per label).
            items = [groupings.DirItem(urls[0], groupings.host_of(urls[0]))
                     if grouping == 'group_label' and urls[0].startswith('dir://')
                     else groupings.DataItem(0, 0, urls, host=None) for urls in job.inputs]
        else:
            # Disco reverses the job inputs, except where its label groupings reverse them back.
            inputs = job.input_items if grouping in ('group_label', 'group_node_label') \
                else job.input_items[::-1]
            items = [groupings.DataItem(label, size, urls) for label, size, urls in inputs]
        groups = groupings.group(grouping, items)
        if job.classic and prev is None:
            if grouping == 'split':
                groups = [((label, None), inputs) for (label, _h), inputs in groups]
            elif grouping == 'group_all' and not groups:
                groups = [((0, ''), [])]
        tasks = []
        for group, task_inputs in groups:
            inputs = [(iid, label, urls) for iid, (label, urls) in enumerate(task_inputs)]
            task = TaskRecord(job, job.next_taskid, stage, grouping, group, inputs)
            task.hosts = _local_hosts(group[1], task_inputs, self.nodes)
            tasks.append(task)
            job.next_taskid += 1
        return tasks

    # ------------------------------------------------------------------ assignment

    def _assign(self):
        """Start runnable tasks on idle slots; returns seconds until a retry is due (or None).

        Cost: O(active jobs + tasks started), whatever the number of tasks.
        """
        nodes = self.nodes
        if not nodes.has_free_slot():
            next_due = self._next_due(time.time())
        else:
            next_due = self._assign_free()
        if getattr(self.pool, 'pipelined', False):
            self._queue_next()
        return next_due

    def _assign_free(self):
        nodes = self.nodes
        free = len(self.pool.idle())
        now = time.time()
        next_due = None
        for job in list(self.active.values()):
            delayed, ready = job.delayed, job.ready
            while delayed and delayed[0][0] <= now:
                ready.append(heapq.heappop(delayed)[2])
            if delayed:
                due = delayed[0][0] - now
                next_due = due if next_due is None else min(next_due, due)
            while ready and len(job.running) < job.max_cores:
                if job.in_pool and not free:
                    break
                if not job.in_pool:
                    external = self.master.external
                    if external is not None and not external.free():
                        break  # no more worker processes than pool slots
                node = nodes.place(ready[0], job.force_local, job.force_remote)
                if node is None:
                    break
                if job.shuffle_here and not node.failing and \
                        ready[0].stage in shuffle.SHUFFLE_STAGES:
                    bylabel = shuffle.plan(ready[0])
                    if bylabel is not None:  # small: the master copies it, no round trip
                        task = ready.popleft()
                        self.task_started(job, task, node)
                        shuffle.run(self, task, bylabel, self.task_payload(job, task))
                        delayed, ready = job.delayed, job.ready  # the next stage's, maybe
                        continue
                slot = None
                if job.in_pool and not node.failing:
                    fresh = self._fresh_ok(job, now, node.host)
                    slot = self.pool.take(job, fresh)  # a worker that serves this job, or a fresh one
                    if slot is None:
                        if not fresh and not job.stage_done:  # look again when it may
                            due = max(0.0, job.stage_start + FRESH_WAIT - now)
                            next_due = due if next_due is None else min(next_due, due)
                        break
                    free -= 1
                task = ready.popleft()
                try:
                    self._home(job, node.host)
                except Exception as e:  # e.g. a full disk on that node: retried elsewhere
                    self._fail_on(node, job, task, 'cannot unpack the job home on %s: %s'
                                  % (node.host, e))
                    continue
                if node.failing:
                    self._fail_on(node, job, task, 'emulated node failure: every task '
                                                   'started on it fails')
                elif job.in_pool:
                    self._run(slot, job, task, node)
                else:
                    self.task_started(job, task, node)
                    self.master.run_external(job, task)
        return next_due

    def _fresh_ok(self, job, now, host):
        """May ``job`` start a fresh worker now, rather than wait for its own?

        A fresh worker costs a fork and a first task that pays for every page it
        touches (milliseconds on a virtual machine); a job's short tasks run sooner
        one after another on the worker it has (queued behind each other, see
        ``_queue_next``).  So a job that has a worker takes another only once the
        stage's tasks have proved long enough to be worth it: ``FRESH_WORTH`` seconds
        of known work per worker it has, or, before any has finished, once the stage
        is ``FRESH_WAIT`` old.  Counted per node (``host``, where the task is placed):
        emulated nodes each get the job's tasks, as a cluster's would.
        """
        warm = self.pool.serving(job.name, host)
        if not warm or job.stage_start is None:
            return True
        if job.stage_done:
            return len(job.ready) * job.stage_busy / job.stage_done / warm >= FRESH_WORTH
        return now - job.stage_start >= FRESH_WAIT

    def _queue_next(self):
        """Send a task behind each running one whose job has more ready tasks (Pool.run).

        Only while the stage's tasks are short (under ``QUEUE_BELOW`` seconds on average,
        or, before any has finished, while the stage is that young): a short task's time
        is mostly the round trip to the master, which the queued task skips; a long one
        would hold its queued task back from a slot that frees up sooner.  A queued task
        stays ``waiting`` in Disco's counts (jobinfo, nodeinfo, slots) until the task
        before it has ended: only then is it assigned and started (``_on_message``).
        Before any task of the stage has ended, nothing is queued while a worker is
        idle: the running task may be long, and the idle worker takes the next one
        once ``_fresh_ok`` allows.
        """
        now = time.time()
        idle = bool(self.pool.idle())
        for slot in self.pool.slots:
            head = slot.task
            if head is None or slot.next or slot.retired:
                continue
            job = head.job
            ready = job.ready
            if not ready or job.status != 'active' or not job.in_pool or \
                    len(job.running) + len(job.queued) >= job.max_cores or \
                    job.stage_start is None:
                continue
            if job.stage_done:
                if job.stage_busy / job.stage_done >= QUEUE_BELOW:
                    continue
            elif now - job.stage_start >= QUEUE_BELOW or idle:
                continue  # not behind a task that may be long while a worker is free
            task = ready[0]
            node = self.nodes.get(head.node)
            if node is None or node.failing or not node.active or \
                    node.host in self.blacklisted or job.force_remote or \
                    task.stage != head.stage or head.node in task.failed_hosts or \
                    _elsewhere(task, head.node, self.nodes) or \
                    (job.shuffle_here and task.stage in shuffle.SHUFFLE_STAGES):
                continue
            ready.popleft()
            task.state = 'queued'
            task.node = head.node
            task.jobhome = head.jobhome
            task.slot = slot
            job.queued.add(task)
            self.queued_sent += 1
            self._send(slot, job, task)

    def _unqueue(self, task):
        """``task`` was sent behind another but never started: it waits again, first."""
        job = task.job
        job.queued.discard(task)
        if task.state != 'queued':
            return
        task.slot = None
        task.state = 'waiting'
        if job.status == 'active':
            job.ready.appendleft(task)

    def _next_due(self, now):
        dues = [job.delayed[0][0] - now for job in self.active.values() if job.delayed]
        return max(0.0, min(dues)) if dues else None

    def _fail_on(self, node, job, task, why):
        """``task`` fails as soon as it starts on ``node`` (a broken node)."""
        self.task_started(job, task, node)
        self.task_failed(task, 'WARNING: [%s] Node %s failed (%s)' % (task.name, node.host, why),
                         crashed=True)

    def _home(self, job, host):
        """``(job home, jobfile)`` of ``job`` on node ``host``, unpacked there on first use
        (each Disco node keeps its own copy of the job pack)."""
        home = job.homes.get(host)
        if home is None:
            with open(job.jobfile, 'rb') as f:
                data = f.read()
            pack = jp.parse(data)
            home = job.homes[host] = self.storage.create_jobhome(
                job.name, data, pack.jobhome,
                skip_prefix=CLASSIC_WORKER if job.in_pool else None, host=host)
            if not job.in_pool:
                os.chmod(os.path.join(home[0], job.jobdict['worker']), 0o755)
        return home

    def task_payload(self, job, task):
        """The TASK message a worker gets for ``task`` (Disco's field names and meanings)."""
        payload = self.job_payload(job, task.node)
        payload.update(_task_fields(task))
        return payload

    def job_payload(self, job, node):
        """The fields of a TASK payload that are the same for every task of ``job`` on ``node``."""
        return {'master': self.master.url,
                'disco_port': self.master.disco_port, 'put_port': self.master.disco_port,
                'ddfs_data': self.storage.ddfs_root, 'disco_data': self.storage.disco_data,
                'jobfile': job.homes.get(node, (None, job.jobfile))[1], 'jobname': job.name,
                'host': node}

    def task_started(self, job, task, node=None):
        """Mark ``task`` running on ``node`` (the scheduler calls this before handing it to a
        runner)."""
        if task.state == 'running':
            return
        node = node or self.nodes.get(self.host)
        task.node = node.host
        task.jobhome = job.homes.get(node.host, (job.jobhome,))[0]
        node.running += 1
        _recount(job, task, WAITING, RUNNING)
        task.state = 'running'
        task.started = time.time()
        task.outputs = []
        task.index_url = None
        task.msg_times = []
        task.msg_clock = None
        task.slot_host = node.host
        job.running.add(task)
        job.events.add('master', '%s assigned to %s' % (task.name, node.host))

    def _stopped(self, task):
        """``task`` no longer runs on its node (done, failed or killed)."""
        node = self.nodes.get(task.node)
        if node is not None and node.running > 0:
            node.running -= 1
        return node

    def _run(self, slot, job, task, node=None):
        self.task_started(job, task, node)
        task.slot = slot
        self._send(slot, job, task)

    def _send(self, slot, job, task):
        # a pool worker serves one job: what is the same for all its tasks goes once
        index = self._index_location(job, task)
        inputs = task.inputs
        if len(inputs) > INPUTS_IN_FILE and index is not None:
            inputs = self._inputs_file(index[0], task)
        self.pool.run(slot, task, _task_fields(task), inputs,
                      (self.job_payload(job, task.node), task.jobhome, job.pythonpath, index))

    @staticmethod
    def _inputs_file(directory, task):
        """``task``'s inputs written next to the job's index files, for its worker to read
        as it goes (a worker's memory then does not grow with the job); where that fails
        (a full disk), the inputs go in the task's message as for small tasks."""
        try:
            make_dirs(directory)
            return protocol.write_inputs_file(
                os.path.join(directory, '%s-%d.inputs' % (task.stage, task.taskid)),
                task.inputs)
        except OSError:
            return task.inputs

    def _index_location(self, job, task):
        """Where the pool worker may write ``task``'s index file itself (None: the master
        writes it): ``(directory, host, url prefix)``."""
        stage = task.stage
        if os.sep in stage or stage.startswith('.') or \
                (job.jobdict.get('save_results') and not job.classic):
            return None
        directory, prefix = self.storage.index_location(job.name, task.node)
        return directory, task.node, prefix

    # ------------------------------------------------------------------ messages

    def _on_message(self, slot, msg):
        task = slot.task
        if msg is None:  # the process died (it has been reaped; fill() replaces it)
            queued, slot.task, slot.next = slot.next, None, []
            if task is not None and task.slot is slot and task.state == 'running' \
                    and task.job.status == 'active':
                self.task_failed(task, 'WARNING: [%s] Worker crashed! (exit code: %s)'
                                 % (task.name, slot.exitcode), crashed=True)
            for waiting in reversed(queued):  # never started: back to the front of the queue
                self._unqueue(waiting)
            return
        if task is None or slot.retired:
            return
        mtype, payload = msg
        self.handle(task, mtype, payload)
        if slot.task is task and not slot.retired and mtype in ('DONE', 'ERROR', 'FATAL'):
            # after ERROR/FATAL the worker replaces itself: a fresh process for the next task
            self.pool.finished(slot, mtype == 'DONE')
            queued = slot.task
            if queued is not None:  # the task queued behind it runs from now on
                job = queued.job
                job.queued.discard(queued)
                if queued.state == 'queued' and job.status == 'active':
                    queued.state = 'waiting'
                    self.task_started(job, queued, self.nodes.get(queued.node))
            if task.job.status != 'active':
                self.pool.release(slot)  # that was the job's last task

    def handle(self, task, mtype, payload):
        """Apply one worker message (pool or worker protocol) to ``task``."""
        job = task.job
        if task.state != 'running' or job.status != 'active':
            return
        if mtype == 'MSG':
            if self._throttled(task, payload):
                return
            job.events.add(task.node, 'MSG: [%s] %s' % (task.name, payload))
        elif mtype == 'OUTPUT':
            label, path, size = payload
            task.outputs.append((int(label), str(path), int(size)))
        elif mtype == 'INDEX':  # a pool worker wrote the index of its local outputs
            task.index_url = str(payload)
        elif mtype == 'DONE':
            self._task_done(task)
        elif mtype == 'ERROR':
            self.task_failed(task, 'WARNING: [%s] %s' % (task.name, payload))
        elif mtype == 'FATAL':
            self._fatal(task, payload)
        elif mtype == 'JOBINFO':  # a pool worker has loaded the job (see shuffle.py)
            job.shuffle_here = bool(payload.get('shuffle_here')) and job.classic

    def _throttled(self, task, message=''):
        """Disco's MSG throttle (spec 2.11), on the times Disco's worker would have sent them.

        On Disco a worker waits for the reply to each MSG, and the master delays that
        reply by 200 ms while more than half the limit is queued, so a worker that keeps
        sending is slowed down, and only a burst reaches the limit.  Pool tasks do not
        wait for replies, so each MSG is given the arrival time it would have had
        (``task.msg_clock``): a task printing 100 lines in a loop still dies, but
        a long map reporting "N entries mapped" ten times a second does not.
        """
        if not self.msg_limit:
            return False
        if _PROGRESS.match(str(message)):
            # the worker's own "N entries mapped/reduced" every status_interval records: a
            # Disco worker cannot read 10 x 100,000 records a second, discolite's can (its
            # reduce reading a hunk of word counts: ~6 M records/s), and a job that lives on
            # a cluster must not die here for being fast
            return False
        times = task.msg_times
        now = time.time()
        if task.msg_clock is not None and len(times) > self.msg_limit // 2:
            now = max(now, task.msg_clock + 0.2)
        task.msg_clock = now
        times.append(now)
        if now - times[0] > 1:
            times.pop(0)
        if len(times) >= self.msg_limit:
            self._fatal(task, 'Worker is behaving badly: Sent %d events in a second, '
                              'ignoring replies.' % len(times))
            return True
        return False

    def _task_done(self, task):
        job = task.job
        saving = task.outputs and job.jobdict.get('save_results') and \
            job.stage_index == len(job.pipeline) - 1
        try:  # first the index file: a failed write must not leave the task half done
            items = [] if saving and not job.classic else self._output_items(job, task)
        except OSError as e:
            self._discard_attempts(job, task)
            self._fatal(task, io_message(e))
            return
        task.state = 'done'
        task.slot = None
        job.running.discard(task)
        job.remaining -= 1
        _recount(job, task, RUNNING, DONE)
        self.stats['job_ok'] += 1
        node = self._stopped(task)
        if node is not None:
            node.stats['job_ok'] += 1
            node.failures_in_a_row = 0
        took = time.time() - task.started
        job.stage_busy += took
        job.stage_done += 1
        job.events.add(task.node, 'DONE: [%s] Task finished in %s' % (task.name, duration(took)))
        if saving:
            try:
                task.saved = self._save_outputs(job, task)
            except Exception as e:  # e.g. a full disk: the job cannot keep its results
                task.outputs = []
                self._end_job(job, 'dead', 'ERROR: [%s] Failed to save results to DDFS: %s'
                              % (task.name, e))
                return
        if getattr(task, 'saved', None) and not job.classic:
            # a pipeline's saved outputs are data items: the DDFS blobs (stage results)
            task.items = [groupings.DataItem(label, size, urls)
                          for (label, _path, size), urls in zip(task.outputs, task.saved)]
        else:
            task.items = items
        task.outputs = []
        job.events.add('master', 'SYS: [%s] Received results from %s' % (task.name, task.node))
        if job.remaining == 0:
            items = [item for t in job.tasks for item in t.items]
            job.stage_items[task.stage] = items
            job.stage_results[task.stage] = [item.replicas for item in items]
            self._next_stage(job)

    # ------------------------------------------------------------------ save_results

    def _save_outputs(self, job, task):
        """Store each output of a last-stage task as a DDFS blob, as a Disco node does
        (prefix ``<job>:<taskid>:<runid>:<basename>``); their URLs, in output order."""
        from discolite.task import safe_name
        store = self.master.ddfs
        saved = []
        for _label, path, _size in task.outputs:
            if '://' in path:
                saved.append([path])
                continue
            source = os.path.join(task.jobhome or job.jobhome, path)
            prefix = safe_name('%s:%d:%d:%s' % (job.name, task.taskid,
                                                task.taskid + task.failures,
                                                os.path.basename(path)))
            with open(source, 'rb') as f:
                saved.append([store.put_blob(store.new_blob(prefix), f)])
        return saved

    def _save_results(self, job):
        """Write ``disco:results:<job>`` (one entry per saved output, in the stage's task
        order); the job's results become ``["tag://disco:results:<job>"]``.  None when the
        tag could not be written (the job is dead then)."""
        tag = 'disco:results:%s' % job.name
        entries = [entry for t in sorted(job.tasks, key=lambda t: t.taskid)
                   for entry in getattr(t, 'saved', None) or []]
        try:
            self.master.ddfs.update(tag, entries, replace=True)
        except Exception as e:
            self._end_job(job, 'dead', 'Job %s failed to save results to %s: %s'
                          % (job.name, tag, e))
            return None
        return ['tag://' + tag]

    def _output_items(self, job, task):
        """What a finished task hands to the next stage: its local outputs as one index
        file (a dir item), and, for pipeline jobs, each output given as a URL as a data item."""
        local = [o for o in task.outputs if job.classic or '://' not in o[1]]
        items = []
        if local:
            url = task.index_url if len(local) == len(task.outputs) else None
            if url is None:
                url = self.storage.write_index(job.name, task.stage, task.taskid, local,
                                               task.node)
            items.append(groupings.DirItem(url, task.node, [o[0] for o in local]))
            if job.shuffle_here and len(job.tasks) <= shuffle.MAX_INPUTS and \
                    job.stage_index + 1 < len(job.pipeline) and \
                    job.pipeline[job.stage_index + 1][0] in shuffle.SHUFFLE_STAGES:
                # what a small shuffle the master does will read back (shuffle.plan)
                entries = storage_index_entries(task.node, self.storage.index_location(
                    job.name, task.node)[1], local)
                if entries is not None:
                    job.index_entries[url] = entries
        items.extend(groupings.DataItem(label, size, [url], groupings.host_of(url))
                     for label, url, size in task.outputs if not job.classic and '://' in url)
        return items

    def task_failed(self, task, message, crashed=False):
        """A recoverable failure: retry the task, or kill the job after too many failures.

        ``crashed``: the worker process died (counted in nodeinfo's ``error``, as Disco
        does; an ERROR message counts in ``data_error``).
        """
        job = task.job
        _recount(job, task, RUNNING, FAILED)
        task.slot = None
        job.running.discard(task)
        self._discard_attempts(job, task)
        task.failures += 1
        kind = 'error' if crashed else 'data_error'
        self.stats[kind] += 1
        if not task.failed_hosts:
            task.failed_hosts = set()
        task.failed_hosts.add(task.node)
        node = self._stopped(task)
        if node is not None:
            node.stats[kind] += 1
            node.failures_in_a_row += 1
            if node.failures_in_a_row >= BLACKLIST_AFTER and node.host not in self.blacklisted \
                    and len(self.nodes.active()) > 1:
                self.blacklisted.add(node.host)
                job.events.add('master', 'Node %s blacklisted after %d failed tasks in a row'
                               % (node.host, node.failures_in_a_row))
        job.events.add('master', message)
        if task.failures > self.max_failures:
            task.state = 'failed'
            error = 'ERROR: [%s] Task %s failed %d times. At most %d failures are allowed.' \
                % (task.name, task.name, task.failures, self.max_failures)
            job.events.add('master', error)
            job.reason = job.reason or [message, error]
            self._end_job(job, 'dead', 'WARN: Job killed')
            return
        delay = min(self.retry_delay * task.failures, 60 * self.retry_delay) \
            * (1 + random.random())
        job.events.add('master', 'Task %s failed on "%s", %dth failures so far. Sleeping %s '
                                 'seconds before retrying.'
                       % (task.name, task.node, task.failures, _secs(delay)))
        task.state = 'waiting'
        task.not_before = time.time() + delay
        heapq.heappush(job.delayed, (task.not_before, task.taskid, task))
        job.counts[task.stage][WAITING] += 1

    def _discard_attempts(self, job, task):
        """Delete what failed runs of ``task`` wrote in the job home (their task directories
        ``<hh>/<stage>:<group>-<taskid>-<hh>-<pid>``, see ``discolite.task``): a retry
        starts afresh and a full disk gets its space back."""
        if task.state == 'done' or not job.jobhome:
            return
        pattern = os.path.join(glob.escape(job.jobhome), '??',
                               '%s:*-%d-??-*' % (glob.escape(task.stage), task.taskid))
        exact = re.compile(r'%s:.*-%d-[0-9a-f]{2}-\d+\Z' % (re.escape(task.stage), task.taskid))
        for path in glob.glob(pattern):
            if exact.match(os.path.basename(path)) and os.path.isdir(path) and \
                    not os.path.islink(path):
                shutil.rmtree(self.storage.checked(path), ignore_errors=True)

    def _fatal(self, task, message):
        job = task.job
        if task.state == 'running':
            # Disco counts the FATAL as a failure and the task as waiting again, like the
            # job's other tasks once it is killed (captures pipeline_*_jobinfo)
            _recount(job, task, RUNNING, WAITING)
            job.counts[task.stage][FAILED] += 1
            job.running.discard(task)
            node = self._stopped(task)
            if node is not None:
                node.stats['error'] += 1
        task.state = 'failed'
        self.stats['error'] += 1
        job.events.add('master', 'FATAL: [%s] %s' % (task.name, message))
        job.reason = job.reason or ['FATAL: [%s] %s' % (task.name, message)]
        self._end_job(job, 'dead', 'WARN: Job killed')

    # ------------------------------------------------------------------ ending jobs

    def _end_job(self, job, status, message, results=None):
        if job.status != 'active':
            return
        self._stop_tasks(job)
        self.pool.release_job(job.name)  # fresh processes for the next job
        job.events.add('master', message)
        job.status = status
        job.finished = time.time()
        if status == 'ready':
            job.results = results or []
        job.events.close()
        save_state(self.storage, job)  # what a restarted master reloads
        self.active.pop(job.name, None)
        job.remember_tasks()
        job.tasks = []  # task records are not needed once the job has ended
        job.index_entries = {}
        job.ready.clear()
        job.delayed = []
        self.changed.notify_all()
        self._announce(job)

    def _stop_tasks(self, job):
        """Kill the job's running tasks (SIGKILL: works on a task that never returns)."""
        for task in list(job.running):
            _recount(job, task, RUNNING, WAITING)
            self._stopped(task)
            task.state = 'waiting'
            slot = task.slot
            task.slot = None
            if slot is not None:
                if slot.task is task:
                    self.pool.retire(slot)
            else:
                self.master.stop_external(task)
        job.running.clear()
        for task in list(job.queued):  # sent behind a task of the job: never to run
            slot = task.slot
            if slot is not None and not slot.retired:
                self.pool.retire(slot)
            self._unqueue(task)
        self.wake()

    # ------------------------------------------------------------------ nodes

    def set_config(self, table):
        """Replace the nodes and their slots with a config table ``[[host, slots]]``."""
        with self.lock:
            self.nodes.set_config(table)
            self.pool.size = self.nodes.capacity()
            if self.master.external is not None:
                self.master.external.capacity = self.pool.size
        self.wake()

    def set_failing(self, host, failing=True):
        """Make every task started on node ``host`` fail (or stop doing so)."""
        with self.lock:
            self.nodes.set_failing(host, failing)
        self.wake()

    def kill(self, name):
        """End the named job as dead if it is active (an unknown name is ignored, as on Disco)."""
        with self.lock:
            job = self.jobs.get(names.lookup(name))
            if job is not None and job.status == 'active':
                self._end_job(job, 'dead', 'WARN: Job killed')
        self.wake()

    def forget(self, name, purge):
        """Kill the job and drop its record and events; ``purge`` also deletes its data.

        A name the master does not know is ignored (as on Disco), except that ``purge``
        deletes the data of a job ``clean`` dropped earlier (kept in ``self.cleaned``).
        """
        name = names.lookup(name)
        if name is None:
            return
        pids = []
        with self.lock:
            job = self.jobs.pop(name, None)
            if job is not None and job.status == 'active':
                pids = [t.slot.keeper_pid for t in job.running if t.slot is not None]
                self._end_job(job, 'dead', 'WARN: Job killed')
            if job is not None:
                job.events.close()
                if not purge:
                    self.cleaned.add(job.name)
            elif purge and name in self.cleaned:
                job = name
            if purge:
                self.cleaned.discard(name)
        self.wake()
        if job is None:
            return
        if purge:  # a SIGKILLed task may still write (outputs, OOB) until it is really gone
            _wait_dead(pids, 5)
        self.storage.remove_job(job, data=purge)

    # ------------------------------------------------------------------ queries

    def wait_any(self, jobnames, timeout):
        """Block until any of the named active jobs ends, or ``timeout`` seconds pass."""
        deadline = time.time() + timeout
        with self.lock:
            start = {n: self.jobs[n].status for n in jobnames if n in self.jobs}
            while any(s == 'active' for s in start.values()):
                if any(self.jobs.get(n) is None or self.jobs[n].status != s
                       for n, s in start.items() if s == 'active'):
                    return
                left = deadline - time.time()
                if left <= 0:
                    return
                self.changed.wait(left)


def _task_fields(task):
    return {'taskid': task.taskid, 'stage': task.stage, 'grouping': task.grouping,
            'group': [task.group[0], task.node if task.group[1] is None else task.group[1]]}


def _elsewhere(task, host, nodes):
    """True when ``task``'s data is on nodes of this master other than ``host``."""
    local = [h for h in task.hosts if nodes.get(h) is not None]
    return bool(local) and host not in local


def _local_hosts(group_host, task_inputs, nodes):
    """Where a task's data is: its group's host, then its inputs' hosts, most inputs first;
    only hosts that are nodes of this master (``raw://2`` names no node)."""
    if len(task_inputs) == 1:  # most tasks: no Counter
        urls = task_inputs[0][1]
        hosts = [groupings.host_of(urls[0])] if urls else []
    else:
        counts = collections.Counter(groupings.host_of(urls[0]) for _label, urls in task_inputs
                                     if urls)
        hosts = [h for h, _n in counts.most_common()]
    local = [group_host] if group_host else []
    local.extend(h for h in hosts if h and h != group_host and nodes.get(h) is not None)
    return local or ()


def _wait_dead(pids, timeout):
    """Wait (without reaping: the scheduler thread does that) until every pid has exited."""
    deadline = time.time() + timeout
    for pid in pids:
        while time.time() < deadline:
            try:
                with open('/proc/%d/stat' % pid) as f:
                    if f.read().rsplit(')', 1)[1].split()[0] in ('Z', 'X'):
                        break
            except (OSError, IndexError):
                break  # gone (or no /proc)
            time.sleep(0.005)


def _secs(delay):
    return ('%.2f' % delay).rstrip('0').rstrip('.') or '0'
