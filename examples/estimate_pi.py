"""Estimate pi by throwing darts: each map task samples points in the unit square.

    python examples/estimate_pi.py [TASKS [POINTS_PER_TASK]]   (default: 8 tasks, 100000)

Each input is a ``raw://`` seed, so every map task draws a different,
reproducible sequence.  The reduce adds up the hits; pi ~ 4 * hits / points.
"""
import sys

try:
    from disco.core import Job, result_iterator
except ImportError:
    from discolite.core import Job, result_iterator


def map(seed, params):
    import random
    rng = random.Random(int(seed))
    hits = 0
    for _ in range(params['points']):
        x, y = rng.random(), rng.random()
        if x * x + y * y <= 1.0:
            hits += 1
    yield 'hits', hits
    yield 'points', params['points']


def reduce(iter, params):
    totals = {}
    for key, value in iter:
        totals[key] = totals.get(key, 0) + value
    return totals.items()


def estimate_pi(tasks=8, points=100000):
    job = Job(name='estimate_pi').run(input=['raw://%d' % seed for seed in range(tasks)],
                                      map=map, reduce=reduce, params={'points': points})
    totals = dict(result_iterator(job.wait(poll_interval=0.05)))
    job.purge()
    return 4.0 * totals['hits'] / totals['points'], totals['points']


if __name__ == '__main__':
    tasks = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    points = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
    pi, n = estimate_pi(tasks, points)
    print('pi is about %.5f (%d points in %d map tasks)' % (pi, n, tasks))
