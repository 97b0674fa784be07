"""A master's data directory across restarts: the lock that keeps a second master out, and
reloading the jobs a previous master left there.

* ``lock(storage)`` takes ``<root>/master.lock`` (``flock``, released when the process
  ends, so a killed master leaves no stale lock) and writes its pid there; a second
  master on the same directory is refused with a message naming the first one's pid.
* When a job ends, ``save_state`` writes ``<master dir>/state.json`` next to its event
  log: status, results, stage results and counts, what ``jobinfo``/``get_results`` need.
* ``reload(scheduler)`` registers the jobs found on disk: finished jobs as they were,
  jobs that were still active as ``dead`` with the event ``master restarted`` (their
  tasks died with the old master), and jobs ``clean`` had dropped (data but no event
  log) as cleaned, so that ``purge`` still deletes them.
"""
import errno
import fcntl
import json
import os
import time

from discolite.error import DiscoError
from discolite.master import names
from discolite.master.storage import write_new_file

LOCK = 'master.lock'
STATE = 'state.json'


def lock(storage, wait=3.0):
    """Lock ``storage.root`` for this master; returns the open lock file (keep it)."""
    path = os.path.join(storage.root, LOCK)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.time() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as e:
            busy = e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
            # pool processes forked from a master that was just killed share its lock
            # until its watchdog has killed them too: give them a moment
            if busy and time.time() < deadline:
                time.sleep(0.1)
                continue
            try:
                other = os.read(fd, 64).decode('ascii', 'replace').strip() or '?'
            finally:
                os.close(fd)
            if busy:
                raise DiscoError('data directory %s is in use by another discolite master '
                                 '(pid %s); stop it or use another data directory'
                                 % (storage.root, other))
            raise
    os.ftruncate(fd, 0)
    os.write(fd, b'%d\n' % os.getpid())
    return fd


def unlock(fd):
    try:
        os.close(fd)
    except OSError:
        pass


def save_state(storage, job):
    """Record how ``job`` ended (best effort: a full disk must not stop the job ending)."""
    state = {'status': job.status, 'results': job.results, 'start': job.start,
             'finished': job.finished, 'stage_results': job.stage_results,
             'counts': job.counts}
    try:
        directory = storage.master_dir(job)
        tmp = os.path.join(directory, STATE + '.partial')
        text = json.dumps(state)  # the bytes json.dump writes, without its Python loop
        write_new_file(tmp, text.encode('ascii'))  # ensure_ascii: always ASCII
        os.replace(tmp, os.path.join(directory, STATE))
    except (OSError, ValueError, TypeError):
        pass


def _dirs(base):
    """Job directories ``<base>/<hh>/<job>`` with a valid job name: {name: path}."""
    found = {}
    try:
        buckets = os.listdir(base)
    except OSError:
        return found
    for hh in buckets:
        try:
            entries = os.listdir(os.path.join(base, hh))
        except OSError:
            continue
        for entry in entries:
            name = names.lookup(entry)
            if name is not None:
                found[name] = os.path.join(base, hh, entry)
    return found


def reload(scheduler):
    """Register the jobs a previous master left in the data dir; returns
    ``(finished, interrupted, cleaned)`` counts."""
    from discolite.master import jobpack as jp
    from discolite.master.events import EventLog
    from discolite.master.jobs import JobRecord
    storage = scheduler.storage
    homes = _dirs(os.path.join(storage.disco_data, storage.host))
    logs = _dirs(storage.master_root)
    loaded = []
    finished = interrupted = 0
    for name, home in homes.items():
        if name not in logs:
            scheduler.cleaned.add(name)
            continue
        try:
            with open(os.path.join(home, 'jobfile'), 'rb') as f:
                pack = jp.parse(f.read())
        except (OSError, jp.JobPackError):
            continue
        jobdict = pack.jobdict
        in_pool = isinstance(jobdict.get('worker'), str) and \
            jobdict['worker'].startswith('lib/discolite/')
        try:
            pipeline = jp.pipeline(pack.version, jobdict)
            inputs = jp.job_inputs(pack.version, jobdict)
        except (KeyError, TypeError, IndexError):
            continue
        pack.jobhome = pack.jobdata = None
        job = JobRecord(name, pack, os.path.join(home, 'jobfile'), home, pipeline, inputs,
                        in_pool)
        state = {}
        try:
            with open(os.path.join(logs[name], STATE)) as f:
                state = json.load(f)
        except (OSError, ValueError):
            pass
        job.events = EventLog(os.path.join(logs[name], 'events'))
        job.start = state.get('start') or os.path.getmtime(os.path.join(home, 'jobfile'))
        from discolite.master.events import timestamp
        job.timestamp = timestamp(job.start)
        if state.get('status') in ('ready', 'dead'):
            job.status = state['status']
            job.results = state.get('results') or []
            job.stage_results = state.get('stage_results') or {}
            for stage, counts in (state.get('counts') or {}).items():
                if stage in job.counts and isinstance(counts, list) and len(counts) == 5:
                    job.counts[stage] = counts
            job.finished = state.get('finished')
            finished += 1
        else:
            job.events.add('master', 'master restarted')
            job.events.add('master', 'WARN: Job killed')
            job.status = 'dead'
            job.finished = time.time()
            interrupted += 1
            save_state(storage, job)
        job.events.close()
        loaded.append(job)
    with scheduler.lock:
        for job in sorted(loaded, key=lambda j: j.start):
            scheduler.seq += 1
            job.seq = scheduler.seq
            scheduler.jobs[job.name] = job
    return finished, interrupted, len(scheduler.cleaned)
