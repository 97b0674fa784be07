"""Inner join of two CSV files on their first column (a reduce-side join).

    python examples/inner_join.py [LEFT.csv RIGHT.csv]
    (default: fixtures/join/authors.csv and fixtures/join/works.csv)

The map tags every row with the file it came from; rows with the same key land
in the same partition, and each reduce pairs the left rows with the right rows
of every key.  Keys found in only one file are dropped, as in SQL's INNER JOIN.
"""
import os
import sys

try:
    from disco.core import Job, result_iterator
except ImportError:
    from discolite.core import Job, result_iterator

HERE = os.path.dirname(os.path.abspath(__file__))
JOIN = os.path.join(HERE, '..', 'fixtures', 'join')


def map(line, params):
    import os
    source = os.path.basename(this_inputs()[0][0])
    text = line.decode('utf-8').strip()
    if not text or text == params['headers'].get(source):
        return
    key, _, rest = text.partition(',')
    yield key, (0 if source == params['left'] else 1, rest)


def reduce(iter, params):
    from disco.util import kvgroup
    for key, rows in kvgroup(sorted(iter)):
        left, right = [], []
        for side, rest in rows:
            (left if side == 0 else right).append(rest)
        for l in left:
            for r in right:
                yield key, '%s,%s' % (l, r)


def inner_join(left, right, partitions=3):
    def header(path):
        with open(path) as f:
            return f.readline().strip()
    params = {'left': os.path.basename(left),
              'headers': {os.path.basename(p): header(p) for p in (left, right)}}
    job = Job(name='inner_join').run(input=[left, right], map=map, reduce=reduce,
                                     partitions=partitions, params=params)
    rows = sorted(result_iterator(job.wait(poll_interval=0.05)),
                  key=lambda kv: (int(kv[0]) if kv[0].isdigit() else kv[0], kv[1]))
    job.purge()
    return rows


if __name__ == '__main__':
    if len(sys.argv) == 3:
        left, right = sys.argv[1:]
    elif len(sys.argv) == 1:
        left, right = os.path.join(JOIN, 'authors.csv'), os.path.join(JOIN, 'works.csv')
    else:
        sys.exit('usage: python examples/inner_join.py [LEFT.csv RIGHT.csv]')
    left, right = os.path.abspath(left), os.path.abspath(right)
    for key, row in inner_join(left, right):
        print('%s,%s' % (key, row))
