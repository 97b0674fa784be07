"""Job subclasses whose functions are class attributes.

A Job subclass travels by reference: this module's source is shipped in the job
home and imported in the task, so these functions keep this module's globals
(``HELPER_SUFFIX``, ``suffix``, ``functools``), unlike functions passed to run().
"""
import functools

from discolite import Job
from tests.engine import mod1
from discolite.worker.classic.func import chain_reader, nop_map, nop_reduce

HELPER_SUFFIX = '-ok'


def suffix(word):
    return word + HELPER_SUFFIX


def _scaled_map(line, params, factor=1):
    yield line.strip(), factor


class GlobalsJob(Job):
    """Class-attribute map and reduce that call module-level helpers."""
    partitions = 2

    @staticmethod
    def map(line, params):
        yield suffix(line.strip()), 1

    @staticmethod
    def reduce(iter, params):
        totals = {}
        for k, v in iter:
            totals[k] = totals.get(k, 0) + v
        return sorted(totals.items())


class PartialJob(Job):
    """A functools.partial built in the class body."""
    map = functools.partial(_scaled_map, factor=7)

    @staticmethod
    def reduce(iter, out, params):
        for k, v in iter:
            out.add(k, v)


class AttrsJob(Job):
    """Parameters fixed by class attributes (overridable by jobargs)."""
    partitions = 3
    params = {'tag': 'from-class'}
    sort = True

    @staticmethod
    def map(line, params):
        yield line.strip().encode(), params['tag']

    @staticmethod
    def reduce(iter, params):
        for k, v in iter:
            yield k, (v, this_partition())  # noqa: F821 (injected by the worker)


class InputJob(Job):
    """A Job whose input is a class attribute, with a map-only nop_map."""
    input = ['raw://class-input']
    map = staticmethod(nop_map)
    partitions = None

    @staticmethod
    def map_reader(fd, size, url, params):
        for line in fd:
            yield line, url


class SuffixA(Job):
    """First job of a JobChain: appends '-a' to every line."""
    partitions = 4
    sort = False

    @staticmethod
    def map(line, params):
        yield line + '-a', 1

    reduce = staticmethod(nop_reduce)


class SuffixB(Job):
    """Second job of a JobChain: reads SuffixA's records and appends '-b'."""
    partitions = 4
    sort = False
    map_reader = staticmethod(chain_reader)

    @staticmethod
    def map(kv, params):
        yield kv[0] + '-b', kv[1]

    reduce = staticmethod(nop_reduce)


class Collect(Job):
    """A reduce-only job that re-emits the records of its (dir://) inputs."""
    reduce = staticmethod(nop_reduce)


class Broken(Job):
    @staticmethod
    def map(line, params):
        raise ValueError('broken job in a chain')


class JsonJob(Job):
    """Uses ``json`` without importing it: works only when json is a required module."""
    partitions = None

    @staticmethod
    def map(line, params):
        yield line, json.dumps([line])  # noqa: F821 (injected from required_modules)


class ModuleJob(Job):
    """A class-attribute map using a sibling module of the job's own package."""
    partitions = None

    @staticmethod
    def map(line, params):
        yield line, mod1.plusceil(float(line), 10)


class Eleven(Job):
    """20 records per input line over 11 partitions."""
    partitions = 11

    @staticmethod
    def map(line, params):
        for i in range(20):
            yield '%s-%d' % (line, i), i

    reduce = staticmethod(nop_reduce)
