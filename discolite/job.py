"""``Job``, ``JobPack`` and ``JobChain`` (``disco.job``)."""
import functools
import json
import struct
import time

from discolite.error import JobError
from discolite.settings import DiscoSettings
from discolite.util import chainify, iterify
# Importable from here as on Disco (its test_jobpack does ``from disco.job import JOBPACK_VERSION1``).
from discolite.worker import JOBPACK_VERSION1, JOBPACK_VERSION2  # noqa: F401


class Job(object):
    """A Disco job: ``Job(name).run(**jobargs)`` submits it, ``.wait()`` returns its results."""

    proxy_functions = ('clean', 'events', 'kill', 'jobinfo', 'jobpack', 'oob_get', 'oob_list',
                       'profile_stats', 'purge', 'results', 'stageresults', 'wait')

    from discolite.worker.classic.worker import Worker

    def __init__(self, name=None, master=None, worker=None, settings=None):
        from discolite.core import Disco
        self.name = name or type(self).__name__
        self.disco = master if isinstance(master, Disco) else Disco(master, settings=settings)
        self.worker = worker or self.Worker()
        self.settings = settings or DiscoSettings()

    def __getattr__(self, attr):
        if attr in self.proxy_functions:
            return functools.partial(getattr(self.disco, attr), self.name)
        raise AttributeError("%r object has no attribute %r" % (type(self).__name__, attr))

    def __getstate__(self):
        return dict(self.__dict__)

    def __setstate__(self, state):
        self.__dict__.update(state)

    def pack(self, **jobargs):
        """Build the JobPack that ``run(**jobargs)`` would submit."""
        from discolite.task import jobdata
        worker = self.worker
        prepare = getattr(worker, 'prepare_jobargs', None)
        if prepare is not None:
            jobargs = prepare(self, jobargs)
        if isinstance(worker, dict):
            import warnings
            from discolite.jobcheck import jobarg_messages
            for message in jobarg_messages(worker, jobargs):
                warnings.warn(message, UserWarning, stacklevel=3)
        return JobPack(worker.jobpack_version,
                       worker.jobdict(self, **jobargs),
                       worker.jobenvs(self, **jobargs),
                       worker.jobhome(self, **jobargs),
                       jobdata(self, jobargs, keep_globals=self._keep_globals()))

    def _keep_globals(self):
        """DISCOLITE_KEEP_GLOBALS for this job: the client's setting, or an in-process
        master's own (``Master(DISCOLITE_KEEP_GLOBALS=True)``)."""
        from discolite.settings import flag
        if flag(self.settings, 'DISCOLITE_KEEP_GLOBALS'):
            return True
        url = self.disco._master or ''
        if url.startswith('local://'):
            from discolite.master import get_master
            master = get_master(url)
            return bool(master is not None and master.config['DISCOLITE_KEEP_GLOBALS'])
        return False

    def run(self, **jobargs):
        """Submit the job; returns ``self`` with ``name`` set to the master's unique job name."""
        self.name = self.disco.submit(self.pack(**jobargs).dumps())
        from discolite.core import submitted
        submitted(self.disco, self.name)
        return self

    def __repr__(self):
        return '<%s %s>' % (type(self).__name__, self.name)


class SimpleJob(Job):
    pass


class JobChain(dict):
    """Maps each Job to its input (URLs, another Job, or a list mixing both)."""

    def wait(self, poll_interval=1):
        while sum(self.walk()) < len(self):
            time.sleep(poll_interval)
        return self

    def walk(self):
        """Start the jobs whose inputs are all ready; yield 1 for each job that is ready."""
        for job in self:
            status, results = job.results()
            if status == 'unknown job':
                inputs = chainify(self.inputs(job))
                if None not in inputs:
                    job.run(input=inputs)
            elif status == 'active':
                pass
            elif status == 'ready':
                yield 1
            else:
                raise JobError(job, "Status {0}".format(status))

    def inputs(self, job):
        """A list of URLs for each input of ``job``; ``[None]`` for a job not ready yet."""
        for input in iterify(self[job]):
            if isinstance(input, Job):
                status, results = input.results()
                if status in ('unknown job', 'active'):
                    yield [None]
                elif status == 'ready':
                    yield results
                else:
                    raise JobError(input, "Status {0}".format(status))
            else:
                yield [input]

    def purge(self):
        for job in self:
            job.purge()


class JobPack(object):
    """The job pack: a 128-byte header, jobdict and jobenvs JSON, job home zip and jobdata."""

    MAGIC = 0xd5c0 << 16
    MAGIC_MASK = 0xffff << 16
    VERSION = 1
    HEADER_FORMAT = "!IIIII"
    HEADER_SIZE = 128

    def __init__(self, version, jobdict, jobenvs, jobhome, jobdata):
        self.version = version
        self.jobdict = jobdict
        self.jobenvs = jobenvs
        self.jobhome = jobhome
        self.jobdata = jobdata

    @classmethod
    def header(cls, offsets, magic=MAGIC, version=VERSION, format=HEADER_FORMAT, size=HEADER_SIZE):
        head = struct.pack(format, magic + version, *offsets)
        return head + b'\0' * (size - len(head))

    def contents(self, offset=HEADER_SIZE):
        fields = [json.dumps(self.jobdict).encode('utf-8'),
                  json.dumps(self.jobenvs).encode('utf-8'),
                  self.jobhome,
                  self.jobdata]
        for field in fields:
            yield offset, field
            offset += len(field)

    def dumps(self):
        offsets, fields = zip(*self.contents())
        # one join: the job home zip alone is ~200 KB, each extra copy of it costs
        return b''.join((self.header(offsets, version=self.version),) + fields)

    @classmethod
    def offsets(cls, jobfile, magic=MAGIC, version=VERSION, format=HEADER_FORMAT, size=HEADER_SIZE):
        """The four field offsets in the header of ``jobfile`` (magic, header size and order
        are asserted)."""
        jobfile.seek(0)
        header = struct.unpack(format, jobfile.read(struct.calcsize(format)))
        assert header[0] & cls.MAGIC_MASK == magic, "Invalid jobpack magic."
        assert header[1] == size, "Invalid jobpack header."
        assert header[1:] == tuple(sorted(header[1:])), "Invalid jobpack offsets."
        return list(header[1:])

    @classmethod
    def load(cls, jobfile):
        return PackedJobPack(jobfile)


class PackedJobPack(JobPack):
    """A job pack read lazily from a file; like Disco's, it has no ``version`` attribute."""

    def __init__(self, jobfile):
        self.jobfile = jobfile

    def _field(self, index):
        offsets = self.offsets(self.jobfile)
        self.jobfile.seek(offsets[index])
        if index + 1 < len(offsets):
            return self.jobfile.read(offsets[index + 1] - offsets[index])
        return self.jobfile.read()

    @property
    def jobdict(self):
        return json.loads(self._field(0).decode('utf-8'))

    @property
    def jobenvs(self):
        return json.loads(self._field(1).decode('utf-8'))

    @property
    def jobhome(self):
        return self._field(2)

    @property
    def jobdata(self):
        return self._field(3)
