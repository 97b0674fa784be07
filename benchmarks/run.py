"""discolite benchmarks: ``python benchmarks/run.py`` (``--quick`` for a smoke run).

1. Word count over a Zipf corpus (100 MB in 8 files, ~50,000 distinct words; map
   yields ``(word, 1)``, a sum combiner, reduce ``kvgroup(sorted(iter))``), in one
   run and with every result checked equal: discolite with partitions 1, 2 and 8,
   the single-process loop calling the same job functions, the
   ``collections.Counter`` floor, and Dask bag (processes scheduler) when dask is
   installed (``pip install -e '.[bench]'``). For each: wall time, CPU-seconds of
   the whole process tree, MB/s, and ratios against the loop and against Dask.
2. ``--big``: word count over 1 GB against the same job over 100 MB (time per MB
   should not grow), with the peak RSS of every process.
3. ``sort=True`` over 500 MB: peak RSS of every process.
4. If present, ``benchmarks/dispatch.py``, ``benchmarks/inline.py`` and
   ``benchmarks/load.py`` (each exposes ``main(argv)`` and prints its own table): the
   tiny job, tasks/s, the inline mode and the HTTP load test.

The machines are shared and noisy: every figure is a median of ``--repeats`` runs
(at least 3) with the variants interleaved, and CPU-seconds and ratios measured in
the same run are the figures to quote.
"""
import argparse
import collections
import contextlib
import importlib
import itertools
import os
import platform
import random
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(1, HERE)

from discolite import Disco, Job, result_iterator  # noqa: E402
from discolite.master import Master  # noqa: E402

TARGETS = {'wall/loop': 0.6, 'wall/dask': 0.7, 'cpu/loop': 1.2}


# -- the corpus

def vocabulary(n=50000, seed=7):
    """``n`` distinct lowercase words of 2..10 letters, shuffled (rank order is random)."""
    rnd = random.Random(seed)
    letters = 'abcdefghijklmnopqrstuvwxyz'
    words = set()
    while len(words) < n:
        words.add(''.join(rnd.choice(letters) for _ in range(rnd.randint(2, 10))))
    words = sorted(words)
    rnd.shuffle(words)
    return words


def make_corpus(directory, megabytes, files=8, seed=1, distinct=50000):
    """Write ``files`` text files of ``megabytes`` MB in total, words drawn from a Zipf
    law (s=1) over ``distinct`` words, 10 words a line; returns their paths. Files
    already there with the right size are reused."""
    os.makedirs(directory, exist_ok=True)
    per_file = megabytes * 1024 * 1024 // files
    paths = [os.path.join(directory, 'zipf-%dMB-s%d-%02d.txt' % (megabytes, seed, i))
             for i in range(files)]
    if all(os.path.exists(p) and os.path.getsize(p) >= per_file for p in paths):
        return paths
    rnd = random.Random(seed)
    vocab = vocabulary(distinct)
    cum = list(itertools.accumulate(1.0 / (i + 1) for i in range(len(vocab))))
    for path in paths:
        size = 0
        with open(path + '.partial', 'w') as f:
            while size < per_file:
                words = rnd.choices(vocab, cum_weights=cum, k=20000)
                block = '\n'.join(' '.join(words[j:j + 10]) for j in range(0, 20000, 10)) + '\n'
                f.write(block)
                size += len(block)
        os.rename(path + '.partial', path)
    return paths


# -- the job functions (shared by discolite, the single-process loop and stress.py)

def wc_map(line, params):
    for word in line.split():
        yield word, 1


def wc_combiner(key, value, buffer, done, params):
    if done:
        return buffer.items()
    buffer[key] = buffer.get(key, 0) + value


def wc_reduce(iter, params):
    from discolite.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


# -- the variants; each returns {word: count}

def loop_wc(paths):
    """The baseline: the same job functions called directly in one process."""
    buf = {}
    out = []
    for path in paths:
        with open(path, 'rb') as f:
            for line in f:
                for key, value in wc_map(line, None):
                    records = wc_combiner(key, value, buf, False, None)
                    if records:
                        out.extend(records)
    out.extend(wc_combiner(None, None, buf, True, None))
    return dict(wc_reduce(iter(out), None))


def counter_wc(paths):
    """The floor: ``collections.Counter`` over the words, in one process."""
    counts = collections.Counter()
    for path in paths:
        with open(path, 'rb') as f:
            for line in f:
                counts.update(line.split())
    return dict(counts)


def discolite_wc(disco, paths, partitions, sort=False):
    job = Job(master=disco).run(input=paths, map=wc_map, combiner=wc_combiner,
                                reduce=wc_reduce, partitions=partitions, sort=sort)
    result = dict(result_iterator(job.wait(poll_interval=2)))
    disco.purge(job.name)
    return result


def dask_wc(paths, workers):
    import dask.bag as db
    bag = db.read_text(paths, encoding='utf-8', blocksize=None)
    counts = bag.map(str.split).flatten().frequencies()
    return {w.encode('utf-8'): n for w, n in counts.compute(scheduler='processes',
                                                            num_workers=workers)}


def have_dask():
    try:
        import dask.bag  # noqa: F401
        import dask.multiprocessing  # noqa: F401
    except ImportError:
        return False
    return True


# -- measuring: CPU-seconds and peak RSS of the whole process tree

TICK = os.sysconf('SC_CLK_TCK')


def _proc_table():
    """{pid: (ppid, cpu seconds incl. reaped children, peak RSS bytes or 0)} of every process."""
    table = {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name, 'rb') as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b')') + 2:].split()
        cpu = sum(int(x) for x in fields[11:15]) / TICK  # utime stime cutime cstime
        table[int(name)] = (int(fields[1]), cpu)
    return table


def tree_pids(table, root=None):
    root = root or os.getpid()
    children = collections.defaultdict(list)
    for pid, (ppid, _cpu) in table.items():
        children[ppid].append(pid)
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, ()))
    return pids


def tree_cpu():
    """CPU-seconds so far of this process and all its descendants (reaped ones included)."""
    table = _proc_table()
    return sum(table[p][1] for p in tree_pids(table) if p in table)


def vm_hwm(pid):
    """Peak RSS of ``pid`` in bytes (0 when it is gone)."""
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def _cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read().replace(b'\0', b' ').decode('utf-8', 'replace').strip()
    except OSError:
        return ''


@contextlib.contextmanager
def peak_rss(interval=0.2):
    """Sample the peak RSS of every process in the tree while the block runs;
    yields a dict {pid: (peak bytes, command line)} filled in at the end."""
    peaks = {}
    stop = threading.Event()

    def sample():
        while True:
            for pid in tree_pids(_proc_table()):
                hwm = vm_hwm(pid)
                if hwm > peaks.get(pid, (0, ''))[0]:
                    peaks[pid] = (hwm, peaks.get(pid, (0, _cmdline(pid)))[1] or _cmdline(pid))
            if stop.wait(interval):
                return
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peaks
    finally:
        stop.set()
        thread.join()
        mine = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        peaks[os.getpid()] = (max(mine, peaks.get(os.getpid(), (0, ''))[0]), 'benchmark (client + master)')


def measure(fn, *args):
    """(wall seconds, CPU-seconds of the process tree, result) of ``fn(*args)``."""
    cpu0, t0 = tree_cpu(), time.perf_counter()
    value = fn(*args)
    wall, cpu = time.perf_counter() - t0, tree_cpu() - cpu0
    return wall, cpu, value


# -- 1. word count side by side

def bench_wordcount(paths, megabytes, repeats, workers, partitions, use_dask):
    print('== word count over %d MB in %d files (map yields (word, 1), sum combiner, '
          'reduce kvgroup(sorted(iter))), %d workers, median of %d'
          % (megabytes, len(paths), workers, repeats))
    variants = [('single-process loop', lambda: loop_wc(paths)),
                ('Counter floor', lambda: counter_wc(paths))]
    rows = {}
    with tempfile.TemporaryDirectory(prefix='discolite-bench-data-') as data, \
            Master(DISCOLITE_WORKERS=workers, DISCOLITE_DATA=data) as m:
        disco = Disco(m.url)
        for p in partitions:
            variants.append(('discolite partitions=%d' % p,
                             lambda p=p: discolite_wc(disco, paths, p)))
        if use_dask:
            variants.append(('Dask bag (processes)', lambda: dask_wc(paths, workers)))
        discolite_wc(disco, paths[:1], max(partitions))  # start the pool processes
        expected = None
        for _ in range(repeats):
            for name, fn in variants:
                wall, cpu, result = measure(fn)
                if expected is None:
                    expected = result
                    print('   %d distinct words, %d words in all'
                          % (len(result), sum(result.values())))
                if result != expected:
                    raise SystemExit('%s disagrees with the single-process loop' % name)
                rows.setdefault(name, []).append((wall, cpu))
    table = {name: (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs))
             for name, runs in rows.items()}
    loop = table['single-process loop']
    dask = table.get('Dask bag (processes)')
    print('   %-24s %8s %8s %7s %8s %8s %8s %8s' % ('variant', 'wall s', 'CPU s', 'MB/s',
                                                  'wall/loop', 'CPU/loop', 'wall/dask',
                                                  'CPU/dask'))
    for name, (wall, cpu) in table.items():
        vs_dask = ('%8.2f %8.2f' % (wall / dask[0], cpu / dask[1])) if dask else '%8s %8s' % ('-', '-')
        print('   %-24s %8.2f %8.2f %7.1f %9.2f %8.2f %s'
              % (name, wall, cpu, megabytes / wall, wall / loop[0], cpu / loop[1], vs_dask))
    print('   runs (wall s / CPU s): ' + '; '.join(
        '%s: %s' % (name, ', '.join('%.2f/%.2f' % r for r in runs)) for name, runs in rows.items()))
    ok = True
    for name, (wall, cpu) in table.items():
        if not name.startswith('discolite'):
            continue
        checks = [('wall/loop', wall / loop[0]), ('cpu/loop', cpu / loop[1])]
        if dask:
            checks.append(('wall/dask', wall / dask[0]))
        bad = ['%s %.2f > %.2f' % (k, v, TARGETS[k]) for k, v in checks if v > TARGETS[k]]
        ok = ok and not bad
        print('   %-24s %s' % (name, 'meets the targets' if not bad else 'MISSES: ' + ', '.join(bad)))
    return table


# -- 2. word count 1 GB vs 100 MB: linear in size, peak RSS per process

def bench_big(corpus, small_mb, big_mb, workers, partitions):
    print('== word count over %d MB vs %d MB, partitions=%d, %d workers: time per MB and '
          'peak RSS of every process' % (big_mb, small_mb, partitions, workers))
    figures = {}
    for mb in (small_mb, big_mb):
        paths = make_corpus(corpus, mb, files=8, seed=1 if mb == small_mb else 5)
        with tempfile.TemporaryDirectory(prefix='discolite-bench-data-') as data, \
                Master(DISCOLITE_WORKERS=workers, DISCOLITE_DATA=data) as m:
            disco = Disco(m.url)
            with peak_rss() as peaks:
                wall, cpu, result = measure(discolite_wc, disco, paths, partitions)
        figures[mb] = (wall, cpu)
        top = max(peaks.values())
        print('   %5d MB: wall %6.1f s, CPU %6.1f s, %5.1f MB/s, %d distinct words; largest '
              'peak RSS %.1f MB (%s)' % (mb, wall, cpu, mb / wall, len(result), top[0] / 2 ** 20,
                                         top[1][:60]))
        for pid, (peak, cmd) in sorted(peaks.items(), key=lambda kv: -kv[1][0])[:6]:
            print('          pid %-7d %6.1f MB  %s' % (pid, peak / 2 ** 20, cmd[:70]))
        if mb == big_mb and not os.environ.get('DISCOLITE_BENCH_KEEP'):
            for p in paths:
                os.remove(p)
    (sw, sc), (bw, bc) = figures[small_mb], figures[big_mb]
    scale = big_mb / small_mb
    print('   %d MB / %d MB: wall x%.2f, CPU x%.2f (linear: x%.0f)'
          % (big_mb, small_mb, bw / sw, bc / sc, scale))
    return figures


# -- 3. sort=True, peak RSS

def sort_map(line, params):
    yield line[:12], line


def sort_reduce(iter, params):
    previous = None
    count = 0
    for key, value in iter:
        if previous is not None and key < previous:
            raise ValueError('not sorted')
        previous = key
        count += 1
    yield b'records', count


def bench_sort(corpus, megabytes, workers):
    print('== sort=True over %d MB: peak RSS of every process' % megabytes)
    paths = make_corpus(corpus, megabytes, files=4, seed=3)
    with tempfile.TemporaryDirectory(prefix='discolite-bench-data-') as data, \
            Master(DISCOLITE_WORKERS=workers, DISCOLITE_DATA=data) as m:
        disco = Disco(m.url)
        with peak_rss() as peaks:
            def job():
                j = Job(master=disco).run(input=paths, map=sort_map, reduce=sort_reduce,
                                          sort=True)
                return dict(result_iterator(j.wait(poll_interval=0.2)))
            wall, cpu, results = measure(job)
    top = max(peaks.values())
    print('   %d records sorted: wall %.1f s, CPU %.1f s; largest peak RSS %.1f MB (%s)'
          % (results[b'records'], wall, cpu, top[0] / 2 ** 20, top[1][:60]))
    for pid, (peak, cmd) in sorted(peaks.items(), key=lambda kv: -kv[1][0])[:6]:
        print('          pid %-7d %6.1f MB  %s' % (pid, peak / 2 ** 20, cmd[:70]))
    if not os.environ.get('DISCOLITE_BENCH_KEEP'):
        for p in paths:
            os.remove(p)
    return top[0]


def other_benchmarks(names, quick):
    """Run ``main(argv)`` of each sibling benchmark module that exists; returns those run."""
    ran = []
    for name in names:
        if not os.path.exists(os.path.join(HERE, name + '.py')):
            continue
        module = importlib.import_module(name)
        print('== benchmarks/%s.py' % name)
        sys.stdout.flush()
        module.main(['--quick'] if quick else [])
        ran.append(name)
    return ran


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--quick', action='store_true', help='small sizes and 3 runs, a smoke test')
    p.add_argument('--wc-mb', type=int, default=None, help='word count corpus (MB, default 100)')
    p.add_argument('--sort-mb', type=int, default=None, help='sort input (MB, default 500)')
    p.add_argument('--big', action='store_true', help='also word count over 1 GB (--big-mb)')
    p.add_argument('--big-mb', type=int, default=1024)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--partitions', type=int, nargs='+', default=[1, 2, 8])
    p.add_argument('--no-dask', action='store_true', help='skip Dask bag even if installed')
    p.add_argument('--corpus', default=None,
                   help='directory for the generated inputs, kept between runs '
                        '(default: a temporary directory, deleted at the end)')
    p.add_argument('--only', choices=('wc', 'big', 'sort', 'others'), action='append')
    args = p.parse_args(argv)
    if args.repeats < 3 and not args.quick:
        p.error('--repeats must be at least 3 (figures are medians of >= 3)')
    wc_mb = args.wc_mb or (10 if args.quick else 100)
    sort_mb = args.sort_mb or (20 if args.quick else 500)
    big_mb = 40 if args.quick else args.big_mb
    only = set(args.only or ('wc', 'sort', 'others') + (('big',) if args.big else ()))
    use_dask = not args.no_dask and have_dask()
    print('discolite benchmarks, %s UTC, %s, Python %s, %d CPUs, load average %s'
          % (time.strftime('%Y-%m-%d %H:%M', time.gmtime()), platform.machine(),
             platform.python_version(), os.cpu_count(),
             ' '.join('%.2f' % x for x in os.getloadavg())))
    if not use_dask:
        print('(dask is not installed: pip install -e \'.[bench]\' adds the Dask bag column)')
    corpus = args.corpus or tempfile.mkdtemp(prefix='discolite-bench-corpus-')
    try:
        if 'wc' in only:
            paths = make_corpus(corpus, wc_mb, files=8, seed=1)
            bench_wordcount(paths, wc_mb, args.repeats, args.workers, args.partitions, use_dask)
        if 'sort' in only:
            bench_sort(corpus, sort_mb, args.workers)
        if 'others' in only:
            other_benchmarks(['dispatch', 'inline', 'load'], args.quick)
        if 'big' in only:
            bench_big(corpus, wc_mb if args.quick else 100, big_mb, args.workers,
                      max(args.partitions))
    finally:
        if args.corpus is None:
            shutil.rmtree(corpus, ignore_errors=True)


if __name__ == '__main__':
    main()
