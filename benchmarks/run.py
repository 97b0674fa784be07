"""discolite benchmarks: ``python benchmarks/run.py`` (add ``--quick`` for a short run).

1. Word count (map + combiner + reduce) over a generated corpus, through
   discolite and through a single-process loop calling the same functions
   directly; prints both medians and their ratio (target: <= 0.7 on 2 cores).
2. The median end-to-end time of a tiny job (3 raw:// inputs, map + reduce,
   results read) over 50 runs in one process (target: < 20 ms).
3. sort=True over a large input: peak RSS of every process (target: < 300 MB).

Machines are noisy: each figure is a median of several runs measured in the
same process, and the word-count figure is a ratio against a baseline
measured in the same run.
"""
import argparse
import os
import random
import resource
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from discolite import Disco, Job, result_iterator  # noqa: E402
from discolite.master import Master  # noqa: E402

WORDS = None


def vocabulary(n=20000, seed=7):
    rnd = random.Random(seed)
    letters = 'abcdefghijklmnopqrstuvwxyz'
    return [''.join(rnd.choice(letters) for _ in range(rnd.randint(2, 10))) for _ in range(n)]


def make_corpus(directory, megabytes, files=8, seed=1):
    """Write ``files`` text files of about ``megabytes`` MB in total; returns their paths."""
    rnd = random.Random(seed)
    vocab = vocabulary()
    weights = [1.0 / (i + 1) for i in range(len(vocab))]  # Zipf-like, as in real text
    paths = []
    per_file = megabytes * 1024 * 1024 // files
    for i in range(files):
        path = os.path.join(directory, 'part-%02d.txt' % i)
        size = 0
        with open(path, 'w') as f:
            while size < per_file:
                words = rnd.choices(vocab, weights, k=4000)
                block = '\n'.join(' '.join(words[j:j + 10]) for j in range(0, 4000, 10)) + '\n'
                f.write(block)
                size += len(block)
        paths.append(path)
    return paths


# -- the job functions (shared by discolite and the single-process loop)

def wc_map(line, params):
    for word in line.split():
        yield word, 1


def wc_combiner(key, value, buffer, done, params):
    if done:
        return buffer.items()
    buffer[key] = buffer.get(key, 0) + value


def wc_reduce(iter, params):
    counts = {}
    for word, count in iter:
        counts[word] = counts.get(word, 0) + count
    return counts.items()


def single_process(paths):
    """The baseline: the same functions called directly in one process."""
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


def discolite_wc(disco, paths):
    job = Job(master=disco).run(input=paths, map=wc_map, combiner=wc_combiner,
                                reduce=wc_reduce)
    result = dict(result_iterator(job.wait(poll_interval=0.05)))
    disco.purge(job.name)
    return result


def timed(fn, *args):
    start = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - start, value


def bench_wordcount(megabytes, repeats, workers):
    print('== word count over %d MB (map + combiner + reduce), %d workers' % (megabytes, workers))
    with tempfile.TemporaryDirectory(prefix='discolite-bench-') as tmp:
        paths = make_corpus(tmp, megabytes)
        with Master(DISCOLITE_WORKERS=workers, DISCOLITE_DATA=os.path.join(tmp, 'data')) as m:
            disco = Disco(m.url)
            discolite_wc(disco, paths[:1])  # warm up the pool
            base_times, lite_times = [], []
            for _ in range(repeats):
                t_base, expected = timed(single_process, paths)
                t_lite, got = timed(discolite_wc, disco, paths)
                assert got == expected, 'discolite and the loop disagree'
                base_times.append(t_base)
                lite_times.append(t_lite)
    base, lite = statistics.median(base_times), statistics.median(lite_times)
    print('single-process loop: median %.2f s  (runs: %s)' % (base, _fmt(base_times)))
    print('discolite:           median %.2f s  (runs: %s)' % (lite, _fmt(lite_times)))
    print('ratio discolite/loop: %.2f  (target <= 0.70)' % (lite / base))
    return lite / base


def tiny_map(line, params):
    for word in line.split():
        yield word, 1


def tiny_reduce(iter, params):
    from discolite.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


def bench_tiny(runs):
    print('== tiny job: 3 raw:// inputs, map + reduce, results read; %d runs' % runs)
    with Master(DISCOLITE_WORKERS=2) as m:
        disco = Disco(m.url)
        times = []
        for i in range(runs + 3):
            start = time.perf_counter()
            job = Job(master=disco).run(input=['raw://hello world', 'raw://hello', 'raw://x'],
                                        map=tiny_map, reduce=tiny_reduce)
            results = list(result_iterator(job.wait(poll_interval=0.01)))
            elapsed = time.perf_counter() - start
            assert results == [('hello', 2), ('world', 1), ('x', 1)], results
            disco.purge(job.name)
            if i >= 3:  # the first runs warm up the pool processes
                times.append(elapsed)
    med = statistics.median(times)
    print('median %.1f ms, min %.1f ms, max %.1f ms  (target < 20 ms; a real Disco 0.5.4 '
          'master takes ~900 ms)' % (med * 1e3, min(times) * 1e3, max(times) * 1e3))
    return med


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


def vm_hwm(pid):
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def bench_sort(megabytes):
    print('== sort=True over %d MB: peak RSS per process' % megabytes)
    with tempfile.TemporaryDirectory(prefix='discolite-bench-') as tmp:
        paths = make_corpus(tmp, megabytes, files=4, seed=3)
        with Master(DISCOLITE_WORKERS=2, DISCOLITE_DATA=os.path.join(tmp, 'data')) as m:
            disco = Disco(m.url)
            start = time.perf_counter()
            job = Job(master=disco).run(input=paths, map=sort_map, reduce=sort_reduce, sort=True)
            results = dict(result_iterator(job.wait(poll_interval=0.2)))
            elapsed = time.perf_counter() - start
            peaks = {'worker-%d' % s.index: vm_hwm(s.pid) for s in m.scheduler.pool.slots}
    peaks['master/client'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print('records sorted: %d in %.1f s' % (results[b'records'], elapsed))
    for name, peak in sorted(peaks.items()):
        print('  %-14s peak RSS %6.1f MB' % (name, peak / 2 ** 20))
    top = max(peaks.values())
    print('largest peak RSS: %.1f MB  (target < 300 MB)' % (top / 2 ** 20))
    return top


def _fmt(values):
    return ', '.join('%.2f' % v for v in values)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--quick', action='store_true', help='small sizes, for a smoke run')
    p.add_argument('--wc-mb', type=int, default=None, help='word count corpus size (MB)')
    p.add_argument('--sort-mb', type=int, default=None, help='sort benchmark input size (MB)')
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--tiny-runs', type=int, default=50)
    p.add_argument('--workers', type=int, default=os.cpu_count() or 2)
    p.add_argument('--only', choices=('wc', 'tiny', 'sort'), action='append')
    args = p.parse_args(argv)
    wc_mb = args.wc_mb or (10 if args.quick else 100)
    sort_mb = args.sort_mb or (20 if args.quick else 500)
    only = set(args.only or ('wc', 'tiny', 'sort'))
    if 'tiny' in only:
        bench_tiny(args.tiny_runs)
    if 'wc' in only:
        bench_wordcount(wc_mb, args.repeats, args.workers)
    if 'sort' in only:
        bench_sort(sort_mb)


if __name__ == '__main__':
    main()
