"""Dispatch benchmarks: ``python benchmarks/dispatch.py`` (``--quick`` for a short run).

Prints, from one run on one machine:

1. The tiny job (3 ``raw://`` inputs, map + reduce, results read, then purged):
   median and p95 through the in-process pool and over HTTP to ``discolite master``
   on loopback.  Each job gets fresh pool processes (a process never serves two
   jobs), so these figures include the per-job process replacement.
   Then what process replacement costs: a fresh worker's fork, warm-up task and exit,
   in CPU and page faults (a job gets fresh workers; short stages run on one).
2. Map tasks per second of a map-only job of 10,000 and 50,000 ``raw://`` inputs on
   2 workers (submission to results), with the CPU-seconds of the whole process tree.
3. The peak RSS of the pool processes while they run 1,000 and 50,000 tasks of one job.
4. CPU-seconds per tiny job and per map task of the whole process tree (master,
   keepers, workers): the figure that stays stable on a busy machine.

Targets (issue 13): tiny job median <= 5 ms, p95 <= 10 ms (pool), median <= 7 ms
(HTTP); >= 2,000 tasks/s; pool process RSS flat from 1,000 to 50,000 tasks.
"""
import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from discolite import Disco, Job, result_iterator  # noqa: E402
from discolite.master import Master  # noqa: E402

TINY_INPUTS = ['raw://hello world', 'raw://hello', 'raw://x']
TINY_RESULT = [('hello', 2), ('world', 1), ('x', 1)]


def tiny_map(line, params):
    for word in line.split():
        yield word, 1


def tiny_reduce(iter, params):
    from discolite.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


def ident_map(line, params):
    yield line, 1


def _pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def _tiny_runs(disco, runs, warmup=5):
    times = []
    for i in range(runs + warmup):
        start = time.perf_counter()
        job = Job(master=disco).run(input=TINY_INPUTS, map=tiny_map, reduce=tiny_reduce)
        results = list(result_iterator(job.wait(poll_interval=0.01)))
        elapsed = time.perf_counter() - start
        assert results == TINY_RESULT, results
        disco.purge(job.name)
        if i >= warmup:
            times.append(elapsed)
    return times


def _report_tiny(label, times, target):
    med, p95 = statistics.median(times), _pct(times, 0.95)
    print('%-5s median %5.2f ms  p95 %5.2f ms  min %5.2f ms  (%d runs; target: %s)'
          % (label, med * 1e3, p95 * 1e3, min(times) * 1e3, len(times), target))
    return med, p95


def bench_tiny_pool(runs, workers=2):
    with Master(DISCOLITE_WORKERS=workers) as m:
        return _report_tiny('pool', _tiny_runs(Disco(m.url), runs),
                            'median <= 5 ms, p95 <= 10 ms')


def start_http_master(workers=2):
    """``discolite master`` on 127.0.0.1 and a free port; returns (process, url)."""
    proc = subprocess.Popen([sys.executable, '-m', 'discolite', 'master', '--host', '127.0.0.1',
                             '--port', '0', '--workers', str(workers)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    match = re.search(r'http://[^ ]+:(\d+)', line)
    if not match:
        proc.kill()
        proc.wait()
        raise RuntimeError('discolite master did not start: %r' % line)
    return proc, 'http://127.0.0.1:%s' % match.group(1)


def bench_tiny_http(runs, workers=2):
    proc, url = start_http_master(workers)
    old = os.environ.get('DISCO_PORT')
    os.environ['DISCO_PORT'] = url.rsplit(':', 1)[1]  # result URLs resolve through it
    try:
        return _report_tiny('http', _tiny_runs(Disco(url), runs), 'median <= 7 ms')
    finally:
        if old is None:
            os.environ.pop('DISCO_PORT', None)
        else:
            os.environ['DISCO_PORT'] = old
        proc.terminate()
        proc.wait(10)


class RSSWatcher(object):
    """Samples the RSS of this process's pool processes (named discolite-worker) while it runs."""

    def __init__(self, interval=0.02):
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        while not self._stop.is_set():
            for pid in _pool_pids():
                self.peak = max(self.peak, _rss_kb(pid))
            self._stop.wait(self.interval)


def _pool_pids():
    """Pool processes below this process (forkserver children are its grandchildren)."""
    parent, names = {}, {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as f:
                stat = f.read()
        except OSError:
            continue
        names[int(entry)] = stat[stat.index('(') + 1:stat.rindex(')')]
        parent[int(entry)] = int(stat[stat.rindex(')') + 2:].split()[1])
    me = os.getpid()

    def below_me(pid):
        for _ in range(10):
            pid = parent.get(pid, 0)
            if pid == me:
                return True
            if pid <= 1:
                return False
        return False

    return [pid for pid, name in names.items()
            if name.startswith('discolite-work') and below_me(pid)]


def _rss_kb(pid):
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree_cpu():
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def bench_tasks(counts, workers=2):
    """Map-only jobs of ``n`` raw:// inputs: tasks/s and the pool processes' peak RSS."""
    out = {}
    with Master(DISCOLITE_WORKERS=workers) as m:
        disco = Disco(m.url)
        job = Job(master=disco).run(input=TINY_INPUTS, map=ident_map)  # warm up
        job.wait(poll_interval=0.01)
        disco.purge(job.name)
        for n in counts:
            inputs = ['raw://%d' % i for i in range(n)]
            with RSSWatcher() as rss:
                cpu = _tree_cpu()
                start = time.perf_counter()
                job = Job(master=disco).run(input=inputs, map=ident_map)
                results = job.wait(poll_interval=0.05)
                elapsed = time.perf_counter() - start
                cpu = _tree_cpu() - cpu
            count = sum(1 for _ in result_iterator(results))
            assert count == n, (count, n)
            disco.purge(job.name)
            print('%6d map tasks: %6.2f s  %6.0f tasks/s  cpu %.2f s  pool process peak RSS '
                  '%.1f MB  (target >= 2000 tasks/s)'
                  % (n, elapsed, n / elapsed, cpu, rss.peak / 1024.0))
            out[n] = (n / elapsed, rss.peak)
    return out


def _child_cpu(kind, n):
    """In a subprocess: run ``n`` tiny jobs (or one job of ``n`` map tasks), or time ``n``
    fresh workers."""
    if kind == 'fresh':
        return bench_fresh(n)
    with Master(DISCOLITE_WORKERS=2, DISCOLITE_START_METHOD='fork') as m:
        disco = Disco(m.url)
        if kind == 'tiny':
            if n:
                _tiny_runs(disco, n, warmup=0)
        elif n:
            job = Job(master=disco).run(input=['raw://%d' % i for i in range(n)], map=ident_map)
            job.wait(poll_interval=0.05)


def tree_cpu(kind, n):
    """CPU-seconds of a whole process tree (master, keepers, workers) doing ``kind`` x ``n``.

    Run in a subprocess with the fork start method, so every process is reaped by
    its parent and counted in the subprocess's RUSAGE_CHILDREN."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, os.path.abspath(__file__), '--child', kind, str(n)],
                   check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def bench_cpu(tiny_runs, tasks):
    """CPU per tiny job and per map task, whole process tree (the stable figure here)."""
    base = tree_cpu('tiny', 0)
    tiny = (tree_cpu('tiny', tiny_runs) - base) / tiny_runs
    per_task = (tree_cpu('tasks', tasks) - base) / tasks
    print('cpu   %.2f ms per tiny job, %.3f ms per map task (%d tasks), whole process tree '
          '(master, keepers, workers), process replacement included' % (tiny * 1e3,
                                                                       per_task * 1e3, tasks))
    return tiny, per_task


def bench_fresh(n):
    """What a fresh pool worker costs (process replacement: one per job, see pool.py).

    In a process set up as a keeper is (discolite preloaded, objects frozen), fork ``n``
    workers one after another: bare (fork and exit) and as the pool does (fork, run the
    warm-up task, exit).  CPU and page faults are those of both processes, per worker.
    """
    import gc
    import shutil
    import tempfile
    from discolite.master import pool
    from discolite.master.storage import temporary_parent
    pool._preload()
    root = tempfile.mkdtemp(prefix='discolite-bench-', dir=temporary_parent())
    os.makedirs(os.path.join(root, 'data'))
    warm = pool._warm_setup([('localhost', os.path.join(root, 'data'))])
    gc.collect()
    gc.freeze()

    def usage():
        a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return (a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime, a.ru_minflt + b.ru_minflt)

    try:
        for label, job in (('bare', None), ('warm-up', warm)):
            (cpu0, flt0), wall0 = usage(), time.perf_counter()
            for _ in range(n):
                pid = os.fork()
                if pid == 0:
                    if job is not None:
                        pool._warm_up(job)
                    os._exit(0)
                os.waitpid(pid, 0)
            (cpu1, flt1), wall1 = usage(), time.perf_counter()
            print('fresh worker (%s): %.2f ms wall, %.2f ms CPU, %d page faults per worker '
                  '(fork%s and exit; %d workers)'
                  % (label, (wall1 - wall0) / n * 1e3, (cpu1 - cpu0) / n * 1e3,
                     (flt1 - flt0) // n, ', warm-up task' if job else '', n))
    finally:
        gc.unfreeze()
        pool._warm_cleanup(warm)
        shutil.rmtree(root, ignore_errors=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--quick', action='store_true', help='fewer runs and tasks')
    p.add_argument('--runs', type=int, default=None, help='tiny-job runs (default 200)')
    p.add_argument('--only', choices=('tiny', 'fresh', 'http', 'tasks', 'cpu'),
                   action='append')
    p.add_argument('--tasks', type=int, action='append',
                   help='map tasks of one job to time (repeatable; default 1000 10000 50000)')
    p.add_argument('--data', default=None,
                   help='directory for the masters\' data directories (default: $TMPDIR); '
                        'file creation speed varies a lot between file systems (tmpfs: '
                        '/dev/shm), and a map task creates about five files and directories')
    p.add_argument('--child', nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.data:  # for this process, the HTTP master and the --child processes alike
        import tempfile
        os.environ['TMPDIR'] = tempfile.tempdir = os.path.abspath(args.data)
    if args.child:
        return _child_cpu(args.child[0], int(args.child[1]))
    runs = args.runs or (30 if args.quick else 200)
    only = set(args.only or ('tiny', 'fresh', 'http', 'cpu', 'tasks'))
    from discolite.master.storage import temporary_parent
    print('== dispatch: tiny job, tasks/s, pool process RSS (2 workers; data under %s)'
          % temporary_parent())
    if 'tiny' in only:
        bench_tiny_pool(runs)
    if 'fresh' in only:
        # in a fresh interpreter, as small as a keeper: forking this process would also
        # copy whatever its caller has built (benchmarks/run.py's corpora and results)
        subprocess.run([sys.executable, os.path.abspath(__file__), '--child', 'fresh',
                        str(min(300, max(20, runs * 2)))], check=True)
    if 'http' in only:
        bench_tiny_http(runs)
    if 'cpu' in only:
        bench_cpu(min(runs, 100), (args.tasks or [1000 if args.quick else 5000])[0])
    if 'tasks' in only:
        counts = args.tasks or ((1000, 10000) if args.quick else (1000, 10000, 50000))
        res = bench_tasks(counts)
        low, high = min(res), max(res)
        if high > low:
            print('pool process RSS %d tasks / %d tasks: %.2f'
                  % (high, low, res[high][1] / max(1, res[low][1])))


if __name__ == '__main__':
    main()
