"""Fixtures for the reliability suite (issue 4).

Every test module gets its own master (two pool processes, retries after
10 ms), so one test's faults cannot hide another's.  After every test an
autouse fixture runs a tiny job on the same master: whatever a test did to it,
the master must still work.

Heavy tests are marked ``heavy``; they run by default (the whole suite stays
well under three minutes on two cores) and can be left out with
``-m 'not heavy'``.
"""
import pytest

from discolite import Disco
from tests.reliability.helpers import assert_healthy


def pytest_configure(config):
    config.addinivalue_line('markers', 'heavy: a slow reliability test (scale, big inputs)')


@pytest.fixture(scope='module')
def master(module_master):
    return module_master


@pytest.fixture
def disco(master):
    return Disco(master.url)


@pytest.fixture(autouse=True)
def stays_healthy(request):
    """After each test that used the module master, a follow-up tiny job must succeed."""
    yield
    if 'master' in request.fixturenames:
        m = request.getfixturevalue('master')
        if not m.closed:
            assert_healthy(m)
