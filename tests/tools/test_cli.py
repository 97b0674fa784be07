"""The `discolite` CLI: every subcommand against a `discolite master` subprocess over HTTP,
and the error exits (one clear line on stderr, non-zero status)."""
import json
import time

import pytest

from discolite import Disco, Job, result_iterator
from discolite import cli
from tests.tools.conftest import assert_one_line_error, discolite

COMMANDS = ['jobs', 'jobinfo', 'events', 'wait', 'results', 'stageresults', 'oob', 'kill',
            'clean', 'purge', 'nodeinfo', 'jobdict', 'pstats', 'run']


def fun_map(line, params):
    for word in line.split():
        yield word, 1


def fun_reduce(iter, params):
    from disco.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


def oob_map(line, params):
    put('key-' + line, line.encode('utf-8') * 2)
    yield line, 1


def slow_map(line, params):
    import time
    time.sleep(float(line))
    yield line, 1


def bad_map(line, params):
    raise ValueError('this map refuses %s' % line)


INPUTS = ['raw://the cat', 'raw://the hat', 'raw://a cat']


@pytest.fixture(scope='module')
def master(http_url):
    return Disco(http_url)


@pytest.fixture(scope='module')
def jobs(master):
    """Finished jobs on the HTTP master, submitted through the client library."""
    made = {}
    made['count'] = Job(name='count', master=master).run(
        input=INPUTS, map=fun_map, reduce=fun_reduce, partitions=2, profile=True)
    made['oob'] = Job(name='oobjob', master=master).run(input=['raw://x', 'raw://y'],
                                                        map=oob_map)
    made['bad'] = Job(name='bad', master=master).run(input=['raw://nope'], map=bad_map)
    for job in made.values():
        try:
            job.wait(poll_interval=0.05)
        except Exception:
            pass
    return made


def run_ok(*args, master=None):
    proc = discolite(*args, master=master)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ''
    return proc.stdout


# ----------------------------------------------------------------------- help and no command

@pytest.mark.parametrize('command', COMMANDS + ['master'])
def test_help_for_every_subcommand(command):
    proc = discolite(command, '--help')
    assert proc.returncode == 0, proc.stderr
    assert 'usage:' in proc.stdout
    if command != 'master':
        assert 'discolite %s' % command in proc.stdout


def test_top_level_help_says_where_the_master_is():
    out = run_ok('--help')
    for command in COMMANDS:
        assert command in out
    assert 'discolite master' in out and 'in-process master' in out


def test_no_command_prints_usage(http_url):
    for args in ((), ('-M', http_url)):
        proc = discolite(*args)
        assert proc.returncode == 2 and proc.stdout == ''
        assert proc.stderr.startswith('usage: discolite ')
        for command in COMMANDS:
            assert command in proc.stderr


def test_run_usage():
    proc = discolite('run')
    assert proc.returncode == 2, proc.stderr
    assert 'usage: discolite run [-h] [--inline] SCRIPT [ARGS ...]' in proc.stderr
    assert 'required: SCRIPT\n' in proc.stderr  # ARGS is optional


def test_jobs_on_an_in_process_master_is_empty():
    assert run_ok('jobs') == ''
    assert run_ok('jobs', '-S') == ''


# ----------------------------------------------------------------------- job listing and info

def test_jobs_newest_first_and_with_status(http_url, master, jobs):
    names = run_ok('jobs', master=http_url).split()
    assert names == [name for _, _, name in master.joblist()]
    statuses = dict(line.split('\t') for line in
                    run_ok('jobs', '-S', master=http_url).splitlines())
    assert statuses[jobs['count'].name] == 'ready'
    assert statuses[jobs['bad'].name] == 'dead'


def test_jobinfo_human_and_json(http_url, jobs):
    name = jobs['count'].name
    out = run_ok('jobinfo', name, master=http_url)
    assert 'job       %s' % name in out and 'status    ready' in out
    assert 'inputs    3' in out and 'raw://the cat' in out
    assert 'map                  0       0       0       3       0' in out
    info = json.loads(run_ok('jobinfo', '--json', name, master=http_url))
    assert info['active'] == 'ready' and info['inputs'] == INPUTS


def test_job_references_at_and_at_query(http_url, master, jobs):
    newest = master.joblist()[0][2]
    assert run_ok('jobinfo', '--json', '@', master=http_url) == \
        run_ok('jobinfo', '--json', newest, master=http_url)
    out = run_ok('jobdict', '@?oobj', master=http_url)
    assert out.splitlines()[0] == jobs['oob'].name
    assert_one_line_error(discolite('jobinfo', '@?no-such-text', master=http_url),
                          "no job whose name contains 'no-such-text'")


def test_unknown_job_everywhere(http_url):
    for args in (['jobinfo', 'nope'], ['events', 'nope'], ['wait', 'nope'],
                 ['results', 'nope'], ['jobdict', 'nope'], ['oob', 'list', 'nope'],
                 ['kill', 'nope'], ['purge', 'nope'], ['pstats', 'nope']):
        assert_one_line_error(discolite(*args, master=http_url), "unknown job 'nope'")
    assert run_ok('kill', '--force', 'Nope@0:0:0', master=http_url) == 'kill Nope@0:0:0\n'
    # --force never sends something that cannot be a job name (a path, '') to the master
    for name in ('nope', '/srv/x', './././../../../x', ''):
        assert_one_line_error(discolite('purge', '--force', name, master=http_url),
                              'not a job name')


# ----------------------------------------------------------------------- events

def test_events_human_raw_and_offset(http_url, master, jobs):
    name = jobs['count'].name
    lines = run_ok('events', name, master=http_url).splitlines()
    assert 'New job initialized!' in lines[0]
    assert lines[-1].split(None, 3)[3].startswith('READY: Job done')
    raw = run_ok('events', '--raw', name, master=http_url)
    assert raw == master.rawevents(name)
    assert all(len(json.loads(line)) == 3 for line in raw.splitlines())
    offset = len(raw.splitlines()[0]) + 1
    assert run_ok('events', '--raw', '-o', offset, name, master=http_url) == raw[offset:]
    assert len(run_ok('events', '-o', offset, name, master=http_url).splitlines()) == \
        len(lines) - 1


def test_events_follow_a_running_job(http_url, master):
    job = Job(name='follow', master=master).run(input=['raw://0.4'], map=slow_map)
    start = time.time()
    proc = discolite('events', '--follow', job.name, master=http_url)
    assert proc.returncode == 0, proc.stderr
    assert time.time() - start >= 0.3
    assert 'READY: Job done' in proc.stdout.splitlines()[-1]
    assert proc.stdout.count('New job initialized!') == 1


def test_events_follow_a_dead_job_exits_1(http_url, jobs):
    proc = discolite('events', '-f', jobs['bad'].name, master=http_url)
    assert proc.returncode == 1
    assert 'this map refuses nope' in proc.stdout


# ----------------------------------------------------------------------- wait and results

def test_wait_prints_result_urls(http_url, master, jobs):
    name = jobs['count'].name
    out = run_ok('wait', name, master=http_url)
    assert out.splitlines() == ['\t'.join(r) for r in master.results(name)[1]]
    assert run_ok('results', '--urls', name, master=http_url) == out


def test_wait_with_progress_line(http_url, master):
    job = Job(name='progress', master=master).run(input=['raw://0.3', 'raw://0.3'],
                                                  map=slow_map, reduce=fun_reduce)
    proc = discolite('wait', '--progress', '--records', job.name, master=http_url)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split('\n')  # text mode turned each '\r' into '\n'
    progress = [line for line in lines if line.startswith('[%s] ' % job.name)]
    assert progress and all(' map ' in line and ' reduce ' in line for line in progress)
    assert [line for line in lines if line.strip() and line not in progress] == ["'0.3'\t2"]


def test_wait_timeout_and_dead_job(http_url, master, jobs):
    job = Job(name='sleepy', master=master).run(input=['raw://5'], map=slow_map)
    try:
        assert_one_line_error(discolite('wait', '--timeout', '0.3', job.name, master=http_url),
                              'still active after 0.3s')
    finally:
        job.kill()
    assert_one_line_error(discolite('wait', jobs['bad'].name, master=http_url),
                          'is dead', 'ValueError: this map refuses nope')


def test_wait_timeout_on_a_finished_job_prints_its_results(http_url, master, jobs):
    # the timeout is checked after asking the master: 0 means "do not wait", not "fail"
    name = jobs['count'].name
    out = run_ok('wait', '--timeout', '0', name, master=http_url)
    assert out.splitlines() == ['\t'.join(r) for r in master.results(name)[1]]


@pytest.mark.parametrize('args', [('events', '-o', '-5', '@'), ('wait', '--timeout', '-1', '@'),
                                  ('wait', '--timeout', 'nan', '@'),
                                  ('jobinfo', '--max', '-3', '@'), ('pstats', '-n', '-1', '@')])
def test_negative_numbers_are_usage_errors(args):
    proc = discolite(*args)
    assert proc.returncode == 2 and 'non-negative' in proc.stderr, proc.stderr


def test_master_with_an_unusable_data_dir(tmp_path):
    afile = tmp_path / 'afile'
    afile.write_text('x')
    proc = discolite('master', '--port', '0', '--data-dir', afile, timeout=30)
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr, proc.stderr
    assert proc.stderr.startswith('discolite master: ') and str(afile) in proc.stderr


def test_results_of_a_master_on_another_port_without_disco_port(http_url, jobs):
    # result URLs are disco://localhost/...: read at the master's own port, not 8989
    from tests.tools.conftest import clean_env
    env = clean_env()
    env.pop('DISCO_PORT', None)
    port = http_url.rsplit(':', 1)[1]
    for master in (http_url, '127.0.0.1:%s' % port):
        proc = discolite('results', jobs['count'].name, master=master, env=env)
        assert proc.returncode == 0, proc.stderr
        assert "'cat'\t2" in proc.stdout.splitlines()
    proc = discolite('stageresults', jobs['count'].name, env=dict(env, DISCO_MASTER=http_url))
    assert proc.returncode == 0 and "'cat'\t1" in proc.stdout.splitlines(), proc.stderr


def test_results_records(http_url, jobs):
    name = jobs['count'].name
    out = run_ok('results', name, master=http_url)
    expected = sorted('%r\t%r' % kv for kv in result_iterator(jobs['count'].wait()))
    assert sorted(out.splitlines()) == expected
    assert "'cat'\t2" in out.splitlines()
    assert_one_line_error(discolite('results', jobs['bad'].name, master=http_url),
                          'is dead: it has no results', 'ValueError')


def test_stageresults(http_url, master, jobs):
    name = jobs['count'].name
    urls = run_ok('stageresults', '--urls', name, master=http_url).splitlines()
    assert urls == ['\t'.join(r) for r in master.stageresults(name, 'map')]
    assert len(urls) == 3
    records = run_ok('stageresults', name, master=http_url).splitlines()
    assert sorted(records) == sorted(["'the'\t1", "'cat'\t1", "'the'\t1", "'hat'\t1",
                                      "'a'\t1", "'cat'\t1"])
    reduced = run_ok('stageresults', '-S', 'reduce', name, master=http_url).splitlines()
    assert sorted(reduced) == sorted(run_ok('results', name, master=http_url).splitlines())
    assert_one_line_error(discolite('stageresults', '-S', 'nosuch', name, master=http_url),
                          "stage 'nosuch'")


# ----------------------------------------------------------------------- oob, jobdict, pstats

def test_oob_list_and_get(http_url, jobs):
    name = jobs['oob'].name
    assert run_ok('oob', 'list', name, master=http_url).split() == ['key-x', 'key-y']
    assert run_ok('oob', name, master=http_url).split() == ['key-x', 'key-y']  # Disco's form
    assert run_ok('oob', 'get', 'key-y', name, master=http_url) == 'yy'
    assert run_ok('oob', 'get', 'key-x', name, '--repr', master=http_url) == "b'xx'\n"
    assert run_ok('oob', '--repr', 'get', 'key-x', name, master=http_url) == "b'xx'\n"
    assert_one_line_error(discolite('oob', 'get', 'nokey', name, master=http_url),
                          "no OOB key 'nokey'")
    assert_one_line_error(discolite('oob', 'frobnicate', 'a', 'b', master=http_url),
                          'usage: discolite oob list JOB')
    assert run_ok('oob', 'list', jobs['bad'].name, master=http_url) == ''


def test_jobdict(http_url, jobs):
    lines = run_ok('jobdict', jobs['count'].name, master=http_url).splitlines()
    assert lines[0] == jobs['count'].name
    fields = dict(line.split('\t')[1:] for line in lines[1:])
    assert fields['prefix'] == 'count' and fields['nr_reduces'] == '2'
    assert fields['map?'] == 'True'


def test_pstats(http_url, jobs):
    out = run_ok('pstats', jobs['count'].name, master=http_url)
    assert 'function calls' in out and 'cumulative' in out
    out = run_ok('pstats', '-m', 'reduce', '-k', 'ncalls', '-n', '5', jobs['count'].name,
                 master=http_url)
    assert 'ncalls' in out
    assert_one_line_error(discolite('pstats', jobs['oob'].name, master=http_url),
                          'no profile data')


# ----------------------------------------------------------------------- nodeinfo

def test_nodeinfo(http_url, master):
    out = run_ok('nodeinfo', master=http_url).splitlines()
    assert out[0].split()[:3] == ['host', 'slots', 'running']
    assert out[1].split()[0] == 'localhost'
    info = json.loads(run_ok('nodeinfo', '--json', master=http_url))
    assert info.keys() == master.nodeinfo().keys()
    assert info['localhost']['max_workers'] == int(out[1].split()[1])


# ----------------------------------------------------------------------- kill, clean, purge

def test_kill_clean_purge(http_url, master):
    running = Job(name='victim', master=master).run(input=['raw://5'], map=slow_map)
    assert run_ok('kill', running.name, master=http_url) == 'kill %s\n' % running.name
    time.sleep(0.2)
    assert master.jobinfo(running.name)['active'] == 'dead'
    done = Job(name='tidy', master=master).run(input=INPUTS, map=fun_map)
    done.wait(poll_interval=0.05)
    assert run_ok('clean', '-q', running.name, master=http_url) == ''
    assert run_ok('purge', '@?tidy', master=http_url) == 'purge %s\n' % done.name
    names = run_ok('jobs', master=http_url).split()
    assert running.name not in names and done.name not in names
    assert_one_line_error(discolite('clean', master=http_url), '--finished')


def test_clean_finished(tmp_path):
    from tests.helpers import http_master
    with http_master(tmp_path) as url:
        disco = Disco(url)
        job = Job(master=disco).run(input=['raw://a'], map=fun_map)
        job.wait(poll_interval=0.05)
        assert run_ok('clean', '--finished', master=url) == 'clean %s\n' % job.name
        assert run_ok('jobs', master=url) == ''


# ----------------------------------------------------------------------- masters and errors

def test_master_forms(http_url):
    port = http_url.rsplit(':', 1)[1]
    assert run_ok('-M', '127.0.0.1:%s' % port, 'jobs') == run_ok('jobs', master=http_url)
    from tests.tools.conftest import clean_env
    proc = discolite('jobs', env=clean_env(DISCO_MASTER=http_url))
    assert proc.stdout == run_ok('jobs', master=http_url)


def test_unreachable_master():
    proc = discolite('jobs', master='http://127.0.0.1:9')
    assert_one_line_error(proc, '127.0.0.1:9')


def test_usage_errors_exit_2():
    proc = discolite('frobnicate')
    assert proc.returncode == 2 and 'invalid choice' in proc.stderr
    proc = discolite('jobinfo')
    assert proc.returncode == 2 and 'required' in proc.stderr


def test_main_in_process_error_exits(capsys):
    assert cli.main(['-M', 'http://127.0.0.1:9', 'jobinfo', 'x']) == 1
    err = capsys.readouterr().err
    assert err.startswith('discolite: error: ') and err.count('\n') == 1
    assert cli.main(['--settings', '/no/such/file', 'jobs']) == 1
    assert 'no such settings file' in capsys.readouterr().err
    assert cli.main(['run', '/no/such/script.py']) == 1
    assert 'no such script' in capsys.readouterr().err
    with pytest.raises(Exception):
        cli.main(['-v', '-M', 'http://127.0.0.1:9', 'jobs'])
    with pytest.raises(SystemExit) as e:
        cli.main(['wait'])
    assert e.value.code == 2


def test_main_in_process_against_a_local_master(capsys, local_master):
    job = Job(master=local_master.url).run(input=INPUTS, map=fun_map, reduce=fun_reduce)
    job.wait(poll_interval=0.05)
    assert cli.main(['-M', local_master.url, 'results', '@']) == 0
    assert sorted(capsys.readouterr().out.splitlines()) == \
        ["'a'\t1", "'cat'\t2", "'hat'\t1", "'the'\t2"]
    assert cli.main(['-M', local_master.url, 'purge', '@']) == 0
    assert cli.main(['-M', local_master.url, 'results', '@']) == 1
    assert 'no jobs on the master' in capsys.readouterr().err


def test_progress_line():
    from discolite.monitor import Progress
    progress = Progress(None, 'J', None, tty=False)
    progress.start = 100.0
    progress.counts = {'map:0': 1000}
    line = progress.line([['map', 0, 1, 1, 2, 0], ['map_shuffle', 0, 0, 0, 0, 0],
                          ['reduce', 0, 0, 0, 0, 1]], now=101.0)
    assert line == ('[J] map 2/4 (1 running)  map_shuffle 0/0  reduce 0/0 (1 failed) | '
                    '1,000 records 0/s | 1.0s, map ~1.0s left')
    progress.counts = {'map:0': 1000, 'map:1': 3000}
    line = progress.line([['map', 0, 0, 1, 3, 0], ['reduce', 0, 0, 0, 0, 0]], now=103.0)
    assert '4,000 records 1,500/s | 3.0s, map ~1.0s left' in line
