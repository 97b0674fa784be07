#!/usr/bin/env python3
"""The classic map/reduce worker (``disco.worker.classic.worker``).

Stages: ``map`` (one task per input), ``map_shuffle`` (concatenates map output
by label), ``reduce`` (one task per label, or one for all), ``reduce_shuffle``.
Run as a script it speaks Disco's worker protocol, so job packs built here
also run on a real Disco node.
"""
import itertools
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
from discolite.worker.task_io import StreamCombiner, replica_records

# Set to the running Task before job functions run.
Task = None


class Output(object):
    """One lazily opened output of a task: ``add(k, v)`` writes a record."""

    def __init__(self, path_type_label, streams, params):
        self.path, self.type, self.label = path_type_label
        os.makedirs(os.path.dirname(self.path) or '.', exist_ok=True)
        self.combiner = StreamCombiner(self.path, streams, params)
        self.file = self.combiner.fds[-1]
        self.add = self.file.add
        self.size = 0
        self.closed = False

    def close(self):
        if not self.closed:
            self.closed = True
            self.combiner.close()
            self.size = os.path.getsize(self.path)


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
        input = inputlist(job_input, label=None if has_map else False, settings=job.settings)
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
        for key in self:
            self[key] = self.getitem(key, job, jobargs)
        assert self['version'] == '%d.%d' % sys.version_info[:2], "Python version mismatch"
        if task.taskid == 0:  # the job's first task says what the client warned about
            from discolite.jobcheck import jobarg_messages
            for message in jobarg_messages(self, jobargs):
                protocol.send('MSG', 'WARNING: ' + message)
        params = self['params']
        self.inject_globals(task)
        getattr(self, task.stage)(task, params)

    def inject_globals(self, task):
        names = {k: v for k, v in vars(func).items()
                 if not k.startswith('_') and k not in ('map', 'reduce', 'combiner', 'partition')}
        names.update(task_globals(task))
        names.update(Worker=Worker, Params=Params, util=util, worker=sys.modules[__name__],
                     os=os, sys=sys, JOBPACK_VERSION1=JOBPACK_VERSION1)
        for mod in self['required_modules'] or ():
            name = mod[0] if isinstance(mod, (tuple, list)) else mod
            module = __import__(name, fromlist=['_'])
            names[name.split('.')[-1]] = module
        for obj in flatten(self.values()):
            for fn in _functions(obj):
                g = fn.__globals__
                if (g.get('__name__') or '').split('.')[0] == 'discolite':
                    continue  # discolite's own helpers need nothing (and must not keep task names)
                inject(g, names)

    def status_iter(self, iterator, message, interval):
        """Yield from ``iterator``, sending ``message % n`` every ``interval`` entries and at the end."""
        n = 0
        it = iter(iterator)
        if interval:
            while True:
                before = n
                for item in itertools.islice(it, interval):
                    n += 1
                    yield item
                if n - before < interval:  # a short chunk (maybe empty): the input has ended
                    break
                protocol.send('MSG', message % n)
        else:
            for n, item in enumerate(it, 1):
                yield item
        protocol.send('MSG', "Done: " + message % n)

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

    # -- stages

    def map(self, task, params):
        if self['save_results'] and self['partitions'] and not self['reduce']:
            raise NotImplementedError("Storing partitioned outputs in DDFS is not yet supported")
        inputs = self.get_inputs()
        streams = self['map_output_stream']
        fmap, combiner = self['map'], self['combiner']
        partitions, partition = self['partitions'], self['partition']
        fast_partition = partitions == 1 and partition is default_partition

        def records():
            for _iid, _label, replicas in inputs:
                yield from self.input_records(replicas, self['map_input_stream'],
                                              self['map_reader'], params)

        source = records() if len(inputs) != 1 else self.input_records(
            inputs[0][2], self['map_input_stream'], self['map_reader'], params)
        entries = self.status_iter(source, "%d entries mapped", self['status_interval'])
        self['map_init'](entries, params)
        outs = {}
        bufs = {}
        if combiner and (fast_partition or not partitions):
            # The hot path of word count: one label, one buffer; same calls as the general loop.
            part = 0 if partitions else None
            buf = bufs[part] = {}
            out = None
            for entry in entries:
                for key, value in fmap(entry, params):
                    records_ = combiner(key, value, buf, False, params)
                    if records_:
                        if out is None:
                            out = outs[part] = self.output(task, part, streams)
                        for record in records_:
                            if partitions:
                                _check_key(record[0], partition, partitions, params)
                            out.add(*record)
            entries = ()
        for entry in entries:
            for key, value in fmap(entry, params):
                if not partitions:
                    part = None
                elif fast_partition and type(key) in (str, bytes):
                    part = 0
                else:
                    part = int(partition(key, partitions, params))
                if combiner:
                    buf = bufs.get(part)
                    if buf is None:
                        buf = bufs[part] = {}
                    records_ = combiner(key, value, buf, False, params)
                    if records_:
                        out = outs.get(part) or outs.setdefault(part, self.output(task, part, streams))
                        for record in records_:
                            out.add(*record)
                else:
                    out = outs.get(part)
                    if out is None:
                        out = outs[part] = self.output(task, part, streams)
                    out.add(key, value)
        check = fast_partition and combiner
        for part, buf in bufs.items():
            if check:
                for key in buf:
                    _check_key(key, partition, partitions, params)
            records_ = combiner(None, None, buf, True, params)
            if records_:
                out = outs.get(part) or outs.setdefault(part, self.output(task, part, streams))
                for record in records_:
                    if check:
                        _check_key(record[0], partition, partitions, params)
                    out.add(*record)

    def shuffle(self, task, params):
        """Concatenate the previous stage's outputs on this node, one file per label."""
        inputs = self.get_inputs()
        bylabel = {}
        for _iid, _label, replicas in inputs:
            for label, url, _size in util.read_index(replicas[0]):
                bylabel.setdefault(label, []).append(url)
        for label in sorted(bylabel):
            path = task.path('%s-%s-%d' % (task.stage, task.group, label))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path + '.partial', 'wb') as out:
                for url in bylabel[label]:
                    with util._open_url(url) as src:
                        while True:
                            chunk = src.read(1 << 20)
                            if not chunk:
                                break
                            out.write(chunk)
            os.rename(path + '.partial', path)
            self.outputs[('shuffle', label)] = _Done(path, label)
        protocol.send('MSG', "Shuffled %d inputs into %d label(s)" % (len(inputs), len(bylabel)))

    map_shuffle = reduce_shuffle = shuffle

    def reduce(self, task, params):
        inputs = self.get_inputs()
        urls = [replicas for _iid, _label, replicas in inputs]
        if urls and all(ispartitioned(r) for r in urls):
            urls = [[u] for r in urls for u in util.parse_dir(r[0], label=task.group_label)]
        random.shuffle(urls)

        def records():
            for replicas in urls:
                yield from self.input_records(replicas, self['reduce_input_stream'],
                                              self['reduce_reader'], params)

        entries = self.status_iter(records(), "%d entries reduced", self['status_interval'])
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


def _check_key(key, partition, partitions, params):
    """Keys default_partition cannot hash fail as on Disco (checked where records leave the
    combiner, which is every distinct key, so the per-record hot loop stays lean)."""
    if type(key) is not str and type(key) is not bytes:
        partition(key, partitions, params)


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
    if injected is None:
        injected = g[_INJECTED] = set()
    for k in injected - set(names):  # e.g. a required module of an earlier job
        g.pop(k, None)
        injected.discard(k)
    for k, v in names.items():
        if k not in g or k in injected:
            g[k] = v
            injected.add(k)


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
