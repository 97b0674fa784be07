"""Job and task records, and unique job names (the master's registry)."""
import collections
import threading
import time

from discolite.master.events import timestamp
from discolite.master.names import JobName, jobname

_name_lock = threading.Lock()
_last_stamp = [0]


def new_jobname(prefix):
    """``<prefix>@<megasecs>:<secs>:<microsecs>`` in lowercase hex, unique in this process
    (``prefix`` has passed ``names.check_prefix``)."""
    with _name_lock:
        now = int(time.time() * 1e6)
        if now <= _last_stamp[0]:
            now = _last_stamp[0] + 1
        _last_stamp[0] = now
    mega, rest = divmod(now, 10 ** 12)
    secs, micro = divmod(rest, 10 ** 6)
    return JobName('%s@%x:%x:%x' % (prefix, mega, secs, micro))


class TaskRecord(object):
    """One task of a job. ``state`` is one of waiting, queued, running, done, failed (see
    scheduler).

    Slotted, with containers made when first needed: a job of a million inputs is a
    million of these.
    """

    __slots__ = ('job', 'taskid', 'stage', 'grouping', 'group', 'inputs', 'state', 'failures',
                 'not_before', 'outputs', 'index_url', 'started', 'slot', 'slot_host',
                 'msg_times', 'msg_clock', 'items', 'hosts', 'node', 'jobhome', 'failed_hosts',
                 'saved', 'pooled', '__weakref__')

    def __init__(self, job, taskid, stage, grouping, group, inputs):
        self.job = job
        self.taskid = taskid
        self.stage = stage
        self.grouping = grouping
        self.group = group            # (label, host)
        self.inputs = inputs          # [(input_id, label, [replica urls])]
        self.state = 'waiting'
        self.failures = 0
        self.not_before = 0.0
        self.outputs = ()             # (label, path, size) reported while it runs (a list)
        self.index_url = None         # the index file a pool worker wrote (see PipeChannel)
        self.started = None
        self.slot = None
        self.slot_host = None         # where it runs (set when it starts)
        self.msg_times = None         # (virtual) arrival times of recent MSGs, for the throttle
        self.msg_clock = None
        self.items = ()               # what it produced for the next stage (groupings items)
        self.hosts = ()               # where its data is: nodes it would rather run on
        self.node = None              # the node it runs (ran) on
        self.jobhome = None           # the job home on that node
        self.failed_hosts = ()        # nodes it failed on (a retry avoids them; a set)
        self.saved = None             # DDFS URLs of its saved outputs (save_results)
        self.pooled = False           # its shuffle is left to a pool process (shuffle.py)

    @property
    def name(self):
        return '%s:%d' % (self.stage, self.taskid)


class JobRecord(object):
    """Everything the master knows about one job."""

    def __init__(self, name, pack, jobfile, jobhome, pipeline, inputs, in_pool):
        self.name = jobname(name)
        self.pack = pack
        self.jobdict = pack.jobdict
        self.jobfile = jobfile
        self.jobhome = jobhome
        self.pipeline = pipeline          # [(stage, grouping)]
        self.inputs = inputs              # [[replica urls]]
        self.classic = pack.version == 1
        self.input_items = [] if self.classic else \
            [tuple(i) for i in pack.jobdict['inputs']]  # [(label, size, replicas)]
        self.in_pool = in_pool
        self.shuffle_here = False         # the master may do its small shuffles (shuffle.py)
        self.status = 'active'
        self.start = time.time()
        self.timestamp = timestamp(self.start)
        self.finished = None
        self.stage_index = -1
        self.stage_start = None
        self.stage_busy = 0.0     # seconds the done tasks of the current stage took, in all
        self.stage_done = 0
        self.queued = set()       # tasks sent to a slot behind a running one (not started)
        self.stage_results = {}           # stage -> [[replica urls]] (what get_stageresults shows)
        self.stage_items = {}             # stage -> [groupings item] (what the next stage groups)
        self.stage_tasks = {}             # stage -> [(taskid, group, [(label, url)])]
        self.counts = {stage: [0, 0, 0, 0, 0] for stage, _ in pipeline}
        self.tasks = []                   # TaskRecords of the current stage
        self.ready = collections.deque()  # waiting tasks runnable now, in order
        self.delayed = []                 # heap of (not_before, taskid, task): retries
        self.running = set()              # running tasks
        self.remaining = 0                # tasks of the current stage not done yet
        self.pythonpath = []              # job-home dirs put on sys.path for its tasks
        self.next_taskid = 0
        self.results = []
        self.events = None
        scheduler = pack.jobdict.get('scheduler', {})
        self.max_cores = scheduler.get('max_cores', 2 ** 31)
        # Disco honours force_local / force_remote for classic jobs only
        self.force_local = bool(scheduler.get('force_local')) and self.classic
        self.force_remote = bool(scheduler.get('force_remote')) and self.classic
        self.homes = {}                   # node -> (job home, jobfile) where it is unpacked
        self.index_entries = {}           # index URL -> its lines, for a small shuffle the
        #                                   master does (shuffle.plan reads each once)
        self.seq = 0
        self.reason = None                # [event messages] that killed it: FATAL, or WARNING+ERROR

    @property
    def stage(self):
        if 0 <= self.stage_index < len(self.pipeline):
            return self.pipeline[self.stage_index][0]
        return None

    def remember_tasks(self):
        """Keep what each task of the current stage reads, as ``(label, first replica URL)``:
        the dataflow view draws its arrows from this once the task records are gone.  Done
        when they go (the next stage, the job's end), not when they are made: a stage of a
        million tasks then holds one copy of its inputs at a time."""
        stage = self.stage
        if stage is not None and stage not in self.stage_tasks:
            self.stage_tasks[stage] = self.tasks_of(stage)

    def tasks_of(self, stage):
        """``[(taskid, group, [(label, first replica URL)])]`` of ``stage``'s tasks (None:
        not known, e.g. a stage not started or a job reloaded after a restart)."""
        known = self.stage_tasks.get(stage)
        if known is None and stage is not None and stage == self.stage:
            known = [(t.taskid, t.group, [(i[1], i[2][0] if i[2] else None) for i in t.inputs])
                     for t in self.tasks]
        return known

    def pipeline_info(self):
        """``[[stage, pending, waiting, running, done, failed]]``, as Disco's jobinfo."""
        return [[stage] + self.counts[stage] for stage, _ in self.pipeline]

    def failure(self):
        """One line saying why the job died (None unless it died of a task's failure)."""
        if self.reason is None:
            return None
        from discolite.error import failure_reason
        return failure_reason(self.reason)[0]

    def info(self):
        info = self._info()
        if self.status == 'dead' and self.reason:
            info['reason'] = self.failure()  # discolite's addition: why it died
        return info

    def _info(self):
        return {'timestamp': self.timestamp,
                'active': self.status,
                'pipeline': self.pipeline_info(),
                'results': [u for r in self.results for u in (r if isinstance(r, list) else [r])],
                'inputs': [u for i in self.inputs for u in i],
                'worker': self.jobdict.get('worker', ''),
                'hosts': [t.slot_host for t in sorted(self.running, key=lambda t: t.taskid)],
                'owner': self.jobdict.get('owner', '')}
