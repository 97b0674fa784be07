"""Parameters and job functions (DISCO-SPEC §2.1-2.2, §11.2 Parameters and functions)."""
import datetime
import functools

import pytest

from discolite import Job, Params
from discolite.worker.classic.func import chain_reader, nop_reduce, sum_reduce
from discolite.worker.classic.func import map_input_stream, reduce_input_stream
from discolite.worker.task_io import task_output_stream

from tests.engine import jobs_mod
from tests.engine.common import results, run_results


def fun1(a, b):
    return a + b


def fun2(x):
    return x * 2


def test_params_object_with_functions_and_values(disco):
    def fmap(e, params):
        yield e, params.f2(params.f1(params.x, int(e)))

    def freduce(iter, params):
        for k, v in iter:
            yield k, (v, params.now.year)
    params = Params(x=5, f1=fun1, f2=fun2, now=datetime.datetime(2012, 1, 2))
    got = run_results(disco, input=['raw://1', 'raw://2'], map=fmap, reduce=freduce,
                      params=params)
    assert sorted(got) == [('1', (12, 2012)), ('2', (14, 2012))]


def test_map_init_skips_first_entry_and_each_task_starts_from_original_params(disco):
    def init(iter, params):
        next(iter)
        params['inits'] = params.get('inits', 0) + 1

    def fmap(e, params):
        params['seen'] = params.get('seen', 0) + 1
        yield e.strip(), (params['inits'], params['seen'])
    inputs = ['raw://skip\nA\nB', 'raw://skip\nC']
    got = run_results(disco, input=inputs, map=fmap, map_init=init, params={})
    # every task starts from the original (empty) params: counters restart per task
    assert sorted(got) == [('A', (1, 1)), ('B', (1, 2)), ('C', (1, 1))]


def test_reduce_init_sets_params(disco):
    def rinit(iter, params):
        params['prefix'] = 'r%d-' % this_partition()  # noqa: F821

    def freduce(iter, params):
        for k, v in iter:
            yield params['prefix'] + k, v

    def fmap(e, params):
        yield e, 1
    got = run_results(disco, input=['raw://a', 'raw://b'], map=fmap, reduce=freduce,
                      reduce_init=rinit, params={})
    assert sorted(got) == [('r0-a', 1), ('r0-b', 1)]


def _pmap(e, params, mult=1):
    yield e, int(e) * mult


def _pinit(iter, params, key='k', value=None):
    params[key] = value


def _pcombiner(key, value, buf, done, params, offset=0):
    if done:
        return [(k, v + offset) for k, v in buf.items()]
    buf[key] = buf.get(key, 0) + value


def _preduce_out(iter, out, params, extra):
    for k, v in iter:
        out.add(k, (v, extra, params['init']))


def _preduce_gen(iter, params, extra='gen'):
    for line in iter:
        yield line, extra


def _preader(fd, size, url, params, strip=True):
    for line in fd:
        yield line.strip() if strip else line


def test_partials_everywhere(disco):
    params = {}
    got = run_results(disco, input=['raw:// 2 ', 'raw:// 3 '],
                      map_reader=functools.partial(_preader, strip=True),
                      map_init=functools.partial(_pinit, key='init', value='yes'),
                      map=functools.partial(_pmap, mult=10),
                      combiner=functools.partial(_pcombiner, offset=1),
                      reduce_init=functools.partial(_pinit, key='init', value='red'),
                      # 4 parameters, one bound: argcount 3, so the out.add style is used
                      reduce=functools.partial(_preduce_out, extra='x'),
                      params=params)
    assert sorted(got) == [('2', (21, 'x', 'red')), ('3', (31, 'x', 'red'))]


def test_partial_generator_reduce_and_partial_reduce_reader(disco, tmp_path):
    path = tmp_path / 'lines.txt'
    path.write_bytes(b' a \n b \n')
    got = run_results(disco, input=[str(path)],
                      reduce_reader=functools.partial(_preader, strip=True),
                      reduce=functools.partial(_preduce_gen, extra='p'))
    assert sorted(got) == [(b'a', 'p'), (b'b', 'p')]

def test_partial_in_params(disco):
    def fmap(e, params):
        yield e, params.f(int(e))
    got = run_results(disco, input=['raw://4'], map=fmap,
                      params=Params(f=functools.partial(fun1, 100)))
    assert got == [('4', 104)]


def test_class_attribute_functions_keep_module_globals(disco):
    job = jobs_mod.GlobalsJob(master=disco).run(input=['raw://x', 'raw://y', 'raw://x'])
    assert sorted(results(job)) == [('x-ok', 2), ('y-ok', 1)]


def test_class_attribute_partial(disco):
    job = jobs_mod.PartialJob(master=disco).run(input=['raw:// a'])
    assert results(job) == [('a', 7)]


def test_resolution_order_jobargs_then_attributes_then_defaults(disco):
    # class attributes: partitions=3, params={'tag': 'from-class'}, sort=True
    job = jobs_mod.AttrsJob(master=disco).run(input=['raw://b', 'raw://a'])
    got = results(job)
    import hashlib
    assert sorted(got) == sorted((k, ('from-class', int(hashlib.md5(k).hexdigest(), 16) % 3))
                                 for k in (b'a', b'b'))
    # jobargs win over class attributes
    job = jobs_mod.AttrsJob(master=disco).run(input=['raw://b', 'raw://a'],
                                              params={'tag': 'from-jobargs'}, partitions=None)
    got = results(job)
    assert got == [(b'a', ('from-jobargs', 0)), (b'b', ('from-jobargs', 0))]
    assert len(job.jobinfo()['results']) == 1


def test_worker_defaults_apply_without_attributes(disco):
    def fmap(e, params):
        # the default params is an empty Params object
        yield e, type(params).__name__
    assert run_results(disco, input=['raw://z'], map=fmap) == [('z', 'Params')]


def test_job_attribute_input_and_map_reader(disco):
    got = results(jobs_mod.InputJob(master=disco).run())
    assert got == [('class-input', 'raw://class-input')]


def test_map_input_stream_chain_and_three_argument_reader(disco):
    def s1(fd, size, url, params):
        import io
        return io.StringIO('a' + fd.read()), size, url

    def s2(fd, size, url, params):
        import io
        return io.StringIO('b' + fd.read()), size, url

    def reader(fd, size, url):
        yield fd.read()

    def fmap(e, params):
        yield e, 1
    got = run_results(disco, input=['raw://data'],
                      map_input_stream=[map_input_stream, s1, s2],
                      map_reader=reader, map=fmap)
    assert got == [('badata', 1)]


def test_map_output_stream_and_reduce_output_stream(disco):
    def mark_out(stream, size, url, params):
        class Marked(object):
            def __init__(self, inner):
                self.inner = inner

            def add(self, k, v):
                self.inner.add(k, ('marked', v))

            def close(self):
                self.inner.close()
        return Marked(stream), size, url

    def fmap(e, params):
        yield e, 1
    from discolite.worker.task_io import disco_output_stream
    got = run_results(disco, input=['raw://q'], map=fmap,
                      map_output_stream=[task_output_stream, disco_output_stream, mark_out])
    assert got == [('q', ('marked', 1))]
    got = run_results(disco, input=['raw://q'], map=fmap, reduce=nop_reduce,
                      reduce_output_stream=[task_output_stream, disco_output_stream, mark_out])
    assert got == [('q', ('marked', 1))]


def test_reduce_input_stream_chain(disco):
    def count_stream(fd, size, url, params):
        from discolite.worker.task_io import chain_reader as cr
        return ((k, v + 100) for k, v in cr(fd, size, url, params)), size, url

    def fmap(e, params):
        yield e, 1
    got = run_results(disco, input=['raw://a'], map=fmap, reduce=nop_reduce,
                      reduce_input_stream=[reduce_input_stream, count_stream],
                      reduce_reader=None)
    assert got == [('a', 101)]


def test_injected_names_are_visible_without_imports(disco):
    def fmap(e, params):
        yield 'task', (Task.host, Task.master == this_master(), this_name() == Task.jobname,  # noqa
                       this_partition(), this_inputs(), this_host())  # noqa: F821
        put('key', b'value')  # noqa: F821
        yield 'oob', get('key')  # noqa: F821
        yield 'func', (chain_reader is not None, sum_reduce.__name__)  # noqa: F821
    got = dict(run_results(disco, input=['raw://inj'], map=fmap))
    host, same_master, same_name, part, inputs, thishost = got['task']
    assert host == thishost and same_master and same_name and part == 0
    assert inputs == [['raw://inj']]
    assert got['oob'] == b'value'
    assert got['func'] == (True, 'sum_reduce')


def test_unknown_jobargs_are_ignored(disco):
    def fmap(e, params):
        yield e, 1
    assert run_results(disco, input=['raw://u'], map=fmap, no_such_option=42) == [('u', 1)]


def test_bad_partitions_value_is_refused_at_run(disco):
    from discolite.error import DiscoError

    def fmap(e, params):
        yield e, 1
    with pytest.raises(DiscoError) as info:
        Job(master=disco).run(input=['raw://u'], map=fmap, partitions=-2)
    assert 'partitions must be a positive integer' in str(info.value)


def test_input_that_is_not_a_list_is_refused(disco):
    from discolite.error import DiscoError

    def fmap(e, params):
        yield e, 1
    with pytest.raises(DiscoError) as info:
        Job(master=disco).run(input='raw://a', map=fmap)
    assert "Job 'input' is not a list of input locations,or a list of such lists" in \
        str(info.value)
