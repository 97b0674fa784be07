"""Helpers for the reliability tests: events, pool processes, /proc inspection."""
import os
import time

from discolite import Disco
from discolite.job import Job


def tiny_map(entry, params):
    yield entry, 1


def assert_healthy(master, timeout=60):
    """A tiny job on ``master`` completes (the master survived whatever came before)."""
    from discolite.core import result_iterator
    job = Job(master=Disco(master.url)).run(input=['raw://ok'], map=tiny_map)
    results = job.wait(timeout=timeout)
    assert list(result_iterator(results)) == [(b'ok', 1)] or \
        list(result_iterator(results)) == [('ok', 1)]
    job.purge()


def messages(job):
    """The job's event messages, in order."""
    return [event[2] for _offset, event in job.events()]


def status(job):
    return job.jobinfo()['active']


def wait_dead(job, timeout=60):
    """Wait until the job is no longer active; return its status."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        st, _ = job.results(timeout=200)
        if st != 'active':
            return st
    raise AssertionError('job %s still active after %s s' % (job.name, timeout))


def wait_for(predicate, timeout=10, interval=0.01):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError('condition not met within %s s' % timeout)


def pool_pids(master):
    """PIDs of the pool's working processes (a retired slot is being killed: left out)."""
    with master.scheduler.lock:
        return [s.pid for s in master.scheduler.pool.slots if not s.retired]


def read_status(pid):
    """``/proc/<pid>/status`` as a dict of strings (empty if the process is gone)."""
    try:
        with open('/proc/%d/status' % pid) as f:
            return dict(line.rstrip('\n').split(':\t', 1) for line in f if ':\t' in line)
    except OSError:
        return {}


def rss_kb(pid, field='VmHWM'):
    value = read_status(pid).get(field, '0 kB')
    return int(value.split()[0])


def descendants(pid):
    """PIDs of all living descendants of ``pid`` (zombies excluded)."""
    children = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        st = read_status(int(entry))
        if not st or st.get('State', '').startswith('Z'):
            continue
        children.setdefault(int(st.get('PPid', 0)), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def processes_matching(text):
    """PIDs of living processes whose name or command line contains ``text``."""
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as f:
                cmdline = f.read().replace(b'\0', b' ').decode('utf-8', 'replace')
            with open('/proc/%s/comm' % entry) as f:
                comm = f.read()
        except OSError:
            continue
        st = read_status(int(entry))
        if st.get('State', '').startswith('Z'):
            continue
        if text in cmdline or text in comm:
            found.append(int(entry))
    return found


def open_fds():
    return len(os.listdir('/proc/self/fd'))
