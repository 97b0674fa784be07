#!/usr/bin/env python3
"""The pipeline worker (``disco.worker.pipeline.worker``, job pack version 2).

A pipeline job is ``Job(worker=Worker()).run(pipeline=[(grouping, Stage), ...])``.
Each task runs one :class:`Stage`: ``init(interface, params)`` once, then
``process(interface, state, label, inp)`` per input (or per label with
``combine=True``), then ``done(interface, state)``; records are written with
``interface.output(label).add(key, value)`` to integer labels.  The grouping of
a stage decides which outputs of the previous stage each of its tasks reads
(``split``, ``group_label``, ``group_node_label``, ``group_node``,
``group_all``; see docs/pipeline.md).  Run as a script it speaks Disco's worker
protocol, so pipeline job packs built here also run on a real Disco node.
"""
import os
import sys

if __name__ == '__main__':  # started by a Disco node: import the real package module instead
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    from discolite.worker.pipeline.worker import Worker as _W
    _W.main()

import copy  # noqa: E402  (reachable as module attributes, as in Disco's module)
from collections import defaultdict, namedtuple  # noqa: E402,F401
from itertools import chain  # noqa: E402,F401

from discolite import util  # noqa: E402
from discolite.error import DiscoError  # noqa: E402
from discolite import worker  # noqa: E402
from discolite.worker import JOBPACK_VERSION2, Params, protocol  # noqa: E402
from discolite.worker import task_io  # noqa: E402
from discolite.worker.task_io import (Output, StreamCombiner, chain_reader, disco_output_stream,  # noqa: E402
                                      replica_records, task_input_stream, task_output_stream)

# Concurrent tasks of one job share a job home: do not race on __pycache__ (as Disco does).
sys.dont_write_bytecode = True

TaskInfo = namedtuple('TaskInfo', ('jobname', 'host', 'stage', 'group', 'label'))
DiscoTask = namedtuple('DiscoTask', ('output',))


def SerialInput(inputs):
    """Every ``(key, value)`` record of every input, one input after the other."""
    for inp in inputs:
        for k, v in inp:
            yield k, v


def input_hook(state, input_labels):
    """The default input hook: the labels in the order the task met them."""
    return input_labels


class Stage(object):
    """One stage of a pipeline: its entry points and options (see the module docstring)."""

    pipeline_input_chain = [task_input_stream]
    interior_input_chain = [task_input_stream, chain_reader]
    default_output_chain = [task_output_stream, disco_output_stream]

    def __init__(self, name='', init=None, process=None, done=None, input_hook=input_hook,
                 input_chain=[], output_chain=[], combine=False, sort=False):
        self.name = name
        self.init = init
        self.process = process
        self.done = done
        self.input_hook = input_hook
        self.input_chain = input_chain
        self.output_chain = output_chain
        self.combine = combine
        self.sort = sort
        self.taskinfo = None

    @classmethod
    def default_input_chain(cls, pipe_index):
        return cls.pipeline_input_chain if pipe_index == 0 else cls.interior_input_chain

    def _callables(self):
        return [f for f in [self.init, self.process, self.done, self.input_hook]
                + list(self.input_chain) + list(self.output_chain) if callable(f)]

    def __repr__(self):
        return 'Stage(%r)' % (self.name,)


class TaskInput(object):
    """A job input or data item as the task sees it: ``id``, ``label``, ``locations``."""

    def __init__(self, id, label, locations):
        self.id, self.label, self.locations = id, label, locations

    def __repr__(self):
        return 'TaskInput(%r, %r, %r)' % (self.id, self.label, self.locations)


class Input(object):
    """One input of a task: iterating yields its records, failing over between replicas.

    ``input`` is the data URL (an entry of an index file) or the :class:`TaskInput`.
    """

    def __init__(self, input, replicas, streams, params):
        self.input = input
        self.replicas = replicas
        self.streams = streams
        self.params = params

    def __iter__(self):
        def failed(url, error):
            protocol.send('MSG', "Input %s failed, trying the next replica: %s" % (url, error))
        return replica_records(self.replicas, self.streams, self.params, failed)

    def __repr__(self):
        return 'Input(%r)' % (self.input,)


class _NoMessages(object):
    """The pipeline worker sends no sort messages (disk_sort looks for ``send``)."""


class Worker(worker.Worker):
    """Builds version-2 job packs on the client; runs one task of one stage on the node."""

    jobpack_version = JOBPACK_VERSION2
    group_ops = {'split', 'group_label', 'group_node', 'group_all', 'group_node_label'}

    def defaults(self):
        defaults = super().defaults()
        defaults.update({'pipeline': [], 'version': '%d.%d' % sys.version_info[:2]})
        return defaults

    # ----------------------------------------------------------------- client side

    def _pipeline(self, pipeline):
        """``[[name, grouping, concurrent]]``, with the client's checks (Disco's messages)."""
        out = []
        names = set()
        for item in pipeline:
            if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
                raise DiscoError("Bad Stage {0}".format(item))
            grouping, stage = item[0], item[1]
            concurrent = item[2] if len(item) == 3 else False
            if grouping not in self.group_ops:
                raise DiscoError("Unknown grouping {0}".format(grouping))
            if not isinstance(stage, Stage):
                # Disco fails later (AttributeError here, or on the node): say it plainly now.
                raise DiscoError("Bad Stage {0}: {1!r} is not a Stage".format(item, stage))
            if stage.name in names:
                raise DiscoError("Repeated stage {0}".format(stage.name))
            names.add(stage.name)
            out.append([stage.name, grouping, concurrent])
        return out

    def jobdict(self, job, **jobargs):
        pipeline = self._pipeline(self.getitem('pipeline', job, jobargs, []))
        job_input = self.getitem('input', job, jobargs, [])
        if not util.isiterable(job_input):
            raise DiscoError("Job 'input' is not a list of input locations,"
                             "or a list of such lists: {0}".format(job_input))
        inputs = util.inputlist(job_input, label=None, settings=job.settings)
        jobdict = super().jobdict(job, **jobargs)
        jobdict.update({'worker': self.bin,
                        'pipeline': pipeline,
                        'inputs': [[0, 0, list(i) if isinstance(i, tuple) else i]
                                   for i in inputs]})
        return jobdict

    # ----------------------------------------------------------------- node side

    def run(self, task, job, **jobargs):
        for key in self:
            self[key] = self.getitem(key, job, jobargs)
        assert self['version'] == '%d.%d' % sys.version_info[:2], "Python version mismatch"
        self._share_globals()
        params = self.getitem('params', job, jobargs, Params())
        stages = dict((stage.name, (index, stage))
                      for index, (grouping, stage) in enumerate(self['pipeline']))
        index, stage = stages[task.stage]
        stage.taskinfo = TaskInfo(task.jobname, task.host, task.stage, task.group,
                                  task.group_label)
        if not stage.input_chain:
            stage.input_chain = Stage.default_input_chain(index)
        if not stage.output_chain:
            stage.output_chain = Stage.default_output_chain
        self.run_stage(task, stage, params)

    def _share_globals(self):
        """Give the functions among the worker's values this module's names (not Stage
        functions: they are not among them, as on Disco)."""
        import types
        names = dict(globals())
        for mod in self['required_modules'] or ():
            name = mod[0] if isinstance(mod, (tuple, list)) else mod
            names[name.split('.')[-1]] = __import__(name, fromlist=['_'])
        for value in self.values():
            if isinstance(value, types.FunctionType):
                g = value.__globals__
                if (g.get('__name__') or '').split('.')[0] != 'discolite':
                    for k, v in names.items():
                        g.setdefault(k, v)

    def output(self, task, label, stage, params):
        """The last stream of the output opened for ``label`` (opened once per task)."""
        out = self.outputs.get(label)
        if out is None:
            out = self.outputs[label] = Output(task.output(label), stage.output_chain, params)
        return out.file

    def input_map(self, task, stage, params):
        """label -> [Input], labels in first-seen order, inputs in the master's order."""
        bylabel = {}
        for iid, label, replicas in self.get_inputs():
            if replicas and all(url.startswith('dir://') for url in replicas):
                for line_label, url, _size in sorted(util.read_index(replicas[0])):
                    if label == 'all' or line_label == label:
                        bylabel.setdefault(line_label, []).append(
                            Input(url, [url], stage.input_chain, params))
            else:
                bylabel.setdefault(label, []).append(
                    Input(TaskInput(iid, label, replicas), replicas, stage.input_chain, params))
        return bylabel

    def run_stage(self, task, stage, params):
        interface = DiscoTask(output=lambda label=None: self.output(task, label, stage, params))
        state = stage.init(interface, params) if callable(stage.init) else None
        if callable(stage.process):
            bylabel = self.input_map(task, stage, params)
            for label in stage.input_hook(state, bylabel.keys()):
                inputs = bylabel.get(label, [])
                if stage.combine:
                    records = SerialInput(inputs)
                    if stage.sort:
                        records = self.sorted(task, records)
                    stage.process(interface, state, label, records)
                else:
                    for inp in inputs:
                        stage.process(interface, state, label, inp)
        if callable(stage.done):
            stage.done(interface, state)

    def sorted(self, task, records):
        """Records in byte order of their (bytes) keys, sorted on disk in the task directory."""
        task.makedirs()
        return util.disk_sort(_NoMessages(), records, task.path('sort.dl'))
