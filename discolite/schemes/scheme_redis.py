"""``redis://HOST:PORT:DB``: Redis keys as input and output.  It needs a Redis server and
the ``redis`` package; discolite provides neither, so every name here says so."""
from discolite.schemes._unavailable import Unavailable, needs

_need = needs('redis', 'a Redis server and the redis Python package', 'redis')
open = input_stream = _need
redis_output_stream = redis_inter_stream_out = redis_inter_stream_in = _need


class RedisStream(Unavailable):
    _error = staticmethod(_need)


class AtomicDict(Unavailable):
    _error = staticmethod(_need)
