"""No silent mistakes: each one a user makes is reported, run as the user runs it."""
import textwrap
import warnings

import pytest

from discolite import Job, result_iterator
from tests.tools.conftest import clean_env, discolite

HEAD = textwrap.dedent('''
    import sys
    from disco.core import Job, result_iterator

    def fun_map(line, params):
        for word in line.split():
            yield word, 1

    def fun_reduce(iter, params):
        from disco.util import kvgroup
        for word, counts in kvgroup(sorted(iter)):
            yield word, sum(counts)
''')


def run_script(tmp_path, body, *args, env=None):
    script = tmp_path / 'job.py'
    script.write_text(HEAD + textwrap.dedent(body))
    return discolite('run', script, *args, cwd=tmp_path, env=env)


def test_unknown_job_argument(tmp_path):
    proc = run_script(tmp_path, '''
        job = Job().run(input=['raw://a b', 'raw://c'], map=fun_map, parititions=4)
        print(len(job.wait()))
        print([e[2] for _o, e in job.events() if 'WARNING' in e[2]])
    ''')
    assert proc.returncode == 0, proc.stderr
    assert "job.py:14: UserWarning: unknown job argument 'parititions' is ignored " \
           "(did you mean 'partitions'?)" in proc.stderr
    # an event too, from the job's first task
    assert proc.stdout.splitlines() == ['1', '["MSG: [map:0] WARNING: unknown job argument '
                                        '\'parititions\' is ignored (did you mean '
                                        '\'partitions\'?)"]']


def test_known_arguments_do_not_warn():
    def fmap(line, params):
        yield line, 1
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        Job().pack(input=['raw://a'], map=fmap, partitions=2, sort=True, combiner=None,
                   save_results=False, profile=False, params={}, status_interval=10,
                   required_modules=[], name='x')


def test_three_argument_generator_reduce(tmp_path):
    proc = run_script(tmp_path, '''
        def reduce(key, values, params):  # mrjob style
            yield key, sum(values)
        job = Job().run(input=['raw://a b a'], map=fun_map, reduce=reduce)
        print(list(result_iterator(job.wait())))
    ''')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == '[]\n'  # what Disco does with it...
    assert 'UserWarning: reduce function reduce(key, values, params) takes 3 arguments and ' \
           'yields: Disco has two reduce signatures, reduce(iter, params)' in proc.stderr
    assert 'reduce(iter, out, params), which writes them with out.add(key, value)' \
        in proc.stderr  # ... and why


def test_three_argument_reduce_with_out_add_does_not_warn():
    def fmap(line, params):
        yield line, 1

    def freduce(iter, out, params):
        for k, v in iter:
            out.add(k, v)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        job = Job().run(input=['raw://a'], map=fmap, reduce=freduce)
        assert list(result_iterator(job.wait(poll_interval=0.05))) == [('a', 1)]


def test_job_never_waited_for(tmp_path):
    proc = run_script(tmp_path, '''
        import time
        def slow_map(line, params):
            import time
            time.sleep(30)
            yield line, 1
        job = Job().run(input=['raw://a'], map=slow_map)
        done = Job().run(input=['raw://b'], map=fun_map)
        done.wait()
        print('submitted', job.name)
    ''')
    assert proc.returncode == 0, proc.stderr
    name = proc.stdout.split()[1]
    assert 'discolite: warning: job %s was still active when this process exited: it was ' \
           'never waited for (call job.wait() to get its results); the in-process master ' \
           'kills it now' % name in proc.stderr
    assert proc.stderr.count('never waited for') == 1  # not for the job that was waited for


def test_result_iterator_of_a_job(tmp_path):
    proc = run_script(tmp_path, '''
        job = Job().run(input=['raw://a'], map=fun_map)
        print(list(result_iterator(job)))
    ''')
    assert proc.returncode == 1
    assert "\nTypeError: result_iterator() takes a job's results, not the Job Job@" \
        in proc.stderr
    assert 'pass job.wait()' in proc.stderr


def test_relative_input_path(tmp_path):
    (tmp_path / 'small.txt').write_text('the cat\nthe hat\n')
    proc = run_script(tmp_path, '''
        job = Job().run(input=sys.argv[1:], map=fun_map, reduce=fun_reduce)
        print(sorted(result_iterator(job.wait())))
    ''', 'small.txt')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "[(b'cat', 1), (b'hat', 1), (b'the', 2)]\n"
    # a relative path that does not exist is left as it is (and fails as on Disco)
    proc = run_script(tmp_path, '''
        Job().run(input=['nosuch.txt'], map=fun_map).wait()
    ''', env=clean_env(DISCOLITE_MAX_FAILURES='0'))
    assert proc.returncode == 1 and 'nosuch.txt' in proc.stderr


def test_relative_input_path_for_an_http_master_on_this_machine(tmp_path, http_url):
    (tmp_path / 'small.txt').write_text('one two\n')
    proc = run_script(tmp_path, '''
        job = Job().run(input=['small.txt'], map=fun_map)
        print(sorted(result_iterator(job.wait(poll_interval=0.05))))
    ''', env=clean_env(DISCO_MASTER=http_url))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "[(b'one', 1), (b'two', 1)]\n"
