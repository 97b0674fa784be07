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


def test_jobinfo_reason_from_the_events_of_a_master_without_it():
    # a real Disco master's jobinfo has no 'reason': the client works it out from the events
    import http.server
    from tests.helpers import serve_http
    info = {'timestamp': '2026/01/01 00:00:00', 'active': 'dead', 'pipeline': [],
            'results': [], 'inputs': ['raw://x'], 'worker': 'w', 'hosts': [], 'owner': 'o'}
    events = [['2026/01/01 00:00:00', 'master', 'New job initialized!'],
              ['2026/01/01 00:00:01', 'master',
               'FATAL: [map:0] Traceback (most recent call last):\n'
               '  File "/home/u/wc.py", line 7, in fun_map\n    1 / 0\n'
               'ZeroDivisionError: division by zero'],
              ['2026/01/01 00:00:01', 'master', 'WARN: Job killed']]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.startswith('/disco/ctrl/jobinfo'):
                body = json.dumps(info).encode()
            else:
                body = ''.join(json.dumps(e) + '\n' for e in events).encode()
            self.send_response(200)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    with serve_http(Handler) as url:
        got = Disco(url).jobinfo('J@1:2:3')
        assert got['reason'] == 'ZeroDivisionError: division by zero (map:0, /home/u/wc.py line 7)'
        proc = discolite('jobinfo', 'J@1:2:3', master=url)
        assert 'reason    ZeroDivisionError: division by zero (map:0, /home/u/wc.py line 7)' \
            in proc.stdout.splitlines(), proc.stderr
