"""Functions for classic map/reduce jobs (``disco.worker.classic.func``).

Everything here is also injected into the globals of job functions, so job
code can call ``chain_reader`` or ``nop_map`` without importing them.
"""
import hashlib

_md5 = hashlib.md5

from discolite.worker.task_io import *  # noqa: F401,F403  (Disco re-exports task_io here)
from discolite.worker.task_io import (task_input_stream, task_output_stream,
                                      disco_output_stream, chain_reader, str_to_bytes)


def notifier(urls):
    """Called by result_iterator for each input; does nothing by default."""


def map(entry, params):
    """Documentation stub: a map function takes (entry, params) and returns (key, value) pairs."""


def partition(key, nr_partitions, params):
    """Documentation stub: returns an int label for ``key``."""


def combiner(key, value, buffer, done, params):
    """Documentation stub: combines map output in ``buffer`` before it is written."""


def reduce(input_stream, output_stream, params):
    """Documentation stub: reads (key, value) pairs, writes with ``output_stream.add``."""


def reduce2(input_stream, params):
    """Documentation stub: the generator form of reduce."""


def init(input_iter, params):
    """Default map_init/reduce_init: does nothing."""


def noop(*args, **kwargs):
    pass


def default_partition(key, nr_partitions, params):
    """``md5(key) % nr_partitions``: Disco 0.5.4's labels for str and bytes keys.

    Any other key is hashed as ``md5(str(key))``, as Disco 0.5.3 did (so int keys
    get 0.5.3's labels), where Disco 0.5.4 under Python 3 dies with AttributeError.
    """
    if not isinstance(key, (str, bytes)):
        key = str(key)
    if isinstance(key, str):
        key = key.encode('utf-8')
    return int.from_bytes(_md5(key).digest(), 'big') % nr_partitions  # = int(hexdigest, 16)


def make_range_partition(min_val, max_val):
    """A partition function for keys in [min_val, max_val] (takes one tuple argument, as in Disco)."""
    r = max_val - min_val
    return (lambda k_n_p: int(round(float(int(k_n_p[0]) - min_val) / r * (k_n_p[1] - 1))))


def nop_map(entry, params):
    yield entry


def nop_reduce(iter, out, params):
    for k, v in iter:
        out.add(k, v)


def sum_combiner(key, value, buffer, done, params):
    if done:
        return buffer.items()
    buffer[key] = buffer.get(key, 0) + value


def sum_reduce(iter, params):
    buf = {}
    for key, value in iter:
        buf[key] = buf.get(key, 0) + value
    return buf.items()


map_input_stream = task_input_stream
reduce_input_stream = task_input_stream
map_output_stream = task_output_stream
reduce_output_stream = task_output_stream
