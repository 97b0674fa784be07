"""discolite.test (Disco's ``disco.test`` harness): a Disco-style test module runs
unchanged under pytest and under unittest (Disco's TestRunner), against the in-process
master and against a ``discolite master`` over HTTP."""
import os
import socket
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request

import pytest

from discolite import test as harness
from discolite.settings import DiscoSettings

MODULE = textwrap.dedent('''
    import urllib.error, urllib.request
    from disco.test import TestCase, TestJob, FailedReply
    from disco.compat import bytes_to_str

    class WordJob(TestJob):
        @staticmethod
        def map(e, params):
            yield bytes_to_str(e).strip(), 1

        @staticmethod
        def reduce(iter, params):
            from disco.util import kvgroup
            for k, vs in kvgroup(sorted(iter)):
                yield k, sum(vs)

    class ServeTestCase(TestCase):
        def serve(self, path):
            if path == 'fail':
                raise FailedReply('no such input')
            return '\\n'.join([path] * 2)

        def test_results(self):
            self.job = WordJob().run(input=self.test_server.urls(['a', 'b', ['c', 'c']]))
            self.assertResults(self.job, [('a', 2), ('b', 2), ('c', 2)])

        def test_wrong_answers_fail(self):
            self.job = WordJob().run(input=self.test_server.urls(['a']))
            self.assertResults(self.job, [('a', 2), ('extra', 1)])

        def test_server(self):
            addr = self.test_server.address
            self.assertEquals(addr, 'http://%s:%d' % self.test_server_address)
            self.assertEquals(self.test_server.urls([3, ['x', 'y']]),
                              [[addr + '/3'], [addr + '/x', addr + '/y']])
            self.assertEquals(urllib.request.urlopen(addr + '/d/e/?q=1').read(), b'd/e/?q=1\\nd/e/?q=1')
            try:
                urllib.request.urlopen(addr + '/fail')
            except urllib.error.HTTPError as e:
                self.assertEquals(e.code, 500)
            else:
                self.fail('no HTTP error')

        def test_nodes(self):
            self.assert_(self.num_workers >= 1)
            self.assertEquals(sum(self.nodes.values()), self.num_workers)

        def test_comm_error(self):
            self.assertCommErrorCode(404, lambda: self.disco.jobinfo('no-such-job'))

    class PlainTestCase(TestCase):
        def runTest(self):
            self.assertFalse(hasattr(self, 'test_server'))
            self.job = WordJob().run(input=['raw://x', 'raw://y'], reduce=None)
            self.assertEquals(sorted(self.results(self.job)), [('x', 1), ('y', 1)])
            PlainTestCase.name = self.job.name

        def tearDown(self):
            super(PlainTestCase, self).tearDown()
            names = [n for _, _, n in self.disco.joblist()]
            assert self.job.name not in names, 'tearDown did not purge the job'
''')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture
def env(monkeypatch):
    for key in ('DISCO_MASTER', 'DISCO_PORT', 'DISCO_EVENTS'):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv('DISCO_TEST_HOST', '127.0.0.1')
    monkeypatch.setenv('DISCO_TEST_PORT', str(free_port()))
    return monkeypatch


@pytest.fixture(scope='module')
def http_url(tmp_path_factory):
    from tests.helpers import http_master
    with http_master(tmp_path_factory.mktemp('harness-master')) as url:
        yield url


def _pytest(pytester):
    pytester.makepyfile(test_disco_style=MODULE)
    result = pytester.runpytest_subprocess('-p', 'no:cacheprovider', '-v')
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(['*test_wrong_answers_fail FAILED*'])


def test_under_pytest_in_process(pytester, env):
    _pytest(pytester)


def test_under_pytest_over_http(pytester, env, http_url):
    env.setenv('DISCO_MASTER', http_url)
    env.setenv('DISCO_PORT', http_url.rsplit(':', 1)[1])
    _pytest(pytester)


def test_under_disco_test_runner(tmp_path, env):
    """``disco test`` style: TestRunner(settings).run(dotted names), plain unittest."""
    (tmp_path / 'test_disco_style.py').write_text(MODULE)
    code = ('import sys; from discolite import alias; alias.install()\n'
            'from disco.test import TestRunner; from disco.settings import DiscoSettings\n'
            'r = TestRunner(DiscoSettings()).run("test_disco_style")\n'
            'sys.exit(0 if (r.testsRun, len(r.failures), len(r.errors)) == (6, 1, 0) else 1)\n')
    proc = subprocess.run([sys.executable, '-c', code], cwd=str(tmp_path), capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, DISCO_DEBUG='trace'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'test_wrong_answers_fail' in proc.stderr and 'FAIL' in proc.stderr


def test_python_m_discolite_test(tmp_path, env):
    """``python -m discolite.test NAME`` (Disco's ``disco test``) exits 1 on a failure."""
    (tmp_path / 'test_disco_style.py').write_text(MODULE)
    base = [sys.executable, '-m', 'discolite.test']
    proc = subprocess.run(base + ['test_disco_style.PlainTestCase'], cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'Ran 1 test' in proc.stderr
    proc = subprocess.run(base + ['test_disco_style.ServeTestCase.test_wrong_answers_fail'],
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and 'FAILED (failures=1)' in proc.stderr
    assert subprocess.run(base, capture_output=True, timeout=60).returncode == 2


def test_server_reply_and_errors(env):
    calls = []

    def serve(path):
        calls.append(path)
        if path == 'boom':
            raise harness.FailedReply('it failed')
        if path == 'none':
            return None
        return 'é' + path

    server = harness.TestServer.create(('127.0.0.1', 0), serve)
    server.start()
    try:
        with urllib.request.urlopen(server.address + '//x/y//') as r:
            assert r.read() == 'éx/y'.encode('utf-8')
            assert int(r.headers['Content-length']) == len('éx/y'.encode('utf-8'))
        assert urllib.request.urlopen(server.address + '/none').read() == b''
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(server.address + '/boom')
        assert e.value.code == 500
        req = urllib.request.Request(server.address + '/x', data=b'', method='POST')
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req)
        assert e.value.code == 501
    finally:
        server.stop()
    assert calls == ['x/y', 'none', 'boom']
    assert not server._thread.is_alive()


def test_test_job_profile_follows_setting(env):
    env.setenv('DISCO_TEST_PROFILE', '')
    assert harness.TestJob().profile is False
    env.setenv('DISCO_TEST_PROFILE', 'yes')
    assert harness.TestJob().profile is True


def test_assert_helpers():
    class T(harness.TestCase):
        def runTest(self):
            pass
    t = T()
    t.assertAllEqual(iter([1, 2]), [1, 2])
    with pytest.raises(AssertionError):
        t.assertAllEqual([1, 2], [1, 2, 3])
    from discolite.error import CommError
    def raises(code):
        raise CommError('x', 'http://h/', code)
    t.assertCommErrorCode(403, lambda: raises(403))
    with pytest.raises(AssertionError):
        t.assertCommErrorCode(403, lambda: raises(404))
    with pytest.raises(AssertionError, match='CommError not raised, got'):
        t.assertCommErrorCode(403, lambda: 1 / 0)
    with pytest.raises(AssertionError, match=r'CommError not raised \(expected 403\), returned 7'):
        t.assertCommErrorCode(403, lambda: 7)
    t.assertEquals(1, 1)
    t.assert_(True)


def test_interrupt_handler():
    class T:
        is_running = True
    handler = harness.InterruptTest(T)
    with pytest.raises(harness.InterruptTest):
        handler(2, None)
    assert T.is_running is False
    handler(2, None)   # not running: nothing happens
    assert isinstance(handler, harness.SkipTest)


def test_runner_verbosity_and_loader_settings():
    s = DiscoSettings(DISCO_DEBUG='log')
    assert harness.TestRunner(s).verbosity == 1
    with pytest.raises(KeyError):
        harness.TestRunner(DiscoSettings(DISCO_DEBUG='loud'))

    class T(harness.TestCase):
        def runTest(self):
            pass
    harness.TestLoader(s).loadTestsFromTestCase(T)
    assert T.settings is s
