"""Distributed grep: a map-only job that keeps the lines matching a regular expression.

    python examples/grep.py PATTERN [FILE...]    (default: fixtures/texts/*.txt)

Prints ``file:line`` for each match.  The pattern travels in ``params``; the
map learns which file it reads from ``this_inputs()``, a name the worker injects.
"""
import glob
import os
import sys

try:
    from disco.core import Job, result_iterator
except ImportError:
    from discolite.core import Job, result_iterator

HERE = os.path.dirname(os.path.abspath(__file__))
TEXTS = os.path.join(HERE, '..', 'fixtures', 'texts', '*.txt')


def map(line, params):
    import os
    import re
    text = line.decode('utf-8').rstrip('\n')
    if re.search(params['pattern'], text, params['flags']):
        source = os.path.basename(this_inputs()[0][0])  # injected by the worker
        yield source, text


def grep(pattern, inputs, ignore_case=False):
    import re
    job = Job(name='grep').run(input=inputs, map=map, partitions=None,
                               params={'pattern': pattern,
                                       'flags': re.IGNORECASE if ignore_case else 0})
    matches = sorted(result_iterator(job.wait(poll_interval=0.05)))
    job.purge()
    return matches


if __name__ == '__main__':
    args = sys.argv[1:]
    ignore_case = '-i' in args
    args = [a for a in args if a != '-i']
    if not args:
        sys.exit('usage: python examples/grep.py [-i] PATTERN [FILE...]')
    files = args[1:] or sorted(glob.glob(TEXTS))
    matches = grep(args[0], [os.path.abspath(f) for f in files], ignore_case)
    for source, text in matches:
        print('%s:%s' % (source, text))
    sys.exit(0 if matches else 1)
