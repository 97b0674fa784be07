"""Stress run for the in-process master: ``python benchmarks/stress.py`` (``--quick`` for a short run).

Prints, from one run:
* jobs completed and tasks retried over N small jobs (every 10th job has a task
  that fails once with a DataError and is retried),
* open file descriptors, threads and RSS of this process before and after,
* orphan worker processes left after the master is closed (must be 0),
* the peak RSS of every process for word count over 100 MB and 1 GB inputs
  (it should stay roughly flat as the input grows).
"""
import argparse
import os
import resource
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from discolite import Disco, Job, result_iterator  # noqa: E402
from discolite.master import Master  # noqa: E402

import run as bench  # noqa: E402


def flaky_map(line, params):
    import os
    from discolite.error import DataError
    if line.startswith('flaky:'):
        marker = line.split(':', 1)[1]
        if not os.path.exists(marker):
            open(marker, 'w').close()
            raise DataError("transient failure (first attempt)", 'raw://' + line)
    for word in line.split():
        yield word, 1


def count_reduce(iter, params):
    counts = {}
    for k, v in iter:
        counts[k] = counts.get(k, 0) + v
    return counts.items()


def rss():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) * 1024
    return 0


def snapshot():
    return {'fds': len(os.listdir('/proc/self/fd')), 'threads': threading.active_count(),
            'rss_mb': rss() / 2 ** 20}


def alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split()[2] != 'Z'
    except OSError:
        return False


def stress_jobs(n):
    print('== %d small jobs, one after another, in one process' % n)
    tmp = tempfile.mkdtemp(prefix='discolite-stress-')
    master = Master(DISCOLITE_WORKERS=2, DISCOLITE_RETRY_DELAY=0.001)
    disco = Disco(master.url)
    warm = Job(master=disco).run(input=['raw://warm up'], map=flaky_map, reduce=count_reduce)
    warm.wait(poll_interval=0.01)
    disco.purge(warm.name)
    before = snapshot()
    completed = retried = 0
    start = time.perf_counter()
    for i in range(n):
        inputs = ['raw://a b', 'raw://b c']
        if i % 10 == 0:
            inputs.append('raw://flaky:%s' % os.path.join(tmp, 'marker-%d' % i))
        job = Job(master=disco).run(input=inputs, map=flaky_map, reduce=count_reduce)
        results = dict(result_iterator(job.wait(poll_interval=0.01)))
        assert results['b'] == 2, results
        retried += sum(1 for _, (_, _, msg) in disco.events(job.name)
                       if 'failures so far' in msg)
        disco.purge(job.name)
        completed += 1
    elapsed = time.perf_counter() - start
    after = snapshot()
    pids = [slot.pid for slot in master.scheduler.pool.slots]
    master.close()
    time.sleep(0.2)
    orphans = [pid for pid in pids if alive(pid)]
    print('jobs completed: %d in %.1f s (%.1f ms/job)' % (completed, elapsed, elapsed / n * 1e3))
    print('tasks retried: %d' % retried)
    print('open fds:  before %d, after %d' % (before['fds'], after['fds']))
    print('threads:   before %d, after %d' % (before['threads'], after['threads']))
    print('RSS:       before %.1f MB, after %.1f MB' % (before['rss_mb'], after['rss_mb']))
    print('orphan worker processes after close: %d' % len(orphans))
    return orphans


def peak_rss(megabytes):
    with tempfile.TemporaryDirectory(prefix='discolite-stress-') as tmp:
        paths = bench.make_corpus(tmp, megabytes, files=8, seed=5)
        with Master(DISCOLITE_WORKERS=2, DISCOLITE_DATA=os.path.join(tmp, 'data')) as m:
            disco = Disco(m.url)
            start = time.perf_counter()
            job = Job(master=disco).run(input=paths, map=bench.wc_map,
                                        combiner=bench.wc_combiner, reduce=bench.wc_reduce)
            words = sum(v for _, v in result_iterator(job.wait(poll_interval=0.1)))
            elapsed = time.perf_counter() - start
            workers = max(bench.vm_hwm(s.pid) for s in m.scheduler.pool.slots)
    master = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print('  %5d MB input: %d words in %.1f s; peak RSS worker %.1f MB, master/client %.1f MB'
          % (megabytes, words, elapsed, workers / 2 ** 20, master / 2 ** 20))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--quick', action='store_true')
    p.add_argument('--jobs', type=int, default=None)
    p.add_argument('--sizes', default=None, help='comma-separated input sizes in MB')
    args = p.parse_args(argv)
    jobs = args.jobs or (100 if args.quick else 1000)
    sizes = [int(s) for s in (args.sizes or ('10,50' if args.quick else '100,1024')).split(',')]
    orphans = stress_jobs(jobs)
    print('== peak RSS as the input grows (word count, map + combiner + reduce)')
    for size in sizes:
        peak_rss(size)
    return 1 if orphans else 0


if __name__ == '__main__':
    sys.exit(main())
