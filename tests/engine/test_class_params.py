"""Mutable job class attributes start fresh in every task, as in a new process on Disco,
although a pool process keeps the job's class imported across the job's tasks."""
import pytest

from discolite import Disco
from tests.engine.classattr_mod import InitParamsJob
from tests.engine.common import results


@pytest.fixture(scope='module')
def one_worker():
    from discolite.master import Master
    master = Master(DISCOLITE_WORKERS=1)
    try:
        yield Disco(master.url)
    finally:
        master.close()


def test_map_init_changes_do_not_reach_the_next_task(one_worker):
    inputs = ['raw://%d' % i for i in range(6)]
    job = InitParamsJob(master=one_worker).run(input=inputs)
    assert sorted(results(job)) == [(str(i), (110, 1)) for i in range(6)]
    assert InitParamsJob.params == {'x': 10, 'seen': []}


def test_job_parameters_resolve_as_getitem_does(one_worker):
    """jobargs first, then the job's attributes (a property, an instance attribute),
    then the worker's defaults; all three in one task."""
    from tests.engine.classattr_mod import ResolvedJob
    job = ResolvedJob(master=one_worker)
    job.params = {'instance': 1}
    job.run(input=['raw://a'])
    assert results(job) == [('a', [('from_property', True), ('instance', 1)])]
    job = ResolvedJob(master=one_worker)
    job.params = {'instance': 1}
    job.run(input=['raw://b'], params={'jobarg': 2})
    assert results(job) == [('b', [('from_property', True), ('jobarg', 2)])]


def test_a_job_class_getattr_is_asked(one_worker):
    from tests.engine.classattr_mod import GetattrJob
    job = GetattrJob(master=one_worker).run(input=['raw://a', 'raw://b'])
    assert sorted(results(job)) == [('a', [('via', '__getattr__')]),
                                    ('b', [('via', '__getattr__')])]
