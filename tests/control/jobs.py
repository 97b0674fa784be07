"""Job subclasses for the JobChain tests (a subclass travels by reference, so it lives in a
module of its own that the task can import)."""
from discolite import Job
from discolite.worker.classic.func import chain_reader


def _count(iter, params):
    counts = {}
    for k, v in iter:
        counts[k] = counts.get(k, 0) + v
    return sorted(counts.items())


class ChainWords(Job):
    """Word count over raw inputs."""
    @staticmethod
    def map(line, params):
        for word in line.split():
            yield word, 1

    reduce = staticmethod(_count)


class ChainSuffix(Job):
    """Reads another job's (word, count) results and appends '!' to each word."""
    map_reader = staticmethod(chain_reader)

    @staticmethod
    def map(kv, params):
        yield kv[0] + '!', kv[1]

    reduce = staticmethod(_count)


class ChainBroken(Job):
    @staticmethod
    def map(line, params):
        raise ValueError('boom')
