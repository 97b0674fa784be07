"""Pipeline jobs whose stages are class attributes (so they keep this module's globals).

The stage functions report what their task saw, like the stage functions of the
``pipeline_*`` captures: ``collect`` writes, per task, ``((taskid, group),
[(label, source, records), ...])`` where ``source`` is the data URL of an index
line or the replica list of a data item.
"""
from discolite.job import Job
from discolite.worker.pipeline.worker import Stage, Worker

# what emit sends where (spec 7.3): a -> labels 0 and 1, b -> 1 and 2, c -> 2
EMIT = {'a': (0, 1), 'b': (1, 2), 'c': (2,)}
GROUPINGS = ('split', 'group_label', 'group_node_label', 'group_node', 'group_all')


def running_task():
    from discolite import worker
    return worker.active_task


def emit(interface, state, label, inp):
    for line in inp:
        for out in EMIT[line]:
            interface.output(out).add('%s->%d' % (line, out), out)


def collect_init(interface, params):
    return []


def collect(interface, state, label, inp):
    source = inp.input if isinstance(inp.input, str) else inp.input.locations
    state.append((label, source, list(inp)))


def collect_done(interface, state):
    task = running_task()
    interface.output(0).add((task.taskid, task.group, task.host), state)


def _collect():
    return Stage('collect', init=collect_init, process=collect, done=collect_done)


class PipeJob(Job):
    Worker = Worker


def _job_class(name, pipeline):
    cls = type(name, (PipeJob,), {'pipeline': pipeline, '__module__': __name__})
    cls.__qualname__ = name
    return cls


# the grouping as the second stage, after a split emitting to labels 0-2 (pipeline_group_*)
SECOND = {g: _job_class('Second_' + g, [('split', Stage('emit', process=emit)),
                                        (g, _collect())]) for g in GROUPINGS}
# the grouping as the only stage, on the job inputs (pipeline_first_*)
FIRST = {g: _job_class('First_' + g, [(g, _collect())]) for g in GROUPINGS}
globals().update({cls.__name__: cls for cls in list(SECOND.values()) + list(FIRST.values())})


# -- word count (pipeline_wordcount), with the number of labels as a parameter

def wc_params(interface, params):
    return params


def wc_map(interface, state, label, inp):
    labels = getattr(state, 'labels', 2)
    for line in inp:
        for word in line.split('_'):
            if word:
                interface.output(len(word) % labels).add(word, 1)


def wc_init(interface, params):
    return {}


def wc_reduce(interface, state, label, inp):
    for word, count in inp:
        state[word] = state.get(word, 0) + count


def wc_done(interface, state):
    out = interface.output(0)
    for word, count in sorted(state.items()):
        out.add(word, count)


class WordCount(PipeJob):
    pipeline = [('split', Stage('map', init=wc_params, process=wc_map)),
                ('group_label', Stage('reduce', init=wc_init, process=wc_reduce, done=wc_done,
                                      combine=True))]


# -- sorting (pipeline_sort): combine=True, sort=True

def sort_map(interface, state, label, inp):
    for line in inp:
        for word in line.split('_'):
            interface.output(0).add(word.encode(), len(word))


def sort_reduce(interface, state, label, inp):
    out = interface.output(0)
    for key, value in inp:
        out.add(key, value)


class SortJob(PipeJob):
    pipeline = [('split', Stage('map', process=sort_map)),
                ('group_label', Stage('reduce', process=sort_reduce, combine=True, sort=True))]


# -- small stage functions for the behaviour tests

def fail_process(interface, state, label, inp):
    raise ZeroDivisionError('stage function failed on purpose')


def str_label(interface, state, label, inp):
    interface.output('x').add('k', 'v')


def per_input(interface, state, label, inp):
    out = interface.output(0)
    for key, value in inp:
        out.add(key, value)
    out.add(b'--call--', 0)


def params_init(interface, params):
    interface.output(0).add('params', (type(params).__name__, sorted(vars(params).items())))


def hook_sorted(state, labels):
    return sorted(labels)


def multilabel(interface, state, label, inp):
    for line in inp:
        interface.output(0).add(line, 0)
        interface.output(2).add(line, 2)
    interface.output(7)


class FailJob(PipeJob):
    pipeline = [('split', Stage('map', process=fail_process))]


class StrLabelJob(PipeJob):
    pipeline = [('split', Stage('map', process=str_label))]


class SortNoCombineJob(PipeJob):
    pipeline = [('split', Stage('map', process=sort_map)),
                ('group_all', Stage('reduce', process=per_input, sort=True))]


class SortStrKeysJob(PipeJob):
    pipeline = [('split', Stage('map', process=emit)),
                ('group_all', Stage('reduce', process=sort_reduce, combine=True, sort=True))]


class ParamsJob(PipeJob):
    pipeline = [('group_all', Stage('only', init=params_init))]


class HookJob(PipeJob):
    pipeline = [('split', Stage('emit', process=emit)),
                ('group_all', Stage('collect', init=collect_init, process=collect,
                                    done=collect_done, input_hook=hook_sorted))]


class MultiLabelJob(PipeJob):
    pipeline = [('split', Stage('multi', process=multilabel))]


class MultiLabelNextJob(PipeJob):
    pipeline = [('split', Stage('multi', process=multilabel)),
                ('group_label', _collect())]


class ConcurrentJob(PipeJob):
    pipeline = [('split', Stage('map', process=emit)),
                ('group_all', _collect(), True)]


WORD_COUNT = {'group_label': WordCount}
for _g in ('group_node_label', 'group_all'):
    WORD_COUNT[_g] = _job_class('WordCount_' + _g, [
        ('split', Stage('map', init=wc_params, process=wc_map)),
        (_g, Stage('reduce', init=wc_init, process=wc_reduce, done=wc_done, combine=True))])
    globals()[WORD_COUNT[_g].__name__] = WORD_COUNT[_g]
