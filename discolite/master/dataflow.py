"""The dataflow view's data: a job as inputs -> tasks of each stage -> their output files.

``GET /disco/ctrl/dataflow?name=J`` (a discolite extension: a real Disco master
answers 404) describes the job from the master's own records:

* the event log (parsed incrementally and cached per job): when and where each
  task ran, how long it took, its failures and retries, its ``Done: N entries
  ...`` record count;
* the index files in the job home (``.disco/<stage>-<taskid>-<t>.results``):
  the files each finished task wrote, with their label and size, and the
  number of records in each, counted once per file (see :func:`count_records`);
* ``JobRecord.stage_tasks``: which inputs (job inputs, or the outputs of the
  previous stage's tasks, by label) each task read;
* the live task records of the running stage (state, host, start time).

``&task=ID`` answers the events of one task instead.
"""
import collections
import io
import json
import os
import pickle
import re
import threading
import time
import zlib
from urllib.parse import unquote

TASK = r'(?P<stage>[^\s\[\]:]+):(?P<id>\d+)'
ASSIGNED = re.compile(r'^%s assigned to (?P<host>.+)$' % TASK)
DONE = re.compile(r'^DONE: \[%s\] Task finished in (?P<h>\d+):(?P<m>\d+):(?P<s>[\d.]+)' % TASK)
ENTRIES = re.compile(r'^MSG: \[%s\] Done: (?P<n>\d+) entries ' % TASK)
WARNING = re.compile(r'^WARNING: \[%s\] (?P<text>.*)' % TASK, re.S)
RETRY = re.compile(r'^Task %s failed on "(?P<host>[^"]*)", (?P<n>\d+)th failures so far' % TASK)
FAILED = re.compile(r'^(?:ERROR|FATAL): \[%s\] (?P<text>.*)' % TASK, re.S)
ABOUT = re.compile(r'^(?:[A-Z]+: \[%s\]|%s assigned to |Task %s failed on )'
                   % (TASK, TASK.replace('?P<', '?P<a'), TASK.replace('?P<', '?P<b')))
SCHEDULED = re.compile(r'^Stage (?P<stage>\S+) scheduled with (?P<n>\d+) tasks$')
LOCAL_URL = re.compile(r'^(?:disco|dir)://[^/]+/disco/(.+)$')
INDEX_NAME = re.compile(r'^(?P<stage>.+)-(?P<id>\d+)-(?P<t>\d+)\.results$')

MAX_COUNT_BYTES = 64 << 20     # files larger than this are not opened to count records
MAX_TASK_EVENTS = 2000         # events returned for one task


def _task_key(m):
    return int(m.group('id'))


class _Log(object):
    """What the event log of one job says about its tasks (parsed from ``offset`` on)."""

    def __init__(self):
        self.offset = 0
        self.tasks = {}          # taskid -> dict
        self.scheduled = {}      # stage -> number of tasks
        self.lines = 0
        self.lock = threading.Lock()  # two requests must not feed the same lines twice

    def task(self, stage, taskid):
        t = self.tasks.get(taskid)
        if t is None:
            t = self.tasks[taskid] = {'id': taskid, 'stage': stage, 'state': 'waiting',
                                      'failures': 0, 'host': None, 'assigned': None,
                                      'duration': None, 'records_in': None, 'error': None,
                                      'runs': 0}
        return t

    def feed(self, data):
        """Parse complete lines of ``data`` (bytes read from ``offset``)."""
        end = data.rfind(b'\n') + 1
        for line in data[:end].decode('ascii', 'replace').splitlines():
            try:
                stamp, host, msg = json.loads(line)
            except (ValueError, TypeError):
                continue
            self.lines += 1
            self.line(stamp, host, msg)
        self.offset += end

    def line(self, stamp, host, msg):
        if host == 'master':
            m = ASSIGNED.match(msg)
            if m:
                t = self.task(m.group('stage'), _task_key(m))
                t.update(state='running', host=m.group('host'), assigned=_epoch(stamp),
                         duration=None)
                t['runs'] += 1
                return
            m = SCHEDULED.match(msg)
            if m:
                self.scheduled[m.group('stage')] = int(m.group('n'))
                return
            m = RETRY.match(msg)
            if m:
                t = self.task(m.group('stage'), _task_key(m))
                t.update(state='waiting', failures=int(m.group('n')))
                return
            m = WARNING.match(msg)
            if m:
                t = self.task(m.group('stage'), _task_key(m))
                t['error'] = _gist(m.group('text'))
                return
            m = FAILED.match(msg)
            if m:
                t = self.task(m.group('stage'), _task_key(m))
                t['state'] = 'failed'
                t['error'] = _gist(m.group('text'))
                return
            return
        m = DONE.match(msg)
        if m:
            t = self.task(m.group('stage'), _task_key(m))
            t.update(state='done', duration=int(m.group('h')) * 3600 + int(m.group('m')) * 60
                     + float(m.group('s')))
            if host:
                t['host'] = host
            return
        m = ENTRIES.match(msg)
        if m:
            self.task(m.group('stage'), _task_key(m))['records_in'] = int(m.group('n'))


def _gist(text):
    """One line of an error: the exception of a traceback, else the first line."""
    lines = [l for l in text.splitlines() if l.strip()]
    if not lines:
        return ''
    return lines[-1].strip() if lines[0].startswith('Traceback') else lines[0]


def _epoch(stamp):
    try:
        return time.mktime(time.strptime(stamp, '%Y/%m/%d %H:%M:%S'))
    except (ValueError, TypeError, OverflowError):
        return None


# ---------------------------------------------------------------------------- record counts

class _Anything(object):
    """Stands for every class a pickle names: counting records must not import or run code."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass

    def __setitem__(self, key, value):
        pass

    def append(self, item):
        pass

    def extend(self, items):
        pass


class _CountingUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        return _Anything

    def persistent_load(self, pid):
        return None


def count_records(path):
    """Records in a file of Disco's internal format (v1 hunks or v0 netstrings), else None.

    Pickled records are loaded with every class replaced by a placeholder, so no job code
    runs in the master and nothing is imported.
    """
    try:
        if os.path.getsize(path) > MAX_COUNT_BYTES:
            return None
        with open(path, 'rb') as f:
            data = f.read()
    except OSError:
        return None
    if not data:
        return 0
    try:
        if data[0] < 128:
            return _count_v0(data)
        return _count_v1(data)
    except Exception:
        return None


def _count_v1(data):
    header = 14
    pos = n = 0
    while pos < len(data):
        if data[pos] != 129 or pos + header > len(data):
            return None
        compressed = data[pos + 1]
        size = int.from_bytes(data[pos + 6:pos + 14], 'little')
        if size == 0:
            break
        hunk = data[pos + header:pos + header + size]
        if len(hunk) < size:
            return None
        pos += header + size
        payload = zlib.decompress(hunk) if compressed else hunk
        unpickler = _CountingUnpickler(io.BytesIO(payload))
        while True:
            try:
                unpickler.load()
            except EOFError:
                break
            n += 1
    return n


def _count_v0(data):
    pos = n = 0
    while pos < len(data):
        for _ in (0, 1):  # "<len> <key> <len> <value>\n"
            space = data.index(b' ', pos)
            pos = space + 1 + int(data[pos:space]) + 1
        n += 1
    return n


# ---------------------------------------------------------------------------- the view

class Dataflow(object):
    """Builds the dataflow JSON of a master's jobs; caches parsed events and record counts."""

    def __init__(self, master):
        self.master = master
        self.lock = threading.Lock()
        self.logs = collections.OrderedDict()     # (job name, seq) -> _Log
        self.counts = collections.OrderedDict()   # (path, size, mtime) -> records
        self.parsed = collections.OrderedDict()   # (index path, size) -> (url, outputs)

    def _log(self, job):
        key = (job.name, job.seq)
        with self.lock:
            log = self.logs.pop(key, None) or _Log()
            self.logs[key] = log
            while len(self.logs) > 32:
                self.logs.popitem(last=False)
        with log.lock:
            data = job.events.read(log.offset)
            if data:
                log.feed(data)
        return log

    def _count(self, path):
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = (path, st.st_size, st.st_mtime_ns)
        with self.lock:
            if key in self.counts:
                return self.counts[key]
        n = count_records(path)
        with self.lock:
            self.counts[key] = n
            while len(self.counts) > 50000:
                self.counts.popitem(last=False)
        return n

    def _local(self, url):
        """A ``disco://`` or ``dir://`` URL of a file in this master's data directory (any of
        its nodes) as (file path, web path); (None, None) for anything else."""
        m = LOCAL_URL.match(url)
        if m:
            path = self.master.storage.resolve_data_path(unquote(m.group(1)))
            if path is not None:
                return path, '/disco/' + m.group(1)
        return None, None

    def _indexes(self, job):
        """``{taskid: (stage, index url, [output dicts])}`` from the job's index files.

        An index file never changes once written, so each is parsed (and its files'
        records counted) once; the size in the key guards against reading one half written.
        """
        entries = []
        storage = self.master.storage
        for host in storage.hosts():
            try:
                directory = os.path.join(storage.jobhome(job, host), '.disco')
                entries.extend((host, e) for e in os.scandir(directory))
            except (OSError, ValueError):  # no such directory: nothing ran on that node
                continue
        entries.sort(key=lambda he: he[1].name)
        found = {}
        for host, entry in entries:
            m = INDEX_NAME.match(entry.name)
            if not m:
                continue
            try:
                key = (entry.path, entry.stat().st_size)
            except OSError:
                continue
            with self.lock:
                parsed = self.parsed.get(key)
            if parsed is None:
                parsed = self._parse_index(job, host, entry.name, entry.path)
                if parsed is None:
                    continue
                with self.lock:
                    self.parsed[key] = parsed
                    while len(self.parsed) > 20000:
                        self.parsed.popitem(last=False)
            found[int(m.group('id'))] = (m.group('stage'),) + parsed
        return found

    def _parse_index(self, job, host, name, path):
        storage = self.master.storage
        url = 'dir://%s/%s/.disco/%s' % (host, storage.job_url_prefix(job, host), name)
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError:
            return None
        outputs = []
        for line in lines:
            parts = line.split()
            if len(parts) < 2:
                continue
            label, out_url = parts[0], parts[1]
            size = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None
            file_path, web = self._local(out_url)
            outputs.append({'label': int(label) if label.lstrip('-').isdigit() else label,
                            'url': out_url, 'href': web, 'bytes': size,
                            'records': self._count(file_path) if file_path else None})
        outputs.sort(key=lambda o: (str(type(o['label'])), o['label']))
        return url, outputs

    def describe(self, job):
        """The dataflow of ``job`` as a JSON-able dict (see the module docstring)."""
        scheduler = self.master.scheduler
        with scheduler.lock:  # a consistent snapshot of the live records
            status = job.status
            pipeline = list(job.pipeline)
            stage_tasks = {s: job.tasks_of(s) for s, _g in pipeline}
            counts = {s: list(c) for s, c in job.counts.items()}
            live = {t.taskid: (t.state, t.failures, t.started, t.slot_host)
                    for t in job.tasks}
            inputs = [list(i) for i in job.inputs]
            results = [u for r in job.results for u in (r if isinstance(r, list) else [r])]
            started, finished = job.start, job.finished
            current = job.stage
        log = self._log(job)
        indexes = self._indexes(job)
        now = time.time()
        by_index_url, by_output_url = {}, {}
        for taskid, (stage, url, outputs) in indexes.items():
            by_index_url[url] = taskid
            for o in outputs:
                by_output_url[o['url']] = taskid
        input_ids = {}
        for i, urls in enumerate(inputs):
            input_ids.setdefault(urls[0] if urls else None, []).append(i)
        first_reads = {}  # job input URL -> next input index (the same URL may come twice)
        stages = []
        for position, (stage, grouping) in enumerate(pipeline):
            tasks = []
            groups = stage_tasks.get(stage)
            if groups is None:  # e.g. a job reloaded after a restart: what the log and the
                # index files know, without what each task read
                ids = sorted({i for i, t in log.tasks.items() if t['stage'] == stage} |
                             {i for i, x in indexes.items() if x[0] == stage})
                groups = [(i, (None, None), []) for i in ids] if ids else None
            first = position == 0
            for taskid, group, task_inputs in groups or ():
                ev = log.tasks.get(taskid, {})
                state = ev.get('state', 'waiting')
                failures = ev.get('failures', 0)
                host = ev.get('host')
                t0 = ev.get('assigned')
                if taskid in live:
                    state, failures, t0, host = live[taskid][0], live[taskid][1], \
                        live[taskid][2] or t0, live[taskid][3] or host
                if status != 'active' and state == 'running':
                    state = 'stopped'  # the job ended while it ran
                duration = ev.get('duration')
                if state == 'running' and t0:
                    duration = max(0.0, now - t0)
                index = indexes.get(taskid)
                outputs = index[2] if index else []
                records_out = _sum(o['records'] for o in outputs) if index else None
                reads = []
                for label, url in task_inputs:
                    if first:
                        ids = input_ids.get(url, [])
                        k = first_reads.get(url, 0)
                        first_reads[url] = k + 1
                        reads.append({'input': ids[k % len(ids)] if ids else None,
                                      'label': label})
                    else:
                        src = by_index_url.get(url, by_output_url.get(url))
                        if src is None and url:
                            m = INDEX_NAME.match(url.rsplit('/', 1)[-1])
                            src = int(m.group('id')) if m else None
                        reads.append({'task': src, 'label': label})
                tasks.append({'id': taskid, 'name': '%s:%d' % (stage, taskid), 'state': state,
                              'failures': failures, 'retried': failures > 0,
                              'host': host, 'group': [group[0], group[1]],
                              'duration': duration, 'records_in': ev.get('records_in'),
                              'records_out': records_out,
                              'bytes_out': _sum(o['bytes'] for o in outputs) if index else None,
                              'index': index[1] if index else None, 'outputs': outputs,
                              'inputs': reads, 'error': ev.get('error')})
            for t in tasks:  # what a task read: the files of its inputs, when it does not say
                if t['records_in'] is None and not first and t['inputs']:
                    t['records_in'] = _sum(_read_records(indexes.get(i['task']), i['label'])
                                           for i in t['inputs'])
            stages.append({'name': stage, 'grouping': grouping,
                           'scheduled': groups is not None,
                           'current': stage == current and status == 'active',
                           'counts': counts.get(stage), 'tasks': tasks})
        input_list = []
        for i, urls in enumerate(inputs):
            url = urls[0] if urls else ''
            input_list.append({'index': i, 'url': url, 'replicas': urls,
                               'bytes': _input_size(url)})
        result_list = [{'url': u, 'task': by_index_url.get(u),
                        'href': self._local(u)[1]} for u in results]
        return {'name': job.name, 'status': status, 'start': started, 'finished': finished,
                'now': now, 'host': self.master.storage.host, 'events': log.lines,
                'stages': stages, 'inputs': input_list, 'results': result_list}

    def task_events(self, job, taskid):
        """The events about task ``taskid``, oldest first (at most MAX_TASK_EVENTS)."""
        out = []
        for line in job.events.read().decode('ascii', 'replace').splitlines():
            try:
                stamp, host, msg = json.loads(line)
            except (ValueError, TypeError):
                continue
            m = ABOUT.match(msg)
            if m and int(m.group('id') or m.group('aid') or m.group('bid')) == taskid:
                out.append([stamp, host, msg])
        return out[-MAX_TASK_EVENTS:]


def _read_records(index, label):
    """Records in the files of ``index`` (a task's index entry) with ``label`` ('all': all)."""
    if index is None:
        return None
    return _sum(o['records'] for o in index[2] if label == 'all' or o['label'] == label)


def _sum(values):
    total = 0
    for v in values:
        if v is None:
            return None
        total += v
    return total


def _input_size(url):
    """Bytes of a ``raw://`` input (other inputs are not looked at: they may be anywhere)."""
    if url.startswith('raw://'):
        return len(unquote(url[len('raw://'):]).encode('utf-8'))
    return None


def endpoint(master):
    """The handler of ``GET /disco/ctrl/dataflow?name=J[&task=ID]`` for ``master``."""
    from discolite.master import names
    from discolite.master.endpoints import BadRequest, not_found, ok
    view = Dataflow(master)

    def dataflow(request):
        job = master.scheduler.jobs.get(names.lookup(request.query.get('name')))
        if job is None:
            return not_found()
        task = request.query.get('task')
        if task is not None:
            if not task.isdigit():
                raise BadRequest("integer expected, '%s' received" % task)
            return ok(view.task_events(job, int(task)))
        return ok(view.describe(job))
    return dataflow
