#!/usr/bin/env python3
"""The classic map/reduce worker (``disco.worker.classic.worker``).

Stages: ``map`` (one task per input), ``map_shuffle`` (concatenates map output
by label), ``reduce`` (one task per label, or one for all), ``reduce_shuffle``.
Run as a script it speaks Disco's worker protocol, so job packs built here
also run on a real Disco node.
"""
import itertools
import operator
import os
import random
import sys

if __name__ == '__main__':  # started by a Disco node: import the real package module instead
    # Only the job home's lib/ and the standard library are needed: put lib/ first, in place
    # of this script's own directory (whose func.py/worker.py must not shadow anything).
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    from discolite.worker.classic.worker import Worker as _W
    _W.main()

from discolite import util
from discolite.error import DiscoError
from discolite.util import argcount, inputlist, isiterable, ispartitioned, flatten
from discolite.worker import JOBPACK_VERSION1, Params, protocol
from discolite.worker import Worker as BaseWorker
from discolite.worker.classic import func
from discolite.worker.classic.func import (chain_reader, default_partition, disco_output_stream,
                                           init, map_input_stream, map_output_stream,
                                           reduce_input_stream, reduce_output_stream)
from discolite.worker.task_io import Output, StreamCombiner, replica_records

# Set to the running Task before job functions run.
Task = None


class Worker(BaseWorker):
    """Runs classic jobs: ``map``, ``combiner``, ``partition``, ``reduce`` and friends."""

    jobpack_version = JOBPACK_VERSION1

    def defaults(self):
        defaults = super().defaults()
        defaults.update({'map': None,
                         'map_init': init,
                         'map_reader': None,
                         'map_input_stream': (map_input_stream,),
                         'map_output_stream': (map_output_stream, disco_output_stream),
                         'map_shuffle': None,
                         'combiner': None,
                         'partition': default_partition,
                         'partitions': 1,
                         'reduce': None,
                         'reduce_init': init,
                         'reduce_reader': chain_reader,
                         'reduce_input_stream': (reduce_input_stream,),
                         'reduce_output_stream': (reduce_output_stream, disco_output_stream),
                         'reduce_shuffle': None,
                         'ext_params': {},
                         'params': Params(),
                         'shuffle': None,
                         'sort': False,
                         'sort_buffer_size': '10%',
                         'status_interval': 100000,
                         'version': '%d.%d' % sys.version_info[:2]})
        return defaults

    # ----------------------------------------------------------------- client side

    def jobdict(self, job, **jobargs):
        from discolite.job import Job
        has_map = bool(self.getitem('map', job, jobargs))
        has_reduce = bool(self.getitem('reduce', job, jobargs))
        reduce_shuffle = bool(self.getitem('reduce_shuffle', job, jobargs))
        job_input = self.getitem('input', job, jobargs, [])
        if isinstance(job_input, Job):
            job_input = [job_input]
        if not isiterable(job_input):
            raise DiscoError("Job 'input' is not a list of input locations,"
                             "or a list of such lists: {0}".format(job_input))
        job_input = [_job_results(i) if isinstance(i, Job) else i for i in job_input]
        job_input = [u for i in job_input for u in (i if _is_results(i) else [i])]
        if _local_master(job):
            job_input = [_client_path(i) for i in job_input]
        input = inputlist(job_input, label=None if has_map else False,
                          settings=_master_settings(job))
        if has_map:
            nr_reduces = self.getitem('partitions', job, jobargs) or 1
        elif input and all(ispartitioned(i) for i in input):
            nr_reduces = 1 + max(label for i in input
                                 for label, _url, _size in util.read_index(
                                     i[0] if isinstance(i, list) else i))
        else:
            nr_reduces = 1
        jobdict = super().jobdict(job, **jobargs)
        jobdict.update({'input': input,
                        'worker': self.bin,
                        'map?': has_map,
                        'reduce?': has_reduce,
                        'reduce_shuffle?': reduce_shuffle,
                        'nr_reduces': nr_reduces})
        jobdict['save_results'] = bool(self.getitem('save', job, jobargs) or
                                       self.getitem('save_results', job, jobargs))
        if not isinstance(nr_reduces, int) or nr_reduces < 1:
            raise DiscoError("partitions must be a positive integer, None or 0, not %r"
                             % (nr_reduces,))
        return jobdict

    # ----------------------------------------------------------------- node side

    def run(self, task, job, **jobargs):
        global Task
        Task = task
        jvars = vars(job)
        on_class, plain = _job_class_keys(type(job), self)
        for key in self:
            # getitem(key, job, jobargs), without asking the job's __getattr__ for the keys
            # it can only refuse (raising and formatting an AttributeError each time)
            if key in jobargs:
                value = jobargs[key]
            elif plain and key not in on_class:
                if key in jvars:
                    value = jvars[key]
                elif key in job.proxy_functions:
                    value = getattr(job, key)
                else:
                    value = self.get(key)
            else:
                value = self.getitem(key, job, jobargs)
                if key not in jvars and key in on_class:
                    value = _fresh(value)
            self[key] = value
        assert self['version'] == '%d.%d' % sys.version_info[:2], "Python version mismatch"
        if task.taskid == 0:  # the job's first task says what the client warned about
            from discolite.jobcheck import jobarg_messages
            for message in jobarg_messages(self, jobargs):
                protocol.send('MSG', 'WARNING: ' + message)
        params = self['params']
        self.inject_globals(task)
        program = self.get(task.stage)
        if isinstance(program, dict):   # an external program packed by util.external()
            task.makedirs()
            self[task.stage] = external.prepare(self['ext_params'], task.stage, files=program,
                                                directory=task.taskpath)
            try:
                getattr(self, task.stage)(task, params)
                external.finish()
            finally:
                external.close()
        else:
            getattr(self, task.stage)(task, params)

    def inject_globals(self, task):
        names = _static_globals()
        names.update(task_globals(task))
        names.update(_STATIC_AFTER)
        for mod in self['required_modules'] or ():
            name = mod[0] if isinstance(mod, (tuple, list)) else mod
            module = __import__(name, fromlist=['_'])
            names[name.split('.')[-1]] = module
        done = set()
        for fn in _job_functions(self.values(), []):
            g = fn.__globals__
            if id(g) in done:
                continue  # functions rebuilt for the task share one globals dict
            done.add(id(g))
            if (g.get('__name__') or '').split('.')[0] == 'discolite':
                continue  # discolite's own helpers need nothing (and must not keep task names)
            inject(g, names)

    def status_iter(self, iterator, message, interval):
        """Entries of ``iterator``, sending ``message % n`` every ``interval`` entries and
        ``"Done: " + message % n`` at the end.

        The entries flow through C iterators (``islice``/``zip``/``chain``), so counting
        them adds no Python frame per entry; the messages go out when the next chunk is
        asked for, exactly where a counting generator would send them.
        """
        it = iter(iterator)
        counter = itertools.count()
        step = interval or None
        first = _FIRST

        def chunks():
            reads = n = 0
            while True:
                before = n
                # zip stops on the exhausted islice without drawing from the counter
                yield map(first, zip(itertools.islice(it, step), counter))
                n = next(counter) - reads
                reads += 1
                if step is None or n - before < step:  # a short chunk: the input has ended
                    break
                protocol.send('MSG', message % n)
            protocol.send('MSG', "Done: " + message % n)
        return itertools.chain.from_iterable(chunks())

    def output(self, task, label, streams):
        """The task's output for ``label`` (None: the unlabelled one), opened on first use."""
        out = self.outputs.get(label)
        if out is None:
            out = self.outputs[label] = Output(task.output(label), streams, self['params'])
        return out

    def input_records(self, replicas, streams, reader, params):
        """Records of one input, failing over to the next replica on DataError."""
        def failed(url, error):
            protocol.send('MSG', "Input %s failed, trying the next replica: %s" % (url, error))
        return replica_records(replicas, list(streams) + ([reader] if reader else []), params,
                               failed)

    def records(self, inputs, streams, reader, params):
        """The records of every input in turn, opened lazily; an input with one replica
        is iterated directly (no generator layer per record)."""
        chain = list(streams) + ([reader] if reader else [])

        def each():
            for _iid, _label, replicas in inputs:
                if len(replicas) != 1:
                    yield self.input_records(replicas, streams, reader, params)
                    continue
                stream = StreamCombiner(replicas[0], chain, params)
                try:
                    yield iter(stream)
                finally:
                    stream.close()
        return itertools.chain.from_iterable(each())

    # -- stages

    def map(self, task, params):
        if self['save_results'] and self['partitions'] and not self['reduce']:
            raise NotImplementedError("Storing partitioned outputs in DDFS is not yet supported")
        inputs = self.get_inputs()
        source = self.records(inputs, self['map_input_stream'], self['map_reader'], params)
        entries = self.status_iter(source, "%d entries mapped", self['status_interval'])
        self['map_init'](entries, params)
        _Map(self, task, params).run(entries)

    def shuffle(self, task, params):
        """Concatenate the previous stage's outputs on this node, one file per label.

        The inputs are read one at a time and each output is appended where it belongs
        as soon as its index is read, so a shuffle of 50,000 map outputs holds no list of
        them; a label's file gets its data in input order, as Disco's shuffle writes it.
        """
        files = _LabelFiles(task)
        count = 0
        try:
            for _iid, _label, replicas in self.iter_inputs():
                count += 1
                for label, url, _size in util.read_index(replicas[0]):
                    out = files.get(label)
                    with util._open_url(url) as src:
                        while True:
                            chunk = src.read(1 << 20)
                            if not chunk:
                                break
                            out.write(chunk)
        finally:
            files.close()
        for label in sorted(files.labels):
            path = files.path(label)
            os.rename(path + '.partial', path)
            self.outputs[('shuffle', label)] = _Done(path, label)
        protocol.send('MSG', "Shuffled %d inputs into %d label(s)" % (count, len(files.labels)))

    map_shuffle = reduce_shuffle = shuffle

    def reduce(self, task, params):
        inputs = self.get_inputs()
        urls = [replicas for _iid, _label, replicas in inputs]
        if urls and all(ispartitioned(r) for r in urls):
            urls = [[u] for r in urls for u in util.parse_dir(r[0], label=task.group_label)]
        random.shuffle(urls)
        source = self.records([(None, None, replicas) for replicas in urls],
                              self['reduce_input_stream'], self['reduce_reader'], params)
        entries = self.status_iter(source, "%d entries reduced", self['status_interval'])
        out = self.output(task, None, self['reduce_output_stream'])
        if self['sort']:
            entries = self.sort(task, entries)
        self['reduce_init'](entries, params)
        freduce = self['reduce']
        if argcount(freduce) < 3:
            for record in freduce(entries, params):
                out.add(*record)
        else:
            freduce(entries, out, params)

    def sort(self, task, entries):
        task.makedirs()
        filename = task.path('sort.dl')
        protocol.send('MSG', "Sorting %s..." % filename)
        records = util.disk_sort(self, entries, filename, self['sort_buffer_size'])
        first = next(records, _END)  # the whole input is read and sorted here
        protocol.send('MSG', "Finished sorting")
        if first is not _END:
            yield first
            yield from records


_END = object()
_CLASS_KEYS = [None, None, None]  # [job class, worker keys, (on_class, plain)] of the last task


def _job_class_keys(cls, keys):
    """``(keys cls has as attributes, plain)`` where ``plain`` says that an instance of
    ``cls`` resolves other names as a ``Job`` does: its ``__dict__``, then
    ``Job.__getattr__`` (the proxy functions).  Kept for the last class: a pool
    process serves one job."""
    keys = tuple(keys)
    if _CLASS_KEYS[0] is cls and _CLASS_KEYS[1] == keys:
        return _CLASS_KEYS[2]
    from discolite.job import Job
    on_class = frozenset(k for k in keys if hasattr(cls, k))
    plain = (issubclass(cls, Job) and getattr(cls, '__getattr__', None) is Job.__getattr__ and
             cls.__getattribute__ is object.__getattribute__)
    _CLASS_KEYS[:] = [cls, keys, (on_class, plain)]
    return on_class, plain


def _fresh(value):
    """A copy of a mutable job class attribute (e.g. ``params = {'x': 10}``): the class
    stays imported in a pool process across the job's tasks, and on Disco each task
    starts in a new process, so what ``map_init`` changes must not reach the next task."""
    if isinstance(value, (dict, list, set, Params)):
        import copy
        try:
            return copy.deepcopy(value)
        except Exception:
            return value
    return value
_FIRST = operator.itemgetter(0)


# Keys memoised per task before the memo starts over: a few MB, whatever the input size.
MEMO_LIMIT = 1 << 16


class _Map(object):
    """The map loop (DISCO-SPEC §2.4 steps 4-5), one specialised loop per case.

    Observable behaviour is Disco's: ``int(partition(key, partitions, params))`` per
    record gives the label, one combiner buffer per label is created when the label
    is first reached, outputs open on their first record, and the final combiner
    calls go through the buffers in creation order.  What changes is the cost:

    * with ``default_partition`` the label of a str, bytes or int key is computed
      once per task and memoised, and the memo hands back the label's buffer (or
      output) directly, so a record costs one dict lookup.  Only exact str/bytes keys
      go in the main memo and exact ints in their own one: keys of other types may
      be equal to them (``1 == 1.0 == True``) while their labels differ;
    * with ``partitions`` None/0, or 1 with ``default_partition`` and a combiner,
      every record has the same label and the loop has no lookup at all.  There a
      key ``default_partition`` cannot hash (a str with lone surrogates, an object
      whose ``str()`` fails) fails the task where the combiner emits it;
    * a custom ``partition`` function is still called once per record.
    """

    def __init__(self, worker, task, params):
        self.worker, self.task, self.params = worker, task, params
        self.fmap, self.combiner = worker['map'], worker['combiner']
        self.partitions, self.partition = worker['partitions'], worker['partition']
        self.streams = worker['map_output_stream']
        self.slots = {}      # label -> combiner buffer or output's add(), in creation order
        self.bylabel = {}    # id(buffer) -> label

    def run(self, entries):
        default = self.partition is default_partition
        if not self.partitions:
            single = None
        elif self.partitions == 1 and default and self.combiner:
            single = 0
        else:
            single = _END
        if self.combiner:
            if single is not _END:
                self.combine_single(entries, single)
            elif default:
                self.combine_memo(entries)
            else:
                self.combine_custom(entries)
            self.finish()
        elif single is None:
            self.plain_single(entries)
        elif default:
            self.plain_memo(entries)
        else:
            self.plain_custom(entries)

    # -- slots

    def slot(self, label):
        """The buffer (or output add) of ``label``, created when first reached."""
        slot = self.slots.get(label)
        if slot is None:
            if self.combiner:
                slot = self.slots[label] = {}
                self.bylabel[id(slot)] = label
            else:
                slot = self.slots[label] = self.worker.output(self.task, label, self.streams).add
        return slot

    def memo(self):
        """A dict of key -> slot whose missing keys get their slot from the partition
        function, memoised when that is exact (str and bytes keys here, ints apart)."""
        memo = _Memo()
        ints = {}
        slots, slot, partition = self.slots, self.slot, self.partition
        partitions, params = self.partitions, self.params

        def missing(key):
            t = type(key)
            if len(memo) + len(ints) >= MEMO_LIMIT:  # mostly distinct keys: keep memory bounded
                memo.clear()
                ints.clear()
            if t is int:
                found = ints.get(key)
                if found is None:
                    found = ints[key] = slot(int(partition(key, partitions, params)))
                return found
            label = int(partition(key, partitions, params))
            found = slots.get(label)
            if found is None:
                found = slot(label)
            if t is str or t is bytes:
                memo[key] = found
            return found
        memo.find = missing
        return memo

    def emit(self, buf, records):
        label = self.bylabel[id(buf)]
        add = self.worker.output(self.task, label, self.streams).add
        check = label == 0 and self.partitions == 1 and self.partition is default_partition
        for record in records:
            if check:
                _check_key(record[0], self.partition, self.params)
            add(*record)

    def finish(self):
        params = self.params
        for buf in self.slots.values():
            records = self.combiner(None, None, buf, True, params)
            if records:
                self.emit(buf, records)

    # -- with a combiner

    def combine_single(self, entries, label):
        fmap, combiner, params = self.fmap, self.combiner, self.params
        entries = iter(entries)
        for entry in entries:  # up to the first record, which creates the buffer
            pairs = iter(fmap(entry, params))
            for key, value in pairs:
                buf = self.slot(label)
                records = combiner(key, value, buf, False, params)
                if records:
                    self.emit(buf, records)
                break
            else:
                continue
            break
        else:
            return
        for key, value in pairs:
            records = combiner(key, value, buf, False, params)
            if records:
                self.emit(buf, records)
        for entry in entries:
            for key, value in fmap(entry, params):
                records = combiner(key, value, buf, False, params)
                if records:
                    self.emit(buf, records)

    def combine_memo(self, entries):
        fmap, combiner, params = self.fmap, self.combiner, self.params
        memo = self.memo()
        for entry in entries:
            for key, value in fmap(entry, params):
                try:
                    buf = memo[key]  # a new key: memo.__missing__ finds its slot
                except TypeError:  # an unhashable key
                    buf = memo.find(key)
                records = combiner(key, value, buf, False, params)
                if records:
                    self.emit(buf, records)

    def combine_custom(self, entries):
        fmap, combiner, params = self.fmap, self.combiner, self.params
        partition, partitions, slots = self.partition, self.partitions, self.slots
        for entry in entries:
            for key, value in fmap(entry, params):
                label = int(partition(key, partitions, params))
                buf = slots.get(label)
                if buf is None:
                    buf = self.slot(label)
                records = combiner(key, value, buf, False, params)
                if records:
                    self.emit(buf, records)

    # -- without one

    def plain_single(self, entries):
        fmap, params = self.fmap, self.params
        entries = iter(entries)
        for entry in entries:
            pairs = iter(fmap(entry, params))
            for key, value in pairs:
                add = self.slot(None)
                add(key, value)
                break
            else:
                continue
            break
        else:
            return
        for key, value in pairs:
            add(key, value)
        for entry in entries:
            for key, value in fmap(entry, params):
                add(key, value)

    def plain_memo(self, entries):
        fmap, params = self.fmap, self.params
        memo = self.memo()
        for entry in entries:
            for key, value in fmap(entry, params):
                try:
                    add = memo[key]  # a new key: memo.__missing__ finds its slot
                except TypeError:  # an unhashable key
                    add = memo.find(key)
                add(key, value)

    def plain_custom(self, entries):
        fmap, params = self.fmap, self.params
        partition, partitions, slots = self.partition, self.partitions, self.slots
        for entry in entries:
            for key, value in fmap(entry, params):
                label = int(partition(key, partitions, params))
                add = slots.get(label)
                if add is None:
                    add = self.slot(label)
                add(key, value)


class _Memo(dict):
    """A dict that asks ``find(key)`` for the keys it lacks (no KeyError round trip)."""
    __slots__ = ('find',)

    def __missing__(self, key):
        return self.find(key)


def _check_key(key, partition, params):
    """Fail on a key ``default_partition`` cannot hash (with partitions=1 every other key
    gets label 0, so only the exception matters)."""
    if type(key) is bytes or (type(key) is str and key.isascii()):
        return
    partition(key, 1, params)


class _LabelFiles(object):
    """The ``.partial`` output files of a shuffle, one per label: at most
    :attr:`MAX_OPEN` are open at once (a job may have thousands of partitions), the
    others are reopened for appending when their label comes again."""

    MAX_OPEN = 64

    def __init__(self, task):
        self.task = task
        self.labels = set()  # labels whose file was created (truncated) by this task
        self.open = {}

    def path(self, label):
        return self.task.path('%s-%s-%d' % (self.task.stage, self.task.group, label))

    def get(self, label):
        out = self.open.get(label)
        if out is None:
            if not self.labels:
                self.task.makedirs()
            elif len(self.open) >= self.MAX_OPEN:
                self.close()
            # a .partial left by an earlier attempt is truncated on first use
            out = self.open[label] = open(self.path(label) + '.partial',
                                          'ab' if label in self.labels else 'wb')
            self.labels.add(label)
        return out

    def close(self):
        files, self.open = list(self.open.values()), {}
        for f in files:
            f.close()


class _Done(object):
    """An output file that is already complete (written by a shuffle)."""

    def __init__(self, path, label):
        self.path, self.label = path, label
        self.size = os.path.getsize(path)

    def close(self):
        pass


_INJECTED = '__discolite_injected__'


def inject(g, names):
    """``setdefault`` ``names`` into the globals dict ``g``, as Disco does.

    A pool process runs many tasks, and the real module of a Job subclass stays
    imported between them: names injected for an earlier task (``Task``,
    ``this_partition``, required modules, ...) are replaced or removed, while the
    module's own names win, as in a fresh Disco worker process.
    """
    injected = g.get(_INJECTED)
    if injected is None:  # globals new to injection (those rebuilt for this task)
        injected = g[_INJECTED] = set()
        new = {k: v for k, v in names.items() if k not in g}
        g.update(new)
        injected.update(new)
        return
    for k in injected - set(names):  # e.g. a required module of an earlier job
        g.pop(k, None)
        injected.discard(k)
    for k, v in names.items():
        if k not in g or k in injected:
            g[k] = v
            injected.add(k)


_SCALARS = frozenset((str, int, float, bool, type(None)))


def _job_functions(values, out):
    """``out`` with the functions of ``_functions(x)`` for every ``x`` of
    ``util.flatten(values)`` (without a generator per level)."""
    import types
    for item in values:
        if type(item) in _SCALARS:
            continue
        if type(item) is types.FunctionType:
            out.append(item)
        elif isiterable(item):
            _job_functions(item, out)
        else:
            out.extend(_functions(item))
    return out


def _functions(obj):
    import functools
    import types
    if isinstance(obj, types.FunctionType):
        yield obj
    elif isinstance(obj, functools.partial):
        yield from _functions(obj.func)
        for a in list(obj.args) + list(obj.keywords.values()):
            yield from _functions(a)
    elif isinstance(obj, types.MethodType):
        yield from _functions(obj.__func__)
    elif isinstance(obj, Params):
        for v in vars(obj).values():
            yield from _functions(v)


def _local_master(job):
    """True when the job's master runs on this machine (it reads the client's files)."""
    from urllib.parse import urlsplit
    master = job.disco.master
    if master.startswith('local://'):
        return True
    try:
        host = urlsplit(master).hostname
    except ValueError:
        return False
    return host in ('localhost', '127.0.0.1', '::1')


def _client_path(inp):
    """A relative input path that exists in the client's working directory, made absolute
    (tasks run in their job home; on a Disco cluster a path is read on the node)."""
    if isinstance(inp, list):
        return [_client_path(i) for i in inp]
    if isinstance(inp, str) and '://' not in inp and inp and not os.path.isabs(inp) and \
            os.path.exists(inp):
        return os.path.abspath(inp)
    return inp


def _is_results(x):
    return isinstance(x, list) and x and all(isinstance(i, list) for i in x)


def _job_results(job):
    return job.wait()


_STATIC = {}
_STATIC_AFTER = {}


def _static_globals():
    """A new dict of the names every task injects before its own (func's public names)."""
    if not _STATIC_AFTER:
        _STATIC.update((k, v) for k, v in vars(func).items()
                       if not k.startswith('_') and
                       k not in ('map', 'reduce', 'combiner', 'partition'))
        _STATIC_AFTER.update(Worker=Worker, Params=Params, util=util,
                             worker=sys.modules[__name__], os=os, sys=sys,
                             JOBPACK_VERSION1=JOBPACK_VERSION1)
    return dict(_STATIC)


def task_globals(task):
    """The names Disco injects into job functions for the running task."""
    inputs = None

    def this_inputs():
        return [replicas for _iid, _label, replicas in (inputs or protocol.get_inputs())]

    return {'Task': task,
            'get': task.get,
            'put': task.put,
            'this_name': lambda: task.jobname,
            'this_master': lambda: task.master,
            'this_host': lambda: task.host,
            'this_partition': lambda: task.group_label,
            'this_inputs': this_inputs}


# ----------------------------------------------------------------------------
# Disco's module namespace: job code may import these explicitly
# (``from disco.worker.classic.worker import get, this_partition, nop_map``).

def get(*args, **kwargs):
    """``Task.get``: an OOB value of the running task's job."""
    return Task.get(*args, **kwargs)


def put(*args, **kwargs):
    """``Task.put``: store an OOB value for the running task's job."""
    return Task.put(*args, **kwargs)


def this_inputs():
    """The replica lists of the running task's inputs."""
    return [replicas for _iid, _label, replicas in protocol.get_inputs()]


def this_name():
    return Task.jobname


def this_master():
    return Task.master


def this_host():
    return Task.host


def this_partition():
    return Task.group_label


def _reexport_func():
    # Everything of func (so of task_io too), without hiding this module's own names
    # or the builtins its code uses (func.map is only a documentation stub).
    import builtins
    g = globals()
    for k, v in vars(func).items():
        if not k.startswith('_') and k not in g and not hasattr(builtins, k):
            g[k] = v


_reexport_func()
from discolite.worker.classic import external  # noqa: E402,F401
def _master_settings(job):
    """The job's settings with DISCO_MASTER set to the master it runs on, so that tag://
    inputs are expanded by that master's DDFS."""
    from discolite.settings import DiscoSettings
    settings = job.settings
    master = getattr(getattr(job, 'disco', None), '_master', None)
    if master and settings['DISCO_MASTER'] != master:
        settings = DiscoSettings(settings)
        settings['DISCO_MASTER'] = master
    return settings
