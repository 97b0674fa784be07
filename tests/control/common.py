"""Helpers for the job control tests: job functions, slow jobs, process checks.

Everything here uses only the public client API, so the suite also runs against a
``discolite master`` subprocess over HTTP (``DISCOLITE_TEST_MASTER=http``).
"""
import os
import time

import pytest

from discolite import Job, result_iterator
from discolite.error import CommError

POLL = 0.05
HTTP = os.environ.get('DISCOLITE_TEST_MASTER', 'local') == 'http'
only_local = pytest.mark.skipif(HTTP, reason="inspects the in-process master's internals")


def words_map(line, params):
    for word in line.split():
        yield word, 1


def count_reduce(iter, params):
    counts = {}
    for k, v in iter:
        counts[k] = counts.get(k, 0) + v
    return sorted(counts.items())


def gated_map(line, params):
    """Tell the test this task runs (pid file), then wait until the test opens the gate."""
    import os
    import time
    with open(os.path.join(params['dir'], 'pid-%s-%d' % (line, os.getpid())), 'w') as f:
        f.write(str(os.getpid()))
    deadline = time.time() + params.get('limit', 60)
    while not os.path.exists(os.path.join(params['dir'], 'go')) and time.time() < deadline:
        time.sleep(0.02)
    open(os.path.join(params['dir'], 'after-%s-%d' % (line, os.getpid())), 'w').close()
    yield line, 1


def run_words(disco, inputs=('raw://alpha beta', 'raw://beta gamma'), **jobargs):
    jobargs.setdefault('map', words_map)
    jobargs.setdefault('reduce', count_reduce)
    return Job(master=disco).run(input=list(inputs), **jobargs)


def records(disco, job):
    return sorted(result_iterator(job.wait(poll_interval=POLL), ddfs=disco.master))


def until(predicate, timeout=30, interval=0.02, what='condition'):
    """Poll ``predicate`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError('timed out waiting for %s' % what)
        time.sleep(interval)


def pid_alive(pid):
    """True while ``pid`` is a live (non-zombie) process."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            state = f.read().rsplit(')', 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ('Z', 'X')


class Gate(object):
    """A slow job whose map tasks block until ``open()``; killed at teardown if still active."""

    def __init__(self, disco, tmp_path, inputs=('raw://one',), **jobargs):
        self.disco = disco
        self.dir = str(tmp_path)
        params = {'dir': self.dir}
        params.update(jobargs.pop('params', {}))
        jobargs.setdefault('map', gated_map)
        self.job = Job(master=disco).run(input=list(inputs), params=params, **jobargs)

    @property
    def name(self):
        return self.job.name

    def pids(self):
        return sorted(int(n.rsplit('-', 1)[1]) for n in os.listdir(self.dir)
                      if n.startswith('pid-'))

    def finished_maps(self):
        return [n for n in os.listdir(self.dir) if n.startswith('after-')]

    def wait_running(self, n=1):
        return until(lambda: len(self.pids()) >= n and self.pids(), what='%d running tasks' % n)

    def open(self):
        open(os.path.join(self.dir, 'go'), 'w').close()

    def close(self):
        self.open()
        try:
            if self.disco.results(self.name, timeout=0)[0] == 'active':
                self.disco.kill(self.name)
        except CommError:
            pass


def messages(disco, name):
    return [event[2] for _offset, event in disco.events(name)]
