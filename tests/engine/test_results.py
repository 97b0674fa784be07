"""result_iterator over local job results (issue item 8) and the public module layout (item 2)."""
import importlib

import pytest

from discolite import Job, result_iterator
from discolite.error import DataError
from discolite.util import read_index
from discolite.worker.classic.func import chain_reader

from tests.engine.common import POLL, run


def pair_map(line, params):
    yield line, len(line)


def test_result_iterator_over_results_stage_results_and_urls(disco):
    job = run(disco, input=['raw://a', 'raw://bb', 'raw://ccc'], map=pair_map, partitions=3)
    results = job.wait(poll_interval=POLL)
    expected = [('a', 1), ('bb', 2), ('ccc', 3)]
    assert sorted(result_iterator(results)) == expected
    assert sorted(result_iterator(job.stageresults('map'))) == expected
    flat = job.jobinfo()['results']
    assert sorted(result_iterator(flat)) == expected
    data_urls = [url for d in flat for _l, url, _s in read_index(d)]
    assert sorted(result_iterator(data_urls)) == expected


def test_result_iterator_reader_input_stream_notifier_params(disco):
    job = run(disco, input=['raw://x', 'raw://y'], map=pair_map)
    results = job.wait(poll_interval=POLL)
    seen = []

    def reader(fd, size, url, params):
        for k, v in chain_reader(fd, size, url, params):
            yield k * params['times'], v

    def upper_stream(fd, size, url, params):
        return fd, size, url
    from discolite.worker.classic.func import map_input_stream
    got = sorted(result_iterator(results, reader=reader,
                                 input_stream=(map_input_stream, upper_stream),
                                 notifier=seen.append, params={'times': 2}))
    assert got == [('xx', 1), ('yy', 1)]
    assert seen and all(isinstance(urls, list) for urls in seen)


def test_result_iterator_fails_over_to_the_next_replica_and_resumes():
    def reader(fd, size, url):
        yield 'hello'
        if 'corrupt' in url:
            raise DataError('corrupt data', url)
        yield 'there'
    got = list(result_iterator([['raw://corrupt'] * 9 + ['raw://decent']], reader=reader))
    assert got == ['hello', 'there']


def test_result_iterator_raises_when_every_replica_fails():
    def reader(fd, size, url):
        raise DataError('unreadable', url)
        yield
    with pytest.raises(DataError) as info:
        list(result_iterator([['raw://one', 'raw://two']], reader=reader))
    assert 'raw://two' in str(info.value)


def test_result_iterator_missing_file_names_it(tmp_path):
    missing = str(tmp_path / 'gone')
    with pytest.raises(DataError) as info:
        list(result_iterator([missing], reader=None))
    assert missing in str(info.value)


MODULES = {
    'discolite.core': ['Disco', 'result_iterator'],
    'discolite.job': ['Job', 'JobPack', 'JobChain'],
    'discolite.task': ['Task', 'jobdata'],
    'discolite.error': ['DiscoError', 'JobError', 'CommError', 'DataError'],
    'discolite.util': ['kvgroup', 'flatten', 'iterify', 'shuffled', 'chainify', 'urlsplit',
                       'load_oob', 'save_oob', 'argcount', 'inputlist', 'read_index'],
    'discolite.settings': ['DiscoSettings'],
    'discolite.worker.classic.worker': ['Worker', 'Params'],
    'discolite.worker.classic.func': ['chain_reader', 'default_partition', 'nop_map',
                                      'nop_reduce', 'sum_combiner', 'sum_reduce',
                                      'map_input_stream', 'map_output_stream',
                                      'reduce_input_stream', 'reduce_output_stream',
                                      'make_range_partition', 'init', 'noop'],
    'discolite.worker.task_io': ['disco_output_stream', 'disco_input_stream', 'chain_reader',
                                 'task_input_stream', 'task_output_stream'],
    'discolite.worker.modutil': ['find_modules', 'ModUtilImportError'],
    'discolite': ['Disco', 'Job', 'JobChain', 'JobPack', 'Params', 'result_iterator',
                  'DiscoError', 'JobError', 'DataError', 'CommError'],
}


@pytest.mark.parametrize('module', sorted(MODULES))
def test_public_names(module):
    mod = importlib.import_module(module)
    assert [n for n in MODULES[module] if not hasattr(mod, n)] == []


def test_worker_active_task_is_the_running_task(disco):
    def fmap(line, params):
        from discolite import worker
        yield 'same', worker.active_task is Task  # noqa: F821

    job = Job(master=disco).run(input=['raw://t'], map=fmap)
    assert list(result_iterator(job.wait(poll_interval=POLL))) == [('same', True)]
