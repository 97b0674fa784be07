"""Job and task records, and unique job names (the master's registry)."""
import collections
import threading
import time

from discolite.master.events import timestamp

_name_lock = threading.Lock()
_last_stamp = [0]


def new_jobname(prefix):
    """``<prefix>@<megasecs>:<secs>:<microsecs>`` in lowercase hex, unique in this process."""
    with _name_lock:
        now = int(time.time() * 1e6)
        if now <= _last_stamp[0]:
            now = _last_stamp[0] + 1
        _last_stamp[0] = now
    mega, rest = divmod(now, 10 ** 12)
    secs, micro = divmod(rest, 10 ** 6)
    return '%s@%x:%x:%x' % (prefix, mega, secs, micro)


class TaskRecord(object):
    """One task of a job. ``state`` is one of waiting, running, done, failed (see scheduler)."""

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
        self.outputs = []
        self.started = None
        self.slot = None
        self.slot_host = None         # where it runs (set when it starts)
        self.msg_times = []          # (virtual) arrival times of recent MSGs, for the throttle
        self.msg_clock = None
        self.result = None

    @property
    def name(self):
        return '%s:%d' % (self.stage, self.taskid)


class JobRecord(object):
    """Everything the master knows about one job."""

    def __init__(self, name, pack, jobfile, jobhome, pipeline, inputs, in_pool):
        self.name = name
        self.pack = pack
        self.jobdict = pack.jobdict
        self.jobfile = jobfile
        self.jobhome = jobhome
        self.pipeline = pipeline          # [(stage, grouping)]
        self.inputs = inputs              # [[replica urls]]
        self.in_pool = in_pool
        self.status = 'active'
        self.start = time.time()
        self.timestamp = timestamp(self.start)
        self.finished = None
        self.stage_index = -1
        self.stage_start = None
        self.stage_results = {}           # stage -> [[dir url]]
        self.stage_labels = {}            # stage -> {dir url: set(labels)}
        self.stage_tasks = {}             # stage -> [(taskid, group, [(input id, label)])]
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
        self.max_cores = pack.jobdict.get('scheduler', {}).get('max_cores', 2 ** 31)
        self.seq = 0

    @property
    def stage(self):
        if 0 <= self.stage_index < len(self.pipeline):
            return self.pipeline[self.stage_index][0]
        return None

    def remember_tasks(self, stage):
        """Keep which inputs each task of ``stage`` reads (the dataflow view shows them
        after the task records are gone)."""
        self.stage_tasks[stage] = [(t.taskid, t.group, [(i[0], i[1]) for i in t.inputs])
                                   for t in self.tasks]

    def pipeline_info(self):
        """``[[stage, pending, waiting, running, done, failed]]``, as Disco's jobinfo."""
        return [[stage] + self.counts[stage] for stage, _ in self.pipeline]

    def info(self):
        return {'timestamp': self.timestamp,
                'active': self.status,
                'pipeline': self.pipeline_info(),
                'results': [u for r in self.results for u in (r if isinstance(r, list) else [r])],
                'inputs': [u for i in self.inputs for u in i],
                'worker': self.jobdict.get('worker', ''),
                'hosts': [t.slot_host for t in sorted(self.running, key=lambda t: t.taskid)],
                'owner': self.jobdict.get('owner', '')}
