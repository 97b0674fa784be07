"""pytest plugin (registered through the ``pytest11`` entry point as ``discolite``).

Fixtures:

``disco``
    A :class:`discolite.core.Disco` client bound to a fresh, isolated
    in-process master for each test.  While the test runs, ``DISCO_MASTER``
    points at that master, so a plain ``Job()`` or ``Disco()`` in the code
    under test uses it too.  Afterwards the master is closed: running jobs are
    killed, its worker processes stopped and its data directory deleted.

``disco_session``
    The same, one master shared by the whole session (faster; jobs of earlier
    tests stay visible).

``ddfs``
    A :class:`discolite.ddfs.DDFS` client of the ``disco`` fixture's master.
    The tags the test created (pushed data, ``disco:results:*`` of its
    ``save_results`` jobs, OOB tags) are deleted afterwards.

With ``--disco-master URL`` both fixtures are clients of that master (e.g. a
``discolite master`` or a real Disco master) instead; the jobs a test
submitted are purged after it.

The ``disco`` import alias (``from disco.core import Job`` resolving to
discolite) is installed at configure time, so test modules written for Disco
import unchanged.  Turn it off with ``-p no:discolite`` (which also disables
the fixtures), the ini option ``disco_alias = false``, or ``--no-disco-alias``.
"""
import contextlib
import os

import pytest


def pytest_addoption(parser):
    group = parser.getgroup('discolite', 'discolite (Disco jobs offline)')
    group.addoption('--disco-master', metavar='URL', default=None,
                    help='run the disco / disco_session fixtures against this master '
                         '(e.g. http://localhost:8989) instead of an in-process master')
    group.addoption('--disco-inline', action='store_true', default=False,
                    help='run every task of the in-process masters inline, in the test\'s '
                         'own process one after another (DISCOLITE_INLINE=1): breakpoint() '
                         'and print() work in job functions (use with -s)')
    group.addoption('--no-disco-alias', action='store_true', default=False,
                    help="don't make 'import disco' resolve to discolite")
    parser.addini('disco_alias', type='bool', default=True,
                  help="make 'import disco' resolve to discolite (default true)")
    parser.addini('disco_master', default='',
                  help='master URL for the disco fixtures (like --disco-master)')
    parser.addini('disco_workers', default='2',
                  help='worker processes of each in-process master (default 2)')


def _alias_wanted(config):
    return config.getini('disco_alias') and not config.getoption('--no-disco-alias')


def pytest_configure(config):
    config._discolite_alias = False
    config._discolite_inline = None
    if config.getoption('--disco-inline'):
        config._discolite_inline = os.environ.get('DISCOLITE_INLINE')
        os.environ['DISCOLITE_INLINE'] = '1'  # also for masters the code under test makes
    if _alias_wanted(config):
        from discolite import alias
        if not alias.installed():
            alias.install()
            config._discolite_alias = True


def pytest_unconfigure(config):
    if config.getoption('--disco-inline'):
        if config._discolite_inline is None:
            os.environ.pop('DISCOLITE_INLINE', None)
        else:
            os.environ['DISCOLITE_INLINE'] = config._discolite_inline
    if getattr(config, '_discolite_alias', False):
        from discolite import alias
        alias.uninstall()
        config._discolite_alias = False


def pytest_report_header(config):
    url = _master_option(config)
    return 'discolite: disco fixtures use %s%s' % (
        url or 'a fresh in-process master per test',
        ' (inline: tasks run in this process)' if config.getoption('--disco-inline') else '')


def _master_option(config):
    return config.getoption('--disco-master') or config.getini('disco_master') or None


class _Environ(object):
    """Point ``DISCO_MASTER`` at a master for a while (DISCO_PORT, unless set, follows the port
    of an HTTP master's URL, so that result URLs resolve to it), then put the old value back."""

    def __init__(self, url):
        self.old = {'DISCO_MASTER': os.environ.get('DISCO_MASTER')}
        os.environ['DISCO_MASTER'] = url

    def restore(self):
        for key, value in self.old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _recording_submissions():
    """Collect the names of the jobs this process submits (to any master) meanwhile."""
    from discolite.core import Disco
    names = []
    original = Disco.submit

    def submit(self, jobpack):
        name = original(self, jobpack)
        names.append(name)
        return name

    Disco.submit = submit
    try:
        yield names
    finally:
        Disco.submit = original


def _purge(disco, names):
    for name in names:
        try:
            disco.purge(name)
        except Exception:
            pass


def _client(config):
    """Yield a Disco client for a fresh in-process master, or for ``--disco-master``."""
    from discolite.core import Disco
    url = _master_option(config)
    if url:
        disco = Disco(url)
        env = _Environ(disco.master)
        try:
            with _recording_submissions() as submitted:
                yield disco
        finally:
            env.restore()
            _purge(disco, submitted)  # only this test's jobs: the master may be shared
        return
    from discolite.master import Master
    try:
        workers = int(config.getini('disco_workers'))
    except ValueError:
        raise pytest.UsageError('disco_workers must be an integer, not %r'
                                % config.getini('disco_workers'))
    overrides = {'DISCOLITE_WORKERS': workers}
    if config.getoption('--disco-inline'):
        overrides['DISCOLITE_INLINE'] = '1'
    master = Master(**overrides)
    env = _Environ(master.url)
    try:
        yield Disco(master.url)
    finally:
        env.restore()
        master.close()


@pytest.fixture
def disco(request):
    """A Disco client of a fresh in-process master (or of ``--disco-master``), per test."""
    yield from _client(request.config)


@pytest.fixture(scope='session')
def disco_session(request):
    """A Disco client of one in-process master (or ``--disco-master``) for the whole session."""
    yield from _client(request.config)


@pytest.fixture
def ddfs(disco):
    """A DDFS client of the test's master; the tags the test created are deleted after it."""
    from discolite.ddfs import DDFS

    tokens = set()

    class _DDFS(DDFS):
        def _token(self, url, token, method):  # remember tokens, to delete protected tags
            chosen = DDFS._token(self, url, token, method)
            if chosen is not None:
                tokens.add(chosen)
            return chosen

    client = _DDFS(disco.master)
    before = set(client.list())
    yield client
    for tag in sorted(set(client.list()) - before):
        for token in [None] + sorted(tokens):
            try:
                client.delete(tag, token=token)
                break
            except Exception:
                continue
