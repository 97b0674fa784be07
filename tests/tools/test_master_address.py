"""The master address just works: `-M` for every subcommand (`run` too), DISCO_PORT following
the port of a master given by URL, `discolite master` saying what to export and printing a
line per job, and a result-read error that names the URL and says to set DISCO_PORT."""
import os
import re
import subprocess
import sys
import textwrap
import time

import pytest

from tests.tools.conftest import ROOT, SCRIPTS, clean_env, discolite

TEXT = ROOT / 'fixtures' / 'texts' / 'gettysburg.txt'


def bare_env(**extra):
    """A user's shell: no DISCO_PORT, no DISCO_MASTER unless given."""
    env = clean_env()
    env.pop('DISCO_PORT', None)
    env.update(extra)
    return env


@pytest.fixture(scope='module')
def master_proc(tmp_path_factory):
    """`discolite master --port 0` started as a user would; yields (url, port, output lines)."""
    proc = subprocess.Popen([sys.executable, '-m', 'discolite', 'master', '--port', '0',
                             '--workers', '2',
                             '--data-dir', str(tmp_path_factory.mktemp('addr-master'))],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=bare_env())
    lines = []
    import threading
    first = proc.stdout.readline()
    lines.append(first)
    threading.Thread(target=lambda: [lines.append(l) for l in proc.stdout], daemon=True).start()
    try:
        url = re.search(r'(http://127\.0\.0\.1:(\d+))', first)
        assert url, first
        yield url.group(1), url.group(2), lines
    finally:
        proc.terminate()
        proc.wait(10)


def wait_for(lines, pattern, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = [l for l in lines if re.search(pattern, l)]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError('no line matching %r in %r' % (pattern, lines))


def test_master_prints_the_exports(master_proc):
    url, port, lines = master_proc
    wait_for(lines, 'export DISCO_PORT')
    assert '  export DISCO_MASTER=%s\n' % url in lines
    assert '  export DISCO_PORT=%s\n' % port in lines


def test_run_with_dash_m_goes_to_that_master_without_disco_port(master_proc):
    url, port, lines = master_proc
    proc = discolite('-M', url, 'run', SCRIPTS / 'word_count.py', TEXT, env=bare_env())
    assert proc.returncode == 0, proc.stderr
    assert "b'we' 8" in proc.stdout.splitlines()
    jobs = discolite('-M', url, 'jobs', env=bare_env()).stdout.split()
    assert len(jobs) == 1  # it ran there, not in process
    # and the master said so, one line when submitted and one when done
    wait_for(lines, r'submitted %s \(1 inputs\)' % re.escape(jobs[0]))
    wait_for(lines, r'ready +%s in ' % re.escape(jobs[0]))


def test_only_disco_master_set(master_proc):
    url, port, lines = master_proc
    proc = discolite('run', SCRIPTS / 'word_count.py', TEXT, env=bare_env(DISCO_MASTER=url))
    assert proc.returncode == 0, proc.stderr
    assert "b'we' 8" in proc.stdout.splitlines()
    # localhost works as well as 127.0.0.1
    local = 'http://localhost:%s' % port
    proc = discolite('results', '@', env=bare_env(DISCO_MASTER=local))
    assert proc.returncode == 0 and "b'we'\t8" in proc.stdout.splitlines(), proc.stderr


LIBRARY = textwrap.dedent('''
    import sys
    from discolite import Disco, Job, result_iterator
    def fmap(line, params):
        yield line, 1
    job = Job(master=Disco(sys.argv[1])).run(input=['raw://x', 'raw://y'], map=fmap)
    print(sorted(result_iterator(job.wait(poll_interval=0.05))))
''')


def test_library_with_a_master_given_by_url(master_proc, tmp_path):
    url, port, lines = master_proc
    script = tmp_path / 'lib.py'
    script.write_text(LIBRARY)
    proc = subprocess.run([sys.executable, str(script), url], capture_output=True, text=True,
                          env=bare_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "[('x', 1), ('y', 1)]\n"


def test_a_dead_job_line_on_the_master(master_proc, tmp_path):
    url, port, lines = master_proc
    script = tmp_path / 'dies.py'
    script.write_text('from disco.core import Job\n'
                      'def fmap(line, params):\n'
                      '    raise KeyError(line)\n'
                      'Job(name="Dies").run(input=["raw://k"], map=fmap).wait(poll_interval=0.05)\n')
    proc = discolite('-M', url, 'run', script, env=bare_env())
    assert proc.returncode == 1
    found = wait_for(lines, r'dead +Dies@')
    assert "KeyError: 'k' (map:0, " in found[0] and 'dies.py line 3)' in found[0], found


def test_result_error_names_the_url_and_says_to_set_disco_port(master_proc):
    url, port, lines = master_proc
    env = bare_env(DISCO_MASTER=url, DISCO_PORT='9')  # explicitly wrong
    proc = discolite('run', SCRIPTS / 'word_count.py', TEXT, env=env)
    assert proc.returncode == 1
    assert 'http://localhost:9/disco/' in proc.stderr, proc.stderr
    assert 'set DISCO_PORT=%s' % port in proc.stderr, proc.stderr


def test_settings_default_port_follows_disco_master(monkeypatch):
    from discolite.settings import DiscoSettings
    monkeypatch.delenv('DISCO_PORT', raising=False)
    monkeypatch.setenv('DISCO_MASTER', 'http://somewhere:18989')
    assert DiscoSettings()['DISCO_PORT'] == '18989'
    monkeypatch.setenv('DISCO_PORT', '7000')  # an explicit DISCO_PORT wins
    assert DiscoSettings()['DISCO_PORT'] == '7000'
    monkeypatch.delenv('DISCO_PORT')
    monkeypatch.setenv('DISCO_MASTER', 'disco://somewhere')  # no port: Disco's default
    from discolite import settings
    monkeypatch.setattr(settings, '_client_port', settings._client_port)
    saved = settings._client_port[0]
    settings._client_port[0] = None
    assert DiscoSettings()['DISCO_PORT'] == 8989
    # a client made for an HTTP master by URL sets the default for this process
    monkeypatch.delenv('DISCO_MASTER')
    from discolite import Disco
    Disco('http://127.0.0.1:18990')
    assert DiscoSettings()['DISCO_PORT'] == '18990'
    settings._client_port[0] = saved


def test_external_worker_gets_the_masters_port(tmp_path):
    # Disco's own worker reads shuffle and result URLs at DISCO_PORT from its environment:
    # a master on another port must put its port there (tests/http/foreign_worker.py checks
    # DISCO_PORT == the TASK payload's disco_port, which must be the master's port)
    from discolite import Disco
    from tests.helpers import http_master
    from tests.http.common import foreign_pack, wait_status, events_text
    with http_master(tmp_path / 'd', args=('--external-workers',)) as url:
        os.environ.pop('DISCO_PORT', None)
        disco = Disco(url)
        name = disco.submit(foreign_pack(['raw://a', 'raw://b']))
        status, _ = wait_status(disco, name)
        assert status == 'ready', events_text(disco, name)
        assert disco.jobinfo(name)['pipeline'][0][4] == 2
