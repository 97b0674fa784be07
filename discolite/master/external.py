"""Running a job's own worker executable, as a Disco node does (spec section 9).

A job whose ``jobdict.worker`` is not discolite's in-pool classic worker (or
any job, with ``DISCOLITE_EXTERNAL_WORKERS``) runs each task as a process:

* the executable ``<job home>/<jobdict.worker>`` (its ``#!`` line picks the
  interpreter), in its own process group, with the job home as working
  directory, stdout merged into stderr, and the environment of the master
  minus every Disco setting name, plus the job's ``jobenvs``;
* one reader thread per process serves Disco's worker protocol on its
  stderr/stdin: frames ``<TYPE> SP <LEN> SP <JSON>\\n`` for WORKER, TASK,
  INPUT (``""``, ``["exclude", ids]``, ``["include", ids]``), INPUT_ERR
  (``RETRY``/``FAIL``), MSG (throttled like the pool), OUTPUT, PING, DONE,
  ERROR and FATAL;
* the reader reports to the scheduler (``scheduler.handle``) under the
  scheduler lock, exactly like messages from the pool.  A worker that exits
  without DONE, writes a garbled frame, or stays silent too long is a
  recoverable failure ("Worker crashed!"): the task is retried.  DONE, ERROR
  and FATAL get no reply: the process group is killed, as Disco does.

Only this module starts and kills these processes (``stop`` kills the whole
process group, ``close`` all of them), and on Linux they also get SIGKILL
if the thread that started them goes away.
"""
import json
import os
import re
import select
import signal
import subprocess
import threading
import time

from discolite.master.storage import inside
from discolite.settings import DiscoSettings

MAX_PAYLOAD = 100 * 1024 * 1024
MAX_TYPE = 10
MAX_LEN_DIGITS = 12
_TYPE = re.compile(rb'^[A-Z][A-Z_]{0,9}$')
DISCO_NAMES = frozenset(DiscoSettings.defaults) | {'DISCO_SETTINGS_FILE'}

try:  # loaded before any fork: the child only makes one libc call
    import ctypes
    _libc = ctypes.CDLL(None, use_errno=True)
except Exception:  # pragma: no cover - not Linux
    _libc = None


def _child_setup():
    if _libc is not None:
        try:
            _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except Exception:
            pass


class ProtocolError(Exception):
    """The worker broke the framing or sent a message that makes no sense."""


class WorkerExited(Exception):
    """The worker closed its end (it exited, or closed stderr)."""


def encode(type, payload):
    body = json.dumps(payload).encode('utf-8')
    return b'%s %d %s\n' % (type.encode('ascii'), len(body), body)


class FrameReader(object):
    """Reads worker frames from a file descriptor, with timeouts (no blocking forever)."""

    def __init__(self, fd):
        self.fd = fd
        self.buf = bytearray()

    def _fill(self, deadline):
        if deadline is not None:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError()
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                raise TimeoutError()
        data = os.read(self.fd, 65536)
        if not data:
            raise WorkerExited()
        self.buf += data

    def read(self, first_timeout=None, frame_timeout=30.0):
        """One ``(type, payload)``. ``first_timeout`` bounds the wait for the frame to begin,
        ``frame_timeout`` the time for a begun frame to complete."""
        deadline = None if first_timeout is None else time.time() + first_timeout
        while not self.buf:
            try:
                self._fill(deadline)
            except TimeoutError:
                raise ProtocolError('no message from the worker in %ss' % first_timeout)
        deadline = time.time() + frame_timeout
        try:
            return self._parse(deadline)
        except TimeoutError:
            raise ProtocolError('incomplete message after %ss: %r'
                                % (frame_timeout, bytes(self.buf[:80])))

    def _word(self, start, maxlen, what, deadline):
        while True:
            end = self.buf.find(b' ', start, start + maxlen + 1)
            if end >= 0:
                return end
            if len(self.buf) - start > maxlen:
                raise ProtocolError('invalid message %s: %r'
                                    % (what, bytes(self.buf[start:start + maxlen + 1])))
            self._fill(deadline)

    def _parse(self, deadline):
        end = self._word(0, MAX_TYPE, 'type', deadline)
        mtype = bytes(self.buf[:end])
        if not _TYPE.match(mtype):
            raise ProtocolError('invalid message type: %r' % mtype)
        lend = self._word(end + 1, MAX_LEN_DIGITS, 'length', deadline)
        head = bytes(self.buf[end + 1:lend])
        if not head.isdigit():
            raise ProtocolError('invalid message length: %r' % head)
        length = int(head)
        if length > MAX_PAYLOAD:
            raise ProtocolError('message too large: %d bytes' % length)
        start = lend + 1
        while len(self.buf) < start + length + 1:
            self._fill(deadline)
        body = bytes(self.buf[start:start + length])
        if self.buf[start + length:start + length + 1] != b'\n':
            raise ProtocolError('message of type %s is not terminated by a newline'
                                % mtype.decode())
        del self.buf[:start + length + 1]
        try:
            return mtype.decode('ascii'), json.loads(body.decode('utf-8'))
        except ValueError as e:
            raise ProtocolError('invalid JSON payload in %s message: %s' % (mtype.decode(), e))


def worker_env(jobenvs, disco_port=None):
    """The master's environment minus every Disco setting name, plus ``DISCO_PORT`` (the
    master's port: a Disco worker reads result and shuffle URLs at it) and the job's jobenvs."""
    env = {k: v for k, v in os.environ.items() if k not in DISCO_NAMES}
    if disco_port:
        env['DISCO_PORT'] = str(disco_port)
    if isinstance(jobenvs, dict):
        for key, value in jobenvs.items():
            if isinstance(key, str) and key and '=' not in key and '\0' not in key:
                env[key] = value if isinstance(value, str) else json.dumps(value)
    return env


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _text(payload):
    """A message payload as event text: a string as it is, anything else as its JSON."""
    return payload if isinstance(payload, str) else json.dumps(payload)


def _invalid(mtype, payload):
    return ProtocolError('invalid %s payload: %s' % (mtype, json.dumps(payload)[:200]))


class ExternalRunner(object):
    """Starts, serves and stops the worker processes of external-worker tasks."""

    HELLO_TIMEOUT = 30.0   # the worker must say WORKER within this
    FRAME_TIMEOUT = 30.0   # a begun message must complete within this

    def __init__(self, master):
        self.master = master
        self.scheduler = master.scheduler
        self.runs = {}        # TaskRecord -> _Run; guarded by scheduler.lock
        self.replica_failures = {}  # (job name, taskid, input id, rep id) -> last failure time
        self.closed = False
        try:
            self.capacity = max(1, int(self.scheduler.pool.size))
        except Exception:
            self.capacity = os.cpu_count() or 1

    def free(self):
        """True when another worker process may start (called under the scheduler lock)."""
        return not self.closed and len(self.runs) < self.capacity

    def start(self, job, task):
        """Start ``task`` of ``job`` (called by the scheduler, under its lock)."""
        sched = self.scheduler
        with sched.lock:
            sched.task_started(job, task)
            if self.closed:
                sched.task_failed(task, 'WARNING: [%s] Worker crashed! (the master is '
                                        'shutting down)' % task.name, crashed=True)
                return
            run = _Run(self, job, task, sched.task_payload(job, task))
            self.runs[task] = run
        run.thread.start()

    def stop(self, task):
        """Kill the worker of ``task`` (its whole process group); no report is made."""
        with self.scheduler.lock:
            run = self.runs.pop(task, None)
        if run is not None:
            run.kill()

    def close(self):
        with self.scheduler.lock:
            self.closed = True
            runs = list(self.runs.values())
            self.runs.clear()
        for run in runs:
            run.kill()
        for run in runs:
            if run.thread is not threading.current_thread():
                run.thread.join(5)

    def running(self):
        with self.scheduler.lock:
            return [(task, run.pid) for task, run in self.runs.items()]


class _Run(object):
    """One worker process and the thread that speaks the protocol with it."""

    def __init__(self, runner, job, task, payload):
        self.runner = runner
        self.scheduler = runner.scheduler
        self.job = job
        self.task = task
        self.payload = payload
        self.proc = None
        self.pid = None
        self.reaped = False
        self.killed = False
        self.lock = threading.Lock()
        self.failed = set()   # (input id, rep id) that failed in this run
        self.thread = threading.Thread(target=self._main, daemon=True,
                                       name='discolite-external-%s' % task.name)

    # ------------------------------------------------------------------ process

    def _spawn(self):
        job = self.job
        home = self.task.jobhome or job.jobhome  # the job home on the task's node
        worker = os.path.join(home, job.jobdict['worker'])
        if not inside(worker, home):  # checked at submission; a task may have moved it
            raise OSError('worker %r is outside the job home' % job.jobdict['worker'])
        r, w = os.pipe()
        try:
            with self.lock:
                if self.killed:
                    return None
                self.proc = subprocess.Popen(
                    [worker], cwd=home,
                    env=worker_env(job.pack.jobenvs, self.payload.get('disco_port')),
                    stdin=subprocess.PIPE, stdout=w, stderr=w, close_fds=True,
                    start_new_session=True, preexec_fn=_child_setup)
                self.pid = self.proc.pid
        finally:
            os.close(w)
        return r

    def kill(self):
        """SIGKILL the process group (safe: the leader is not reaped while we hold the lock)."""
        with self.lock:
            self.killed = True
            self._killpg()

    def _killpg(self):
        if self.proc is not None and not self.reaped:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def _reap(self):
        """Kill what is left of the process group and wait for the worker; its exit code."""
        with self.lock:
            if self.proc is None:
                return None
            if not self.reaped:
                self._killpg()  # a zombie leader keeps the group id: this cannot hit others
                self.proc.wait()
                self.reaped = True
            try:
                self.proc.stdin.close()
            except Exception:
                pass
            return self.proc.returncode

    # ------------------------------------------------------------------ reporting

    def _current(self):
        task = self.task
        return (self.runner.runs.get(task) is self and task.state == 'running'
                and self.job.status == 'active')

    def _report(self, mtype, payload, final=False):
        """Apply one message under the scheduler lock; False when this run no longer counts."""
        with self.scheduler.lock:
            if not self._current():
                return False
            if final:
                self.runner.runs.pop(self.task, None)
            self.scheduler.handle(self.task, mtype, payload)
            if not final and not self._current():  # e.g. MSG throttling killed the job
                self.runner.runs.pop(self.task, None)
                return False
            return True

    def _crashed(self, why):
        with self.scheduler.lock:
            if not self._current():
                return
            self.runner.runs.pop(self.task, None)
            self.scheduler.task_failed(self.task, 'WARNING: [%s] Worker crashed! (%s)'
                                       % (self.task.name, why), crashed=True)

    # ------------------------------------------------------------------ protocol

    def _main(self):
        fd = None
        why = None
        try:
            try:
                fd = self._spawn()
            except Exception as e:
                why = 'cannot start the worker: %s' % e
            if fd is not None:
                why = self._serve(FrameReader(fd))
        except Exception as e:  # never leave a task running because of a master bug
            why = 'discolite master error: %s: %s' % (type(e).__name__, e)
        finally:
            if fd is not None:
                os.close(fd)
            code = self._reap()
            if why is not None:
                if code is not None and why == 'exit':
                    why = 'exit code: %s' % code
                elif code is not None:
                    why = '%s; exit code: %s' % (why, code)
                self._crashed(why)
            self.scheduler.wake()

    def _reply(self, mtype, payload):
        try:
            self.proc.stdin.write(encode(mtype, payload))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            raise WorkerExited()

    def _serve(self, reader):
        """Speak the protocol until the worker ends. Returns None (ended properly or not ours
        any more) or the reason of a crash."""
        runner = self.runner
        try:
            mtype, payload = reader.read(runner.HELLO_TIMEOUT, runner.FRAME_TIMEOUT)
            if mtype != 'WORKER':
                raise ProtocolError('first message must be WORKER, not %s' % mtype)
            if not isinstance(payload, dict) or not _is_int(payload.get('pid')):
                raise _invalid('WORKER', payload)
            if payload.get('version') != '1.1':
                self._report('FATAL', 'Worker protocol version %s is not supported (1.1 '
                                      'expected)' % json.dumps(payload.get('version')),
                             final=True)
                return None
            self._reply('OK', 'ok')
            while True:
                if self.killed:
                    return None
                mtype, payload = reader.read(None, runner.FRAME_TIMEOUT)
                if self.killed:
                    return None
                handler = getattr(self, '_on_' + mtype, None)
                if handler is None:
                    raise ProtocolError('unknown message type %s' % mtype)
                if handler(payload) is False:
                    return None
        except WorkerExited:
            return None if self.killed else 'exit'
        except ProtocolError as e:
            return None if self.killed else 'protocol error: %s' % e

    # each handler returns False when the session is over

    def _on_WORKER(self, payload):
        raise ProtocolError('WORKER sent twice')

    def _on_TASK(self, payload):
        self._reply('TASK', self.payload)

    def _on_PING(self, payload):
        self._reply('OK', 'pong')

    def _on_MSG(self, payload):
        if not self._report('MSG', _text(payload)):
            return False
        self._reply('OK', 'ok')

    def _on_OUTPUT(self, payload):
        if not (isinstance(payload, list) and len(payload) == 3 and _is_int(payload[0])
                and isinstance(payload[1], str) and _is_int(payload[2]) and payload[2] >= 0):
            raise _invalid('OUTPUT', payload)
        label, path, size = payload
        problem = self._output_problem(path)
        if problem:
            self._report('FATAL', 'invalid_output: %s' % problem, final=True)
            return False
        if not self._report('OUTPUT', [label, path, size]):
            return False
        self._reply('OK', 'ok')

    def _output_problem(self, path):
        if not path or '\n' in path or ' ' in path or '\0' in path:
            return 'output path %r is not a valid path' % path
        if '://' in path:
            return None  # a remote output: passed through as it is
        if os.path.isabs(path) or path.startswith('~'):
            return 'output path %r is absolute' % path
        if '..' in path.split('/'):
            return 'output path %r leaves the job home' % path
        home = self.task.jobhome or self.job.jobhome
        if not inside(os.path.join(home, path), home):
            return 'output path %r leaves the job home' % path
        return None

    def _on_DONE(self, payload):
        self._report('DONE', '', final=True)
        return False

    def _on_ERROR(self, payload):
        self._report('ERROR', _text(payload), final=True)
        return False

    def _on_FATAL(self, payload):
        self._report('FATAL', _text(payload), final=True)
        return False

    def _inputs(self):
        return [(iid, label, list(urls)) for iid, label, urls in self.task.inputs]

    def _replicas(self, iid, urls, skip=()):
        """``[[rep_id, url]]`` not failed in this run, never-failed ones first."""
        key = (self.job.name, self.task.taskid, iid)
        failures = self.runner.replica_failures
        reps = [(failures.get(key + (rid,), 0.0), rid, url) for rid, url in enumerate(urls)
                if (iid, rid) not in skip]
        reps.sort(key=lambda r: (r[0], r[1]))
        return [[rid, url] for _t, rid, url in reps]

    def _on_INPUT(self, payload):
        inputs = self._inputs()
        if payload in ('', None, []):
            chosen = inputs
        elif isinstance(payload, list) and len(payload) == 2 and \
                payload[0] in ('exclude', 'include') and isinstance(payload[1], list) and \
                all(_is_int(i) for i in payload[1]):
            ids = set(payload[1])
            if payload[0] == 'exclude':
                chosen = [i for i in inputs if i[0] not in ids]
            else:
                chosen = [i for i in inputs if i[0] in ids]
        else:
            raise _invalid('INPUT', payload)
        items = [[iid, 'ok', label, self._replicas(iid, urls, self.failed)]
                 for iid, label, urls in chosen]
        self._reply('INPUT', ['done', items])

    def _on_INPUT_ERR(self, payload):
        if not (isinstance(payload, list) and len(payload) == 2 and _is_int(payload[0])
                and isinstance(payload[1], list) and all(_is_int(r) for r in payload[1])):
            raise _invalid('INPUT_ERR', payload)
        iid, rids = payload
        urls = {i: u for i, _label, u in self._inputs()}.get(iid)
        if urls is None:
            raise ProtocolError('INPUT_ERR for unknown input %d' % iid)
        now = time.time()
        key = (self.job.name, self.task.taskid, iid)
        with self.scheduler.lock:
            for rid in rids:
                if 0 <= rid < len(urls):
                    self.failed.add((iid, rid))
                    self.runner.replica_failures[key + (rid,)] = now
        remaining = self._replicas(iid, urls, self.failed)
        if remaining:
            self._reply('RETRY', remaining)
        else:
            self._reply('FAIL', '')
