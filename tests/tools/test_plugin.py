"""The pytest plugin (discolite.pytest_plugin), tested with pytester."""
import os
import textwrap

import pytest

from discolite import Disco
from tests.tools.conftest import ROOT

DISCO_TESTS = ROOT / 'fixtures' / 'disco_tests'


def child_pids():
    """PIDs of this process's live children (from /proc), except multiprocessing's own
    fork server and resource tracker, which live as long as the process by design."""
    me = str(os.getpid())
    pids = set()
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if fields[1] == me and fields[0] != 'Z':
            try:
                with open('/proc/%s/cmdline' % entry, 'rb') as f:
                    cmdline = f.read()
            except OSError:
                continue
            if b'multiprocessing.forkserver' in cmdline or b'resource_tracker' in cmdline:
                continue
            pids.add(int(entry))
    return pids


@pytest.fixture
def clean_environ(monkeypatch):
    monkeypatch.delenv('DISCO_MASTER', raising=False)


def test_disco_style_test_module_runs_through_the_plugin(pytester, clean_environ):
    pytester.makepyfile(test_wordcount_disco=(DISCO_TESTS / 'test_wordcount_disco.py').read_text())
    before = child_pids()
    result = pytester.runpytest('-p', 'no:cacheprovider')
    result.assert_outcomes(passed=6)
    assert child_pids() <= before, 'the per-test masters left processes behind'
    assert 'DISCO_MASTER' not in os.environ


def test_disco_style_test_module_in_a_subprocess(pytester, clean_environ):
    # A fresh interpreter: the plugin is found through its entry point and installs the alias.
    pytester.makepyfile(test_wordcount_disco=(DISCO_TESTS / 'test_wordcount_disco.py').read_text())
    result = pytester.runpytest_subprocess('-p', 'no:cacheprovider')
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(['discolite: disco fixtures use a fresh in-process master*'])


def test_each_test_gets_a_fresh_master_that_is_cleaned_up(pytester, clean_environ):
    pytester.makepyfile(textwrap.dedent('''
        import os
        from disco.core import Job, result_iterator

        SEEN = []

        def fun_map(line, params):
            yield line, 1

        def check(disco):
            assert disco.joblist() == []  # nothing from the other test
            assert os.environ['DISCO_MASTER'] == disco.master
            job = Job().run(input=['raw://x'], map=fun_map)
            assert list(result_iterator(job.wait(poll_interval=0.05))) == [('x', 1)]
            SEEN.append(disco.master)

        def test_one(disco):
            check(disco)

        def test_two(disco):
            check(disco)

        def test_after():
            assert len(set(SEEN)) == 2
            for url in SEEN:
                assert not os.path.exists(url[len('local://'):])  # data deleted
            assert 'DISCO_MASTER' not in os.environ
    '''))
    before = child_pids()
    pytester.runpytest('-p', 'no:cacheprovider').assert_outcomes(passed=3)
    assert child_pids() <= before


def test_session_fixture_is_shared(pytester, clean_environ):
    pytester.makepyfile(textwrap.dedent('''
        from disco.core import Job

        def fun_map(line, params):
            yield line, 1

        def test_one(disco_session):
            Job(master=disco_session).run(input=['raw://a'], map=fun_map).wait(poll_interval=0.05)
            assert len(disco_session.joblist()) == 1

        def test_two(disco_session):
            assert len(disco_session.joblist()) == 1

        def test_per_test_master_is_separate(disco_session, disco):
            assert disco.master != disco_session.master
            assert disco.joblist() == []
    '''))
    before = child_pids()
    pytester.runpytest('-p', 'no:cacheprovider').assert_outcomes(passed=3)
    assert child_pids() <= before


def test_a_failing_job_fails_the_test_not_the_session(pytester, clean_environ):
    pytester.makepyfile(textwrap.dedent('''
        from disco.core import Job

        def bad_map(line, params):
            raise ValueError('boom')

        def test_dies(disco):
            Job().run(input=['raw://a'], map=bad_map).wait(poll_interval=0.05)

        def test_next(disco):
            assert disco.joblist() == []
    '''))
    result = pytester.runpytest('-p', 'no:cacheprovider')
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(['*JobError*Status dead*'])


def test_disabling_the_plugin(pytester, clean_environ):
    pytester.makepyfile(textwrap.dedent('''
        import importlib
        import pytest

        def test_no_alias():
            with pytest.raises(ImportError):
                importlib.import_module('disco.core')

        def test_no_fixture(disco):
            pass
    '''))
    result = pytester.runpytest_subprocess('-p', 'no:cacheprovider', '-p', 'no:discolite')
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*fixture 'disco' not found*"])


def test_alias_off_by_ini_option_keeps_the_fixtures(pytester, clean_environ):
    pytester.makeini('[pytest]\ndisco_alias = false\n')
    pytester.makepyfile(textwrap.dedent('''
        import importlib
        import pytest

        def fun_map(line, params):
            yield line, 1

        def test_no_alias():
            with pytest.raises(ImportError):
                importlib.import_module('disco.core')

        def test_fixture(disco):
            from discolite import Job, result_iterator
            job = Job(master=disco).run(input=['raw://a'], map=fun_map)
            assert list(result_iterator(job.wait(poll_interval=0.05))) == [('a', 1)]
    '''))
    pytester.runpytest_subprocess('-p', 'no:cacheprovider').assert_outcomes(passed=2)
    pytester.makeini('[pytest]\n')
    pytester.runpytest_subprocess('-p', 'no:cacheprovider', '--no-disco-alias',
                                  '-k', 'no_alias').assert_outcomes(passed=1, deselected=1)


def test_disco_master_option_points_the_fixtures_at_an_http_master(pytester, http_url,
                                                                   clean_environ):
    pytester.makepyfile(textwrap.dedent('''
        import os
        from disco.core import Job, result_iterator

        def fun_map(line, params):
            yield line, 1

        def test_remote(disco):
            assert disco.master == %(url)r
            assert os.environ['DISCO_MASTER'] == %(url)r
            job = Job().run(input=['raw://a', 'raw://b'], map=fun_map)
            assert sorted(result_iterator(job.wait(poll_interval=0.05))) == [('a', 1), ('b', 1)]

        def test_session(disco_session):
            assert disco_session.master == %(url)r
    ''' % {'url': http_url}))
    remote = Disco(http_url)
    before = remote.joblist()
    result = pytester.runpytest('-p', 'no:cacheprovider', '--disco-master', http_url)
    result.assert_outcomes(passed=2)
    assert remote.joblist() == before, 'jobs of the test are purged afterwards'
    result = pytester.runpytest('-p', 'no:cacheprovider', '--disco-master', http_url,
                                DISCO_TESTS / 'test_wordcount_disco.py')
    result.assert_outcomes(passed=6)
    assert remote.joblist() == before


def test_disco_master_on_another_port_needs_no_disco_port(pytester, http_url, clean_environ,
                                                          monkeypatch):
    # result URLs (disco://localhost/...) resolve through DISCO_PORT, which follows the port of
    # DISCO_MASTER (set by the fixture) when it is not set
    monkeypatch.delenv('DISCO_PORT', raising=False)
    port = http_url.rsplit(':', 1)[1]
    pytester.makepyfile(textwrap.dedent('''
        import os
        from disco.core import Job, result_iterator

        def fun_map(line, params):
            yield line, 1

        def test_remote(disco):
            from disco.settings import DiscoSettings
            assert 'DISCO_PORT' not in os.environ
            assert DiscoSettings()['DISCO_PORT'] == %(port)r
            job = Job().run(input=['raw://a'], map=fun_map)
            assert list(result_iterator(job.wait(poll_interval=0.05))) == [('a', 1)]
    ''' % {'port': port}))
    result = pytester.runpytest('-p', 'no:cacheprovider', '--disco-master', http_url)
    result.assert_outcomes(passed=1)
    assert 'DISCO_PORT' not in os.environ


def test_disco_master_purges_only_the_jobs_the_test_submitted(pytester, http_url, clean_environ):
    # the master may be shared: a job someone else submits while the test runs is left alone
    pytester.makefile('.txt', other=textwrap.dedent('''
        from discolite import Disco, Job
        def m(line, params):
            yield line, 1
        print(Job(master=Disco(%(url)r)).run(input=['raw://theirs'], map=m).name)
    ''' % {'url': http_url}))
    pytester.makepyfile(textwrap.dedent('''
        import subprocess, sys
        from disco.core import Job

        def fun_map(line, params):
            yield line, 1

        def test_mine_and_theirs(disco):
            mine = Job().run(input=['raw://mine'], map=fun_map)
            mine.wait(poll_interval=0.05)
            theirs = subprocess.run([sys.executable, 'other.txt'], capture_output=True,
                                    text=True, check=True).stdout.strip()
            open('names.txt', 'w').write(mine.name + ' ' + theirs)
    '''))
    result = pytester.runpytest('-p', 'no:cacheprovider', '--disco-master', http_url)
    result.assert_outcomes(passed=1)
    mine, theirs = (pytester.path / 'names.txt').read_text().split()
    names = [name for _, _, name in Disco(http_url).joblist()]
    assert theirs in names, 'a job the test did not submit was purged'
    assert mine not in names, 'the job the test submitted was not purged'
    Disco(http_url).purge(theirs)


DDFS_TEST = textwrap.dedent('''
    from io import BytesIO
    from disco.core import Job, result_iterator

    def fun_map(line, params):
        yield line.strip(), 1

    def test_push_and_run_on_a_tag(ddfs):
        ddfs.push('data:words', [(BytesIO(b'a\\nb\\n'), 'words')])
        job = Job().run(input=['tag://data:words'], map=fun_map, partitions=None,
                        save_results=True)
        assert sorted(result_iterator(job.wait(poll_interval=0.05))) == [(b'a', 1), (b'b', 1)]
        ddfs.put('data:secret', [], token='s3cret')
        assert 'data:words' in ddfs.list('data:')
''')


def test_ddfs_fixture_removes_the_tags_of_the_test(pytester, http_url, clean_environ):
    pytester.makepyfile(DDFS_TEST)
    result = pytester.runpytest('-p', 'no:cacheprovider')
    result.assert_outcomes(passed=1)
    from discolite.ddfs import DDFS
    remote = DDFS(http_url)
    remote.tag('keep:me', [['x']])
    result = pytester.runpytest('-p', 'no:cacheprovider', '--disco-master', http_url)
    result.assert_outcomes(passed=1)
    assert remote.list('data:') == [] and remote.list('disco:results:') == []
    assert remote.list('keep:') == ['keep:me']  # tags the test did not create stay
    remote.delete('keep:me')
