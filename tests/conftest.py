"""Shared fixtures.

``disco`` is a client of the master under test.  By default that is one
in-process master for the whole session; with ``DISCOLITE_TEST_MASTER=http``
the same tests run against a ``discolite master`` subprocess over HTTP on
loopback (CI runs the client suites both ways).
"""
import os

import pytest

from discolite import Disco

# pytester drives the pytest plugin's tests (tests/tools); pytest only accepts
# pytest_plugins in a conftest loaded at start-up, such as this one.
pytest_plugins = ['pytester']


def pytest_report_header(config):
    return 'discolite test master: %s' % (os.environ.get('DISCOLITE_TEST_MASTER') or 'local')


@pytest.fixture(scope='session')
def master_url(tmp_path_factory):
    mode = os.environ.get('DISCOLITE_TEST_MASTER', 'local')
    if mode == 'http':
        from tests.helpers import http_master
        with http_master(tmp_path_factory.mktemp('http-master')) as url:
            yield url
    else:
        from discolite.master import Master
        master = Master(DISCOLITE_WORKERS=2)
        try:
            yield master.url
        finally:
            master.close()


@pytest.fixture
def disco(master_url):
    return Disco(master_url)


@pytest.fixture
def local_master():
    """A fresh in-process master of its own (for tests that inspect the master's internals)."""
    from discolite.master import Master
    master = Master(DISCOLITE_WORKERS=2)
    try:
        yield master
    finally:
        master.close()


@pytest.fixture(scope='module')
def module_master():
    """An in-process master of the test module's own (2 workers, retries after 10 ms), so
    that one module's faults and kills cannot hide or cause another's."""
    from discolite.master import Master
    master = Master(DISCOLITE_WORKERS=2, DISCOLITE_RETRY_DELAY=0.01)
    try:
        yield master
    finally:
        master.close()
