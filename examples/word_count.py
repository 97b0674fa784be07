"""Word count, the Disco way: map + combiner + reduce, then print the top 10 words.

    python examples/word_count.py [FILE...]      (default: fixtures/texts/*.txt)

The same file runs on a real Disco cluster: the imports fall back to discolite
only when Disco is not installed, and the job functions import what they use
inside their bodies, as Disco requires.
"""
import glob
import os
import sys

try:
    from disco.core import Job, result_iterator   # Disco, or `discolite run`
except ImportError:
    from discolite.core import Job, result_iterator

HERE = os.path.dirname(os.path.abspath(__file__))
TEXTS = os.path.join(HERE, '..', 'fixtures', 'texts', '*.txt')


def map(line, params):
    import re
    for word in re.findall(r"[a-z']+", line.decode('utf-8').lower()):
        yield word.strip("'"), 1


def combiner(word, count, buf, done, params):
    # Called for every record a map task emits; sums counts per word inside the task
    # and hands the sums on when the task is done, so less data reaches the reduce.
    if done:
        return buf.items()
    buf[word] = buf.get(word, 0) + count


def reduce(iter, params):
    from disco.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


def top_words(inputs, n=10, partitions=2):
    job = Job(name='word_count').run(input=inputs, map=map, combiner=combiner,
                                     reduce=reduce, partitions=partitions)
    counts = result_iterator(job.wait(poll_interval=0.05))
    top = sorted(counts, key=lambda wc: (-wc[1], wc[0]))[:n]
    job.purge()
    return top


if __name__ == '__main__':
    files = sys.argv[1:] or sorted(glob.glob(TEXTS))
    inputs = [os.path.abspath(f) for f in files]
    print('Top 10 words in %s:' % ', '.join(os.path.basename(f) for f in files))
    for word, count in top_words(inputs):
        print('%6d  %s' % (count, word))
