"""discolite: Disco's MapReduce API, offline.

Run Disco jobs unchanged on a pure-Python master with a local process pool,
or send the same job packs to a real Disco master by URL.
"""
__version__ = '0.1.0'

JOBPACK_VERSION1 = 0x0001
JOBPACK_VERSION2 = 0x0002

from discolite.error import CommError, DataError, DiscoError, JobError  # noqa: E402
from discolite.core import Disco, result_iterator  # noqa: E402
from discolite.job import Job, JobChain, JobPack  # noqa: E402
from discolite.worker import Params  # noqa: E402
from discolite.util import kvgroup  # noqa: E402

__all__ = ['Disco', 'Job', 'JobChain', 'JobPack', 'Params', 'result_iterator', 'kvgroup',
           'DiscoError', 'JobError', 'DataError', 'CommError',
           'JOBPACK_VERSION1', 'JOBPACK_VERSION2']
