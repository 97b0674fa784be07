"""The tiny job inline (``DISCOLITE_INLINE=1``) and in the pool: ``python benchmarks/inline.py``.

The tiny job: 3 ``raw://`` inputs, map + reduce, results read, end to end from
``Job().run()`` to the last record.  Prints the median and p95 wall time and the
median CPU time of the calling process (the inline master does all its work there),
inline and pooled, measured in the same run.  Target: inline median <= 0.5 ms.

The data directory matters as much as the code (each job writes a job home, partition
files, index files and an event log): by default it is a fresh directory on
``/dev/shm`` when that exists (``--data DIR`` to choose).
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from discolite import Job, result_iterator  # noqa: E402
from discolite.master import Master  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dispatch import tiny_map, tiny_reduce  # noqa: E402  (the same job as dispatch.py's)

INPUTS = ['raw://a b', 'raw://b c', 'raw://c d']
EXPECTED = [('a', 1), ('b', 2), ('c', 2), ('d', 1)]


def tiny_job(master):
    job = Job(master=master).run(input=INPUTS, map=tiny_map, reduce=tiny_reduce)
    records = sorted(result_iterator(job.wait(poll_interval=0.01)))
    assert records == EXPECTED, records
    return job


def measure(master, runs, purge=True):
    """``(wall seconds, cpu seconds)`` of each of ``runs`` tiny jobs (after 3 warm-ups)."""
    walls, cpus = [], []
    for i in range(runs + 3):
        wall, cpu = time.perf_counter(), time.process_time()
        job = tiny_job(master.url)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if i >= 3:
            walls.append(wall)
            cpus.append(cpu)
        if purge:
            job.purge()
    return walls, cpus


def p95(values):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]


def row(name, walls, cpus):
    print('%-28s %9.3f %9.3f %9.3f %9.3f' % (name, statistics.median(walls) * 1e3,
                                             p95(walls) * 1e3, min(walls) * 1e3,
                                             statistics.median(cpus) * 1e3))


def main(argv=None):
    parser = argparse.ArgumentParser(prog='benchmarks/inline.py', description=__doc__.split(
        '\n\n')[0])
    parser.add_argument('--runs', type=int, default=200, help='tiny jobs inline (default 200)')
    parser.add_argument('--pool-runs', type=int, default=30,
                        help='tiny jobs in the pool (default 30; 0 skips them)')
    parser.add_argument('--quick', action='store_true', help='50 inline and 10 pooled runs')
    parser.add_argument('--data', default=None, help='data directory (default: on /dev/shm)')
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.pool_runs = 50, 10
    base = args.data or ('/dev/shm' if os.path.isdir('/dev/shm') else None)
    root = tempfile.mkdtemp(prefix='discolite-inline-bench-', dir=base)
    try:
        print('tiny job (3 raw:// inputs, map + reduce, results read); data in %s' % root)
        print('%-28s %9s %9s %9s %9s' % ('', 'median ms', 'p95 ms', 'min ms', 'cpu ms'))
        with Master(DISCOLITE_INLINE='1', DISCOLITE_DATA=os.path.join(root, 'inline')) as m:
            walls, cpus = measure(m, args.runs)
            row('inline (%d runs)' % args.runs, walls, cpus)
            inline_median = statistics.median(walls)
        if args.pool_runs:
            with Master(DISCOLITE_DATA=os.path.join(root, 'pool')) as m:
                walls, cpus = measure(m, args.pool_runs)
                row('pool, %d workers (%d runs)' % (len(m.scheduler.pool.slots),
                                                    args.pool_runs), walls, cpus)
                print('pool / inline median: %.1fx' % (statistics.median(walls) /
                                                       inline_median))
        print('target: inline median <= 0.5 ms: %s'
              % ('met' if inline_median <= 0.0005 else 'NOT met'))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == '__main__':
    main()
