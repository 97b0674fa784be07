"""Errors that say why: the CLI's one-line error, JobError and jobinfo lead with the
failing task's exception and the user's file and line, for each failure a newcomer meets."""
import json
import textwrap

import pytest

from discolite import Disco, Job
from discolite.error import JobError
from tests.tools.conftest import assert_one_line_error, clean_env, discolite


def submit_script(tmp_path, http_url, body):
    """Run a script that submits a job to the HTTP master (without waiting); returns the
    job name it prints."""
    script = tmp_path / 'submit.py'
    script.write_text(textwrap.dedent(body))
    proc = discolite('run', script, env=clean_env(DISCO_MASTER=http_url), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()[-1]


def wait_error(http_url, name):
    proc = discolite('wait', name, master=http_url)
    assert_one_line_error(proc, 'job %s is dead: ' % name)
    return proc.stderr.strip()


def test_main_module_class(tmp_path, http_url):
    name = submit_script(tmp_path, http_url, '''
        from disco.core import Job
        class WordCount(Job):
            @staticmethod
            def map(line, params):
                yield line, 1
        job = WordCount().run(input=['raw://a'])
        print(job.name)
    ''')
    line = wait_error(http_url, name)
    assert line.startswith('discolite: error: job %s is dead: MainModuleError: WordCount is '
                           'defined in __main__' % name), line
    assert '(map:0)' in line


def test_message_throttle(tmp_path, http_url):
    name = submit_script(tmp_path, http_url, '''
        from disco.core import Job
        def chatty(line, params):
            for n in range(20):
                print(n)
            yield line, 1
        print(Job().run(input=['raw://a'], map=chatty).name)
    ''')
    line = wait_error(http_url, name)
    assert 'is dead: Worker is behaving badly: Sent 10 events in a second' in line, line


def test_breakpoint_in_the_pool(tmp_path, http_url):
    name = submit_script(tmp_path, http_url, '''
        from disco.core import Job
        def fmap(line, params):
            breakpoint()
            yield line, 1
        print(Job().run(input=['raw://a'], map=fmap).name)
    ''')
    line = wait_error(http_url, name)
    assert 'is dead: bdb.BdbQuit (map:0, %s line 5)' % (tmp_path / 'submit.py') in line, line
    assert 'run the job inline to debug it (discolite run --inline' in line


def test_exception_in_a_map(tmp_path, http_url):
    name = submit_script(tmp_path, http_url, '''
        from disco.core import Job
        def fmap(line, params):
            return {}[line]
        print(Job().run(input=['raw://k'], map=fmap).name)
    ''')
    line = wait_error(http_url, name)
    script = tmp_path / 'submit.py'
    assert "is dead: KeyError: 'k' (map:0, %s line 4)" % script in line, line
    # jobinfo: the same reason, on the command line and in the JSON
    proc = discolite('jobinfo', name, master=http_url)
    assert "reason    KeyError: 'k' (map:0, %s line 4)" % script in proc.stdout.splitlines()
    info = json.loads(discolite('jobinfo', '--json', name, master=http_url).stdout)
    assert info['active'] == 'dead' and info['reason'].startswith("KeyError: 'k' (map:0, ")


def test_job_error_message_leads_with_the_cause(disco):
    def fmap(line, params):
        raise ValueError('bad record %s' % line)
    job = Job(master=disco).run(input=['raw://r1'], map=fmap)
    with pytest.raises(JobError) as e:
        job.wait(poll_interval=0.05)
    first = str(e.value).splitlines()[0]
    assert first.startswith('Job %s failed: ValueError: bad record r1 (map:0, ' % job.name)
    assert first.endswith('test_errors.py line 90) (Status dead)'), first
    assert 'Traceback (most recent call last)' in str(e.value)  # the event follows
    assert disco.jobinfo(job.name)['reason'] == first.split(' failed: ', 1)[1][:-14]


def test_too_many_failures(disco):
    def fmap(line, params):
        raise IOError('cannot read %s' % line)
    job = Job(master=disco).run(input=['raw://f'], map=fmap)
    with pytest.raises(JobError) as e:
        job.wait(poll_interval=0.05)
    first = str(e.value).splitlines()[0]
    assert 'failed: OSError: cannot read f (map:0, ' in first, first
    assert 'Task map:0 failed 4 times. At most 3 failures are allowed.' in first


def test_killed_job_has_no_reason(disco):
    def slow(line, params):
        import time
        time.sleep(30)
        yield line, 1
    job = Job(master=disco).run(input=['raw://s'], map=slow)
    job.kill()
    with pytest.raises(JobError) as e:
        job.wait(poll_interval=0.05)
    assert str(e.value) == 'Job %s failed: Status dead' % job.name
    assert 'reason' not in disco.jobinfo(job.name)
