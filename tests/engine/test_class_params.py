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
