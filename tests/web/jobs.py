"""Job functions for the browser tests (shipped to the workers as code)."""

WORDS = ['raw://the cat sat on the mat',
         'raw://the dog sat on the log',
         'raw://a cat and a dog']


def word_map(line, params):
    for word in line.split():
        yield word, 1


def word_reduce(iter, params):
    from disco.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


def slow_map(line, params):
    """Sleeps the number of seconds its input says, then yields one record."""
    import time
    time.sleep(float(line.split()[0]))
    yield line, 1


def flaky_map(line, params):
    """Fails (a recoverable DataError) the first time it sees a marker file path."""
    import os
    from discolite.error import DataError
    marker = line.split()[0]
    if not os.path.exists(marker):
        open(marker, 'w').close()
        raise DataError('transient failure (first attempt)', 'raw://' + line)
    for word in line.split()[1:]:
        yield word, 1


def chatty_map(line, params):
    """Prints its input (events with whatever text the input has), then yields it."""
    print(line)
    yield line, 1
