"""Inline debug mode: tasks run in the calling process, one after another, with the same
stages, partition files, events and results as the pool; pdb and print() work; a task's
exception is re-raised in the caller with its own traceback."""
import os
import sys
import textwrap
import traceback

import pexpect
import pytest

from discolite import Job, result_iterator
from discolite.error import DiscoError
from discolite.master import Master
from tests.tools.conftest import ROOT, clean_env, discolite

INPUTS = ['raw://a b', 'raw://b c', 'raw://c d']
COUNTS = [('a', 1), ('b', 2), ('c', 2), ('d', 1)]


def fun_map(line, params):
    for word in line.split():
        yield word, 1


def fun_reduce(iter, params):
    from disco.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


def noisy_map(line, params):
    for n in range(30):  # would trip the message throttle (10/s) in the pool
        print('noisy', line, n)
    yield line, os.getpid()


def failing_map(line, params):
    values = {'x': 1}
    return [(line, values[line])]  # KeyError for anything but 'x'


def global_map(line, params):
    yield line, COUNTS  # a module global: undefined on a node, so undefined inline too


@pytest.fixture
def inline():
    master = Master(DISCOLITE_INLINE='1')
    try:
        yield master
    finally:
        master.close()


def test_same_results_stages_and_partitions_as_the_pool(inline, local_master):
    seen = []
    for master in (inline, local_master):
        job = Job(master=master.url).run(input=INPUTS, map=fun_map, reduce=fun_reduce,
                                         partitions=3)
        assert sorted(result_iterator(job.wait(poll_interval=0.05))) == COUNTS
        info = job.jobinfo()
        messages = [e[2] for _o, e in job.events()]
        assert messages[-1].startswith('READY: Job done')
        map_outputs = sorted(sorted(r for r in result_iterator(urls))
                             for urls in job.stageresults('map'))
        seen.append((info['pipeline'], len(info['results']), map_outputs,
                     sorted(m.split(' Task finished')[0] for m in messages
                            if m.startswith('DONE: ['))))
    assert seen[0] == seen[1]
    assert [s[0] for s in seen[0][0]] == ['map', 'map_shuffle', 'reduce']


def test_tasks_run_in_this_process_and_print_reaches_stdout(inline, capfd):
    job = Job(master=inline.url).run(input=['raw://p', 'raw://q'], map=noisy_map)
    results = list(result_iterator(job.wait()))
    assert sorted(results) == [('p', os.getpid()), ('q', os.getpid())]
    out = capfd.readouterr().out
    assert 'noisy p 29\n' in out and 'noisy q 0\n' in out
    messages = [e[2] for _o, e in job.events()]
    assert 'MSG: [map:0] noisy p 29' in messages  # and in the events; no throttle
    assert os.getcwd() == str(ROOT) or os.path.isdir(os.getcwd())


def test_task_exception_is_reraised_with_its_traceback(inline):
    job = Job(master=inline.url).run(input=['raw://y'], map=failing_map)
    with pytest.raises(KeyError) as e:
        job.wait()
    frames = traceback.extract_tb(e.value.__traceback__)
    assert frames[-1].name == 'failing_map' and frames[-1].filename == __file__
    assert job.results()[0] == 'dead'
    messages = [e[2] for _o, e in job.events()]
    assert any(m.startswith('FATAL: [map:0]') and "KeyError: 'y'" in m for m in messages)
    with pytest.raises(DiscoError, match="KeyError: 'y'"):
        job.wait()  # once re-raised, later waits give the JobError


def test_functions_still_run_without_module_globals(inline):
    job = Job(master=inline.url).run(input=['raw://g'], map=global_map)
    with pytest.raises(NameError, match="'COUNTS'"):
        job.wait()


def test_disco_inline_setting_for_the_default_master(tmp_path):
    script = tmp_path / 'pid.py'
    script.write_text(textwrap.dedent('''
        import os
        from disco.core import Job, result_iterator
        def fmap(line, params):
            print('printed by the map')
            yield line, os.getpid()
        job = Job().run(input=['raw://x'], map=fmap)
        print(list(result_iterator(job.wait())) == [('x', os.getpid())])
    '''))
    for args, env in ((['run', '--inline', script], clean_env()),
                      (['run', script], clean_env(DISCOLITE_INLINE='1'))):
        proc = discolite(*args, env=env)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == 'printed by the map\nTrue\n'
    proc = discolite('run', script)  # the pool: another process, print() only in events
    assert proc.stdout == 'False\n', proc.stderr


def test_bad_setting():
    with pytest.raises(DiscoError, match='DISCOLITE_INLINE'):
        Master(DISCOLITE_INLINE='maybe')


PDB_SCRIPT = '''
from disco.core import Job, result_iterator

def fmap(line, params):
    word = line.upper()
    breakpoint()
    yield word, len(word)

job = Job().run(input=['raw://hello', 'raw://disco'], map=fmap)
print('RESULTS', sorted(result_iterator(job.wait())))
'''


def test_breakpoint_in_a_map_function_stops_and_continues(tmp_path):
    script = tmp_path / 'debug_me.py'
    script.write_text(PDB_SCRIPT)
    env = clean_env(PYTHONBREAKPOINT='pdb.set_trace')
    child = pexpect.spawn(sys.executable, ['-m', 'discolite', 'run', '--inline', str(script)],
                          env=env, cwd=str(tmp_path), encoding='utf-8', timeout=60)
    try:
        child.expect(r'\(Pdb\) ')
        assert 'debug_me.py(7)fmap()' in child.before  # stopped inside the map function
        child.sendline('p word')
        child.expect(r"'HELLO'")
        child.expect(r'\(Pdb\) ')
        child.sendline('c')  # on to the second map task: the same breakpoint
        child.expect(r'\(Pdb\) ')
        child.sendline('p line')
        child.expect(r"'disco'")
        child.expect(r'\(Pdb\) ')
        child.sendline('c')
        child.expect(r"RESULTS \[\('DISCO', 5\), \('HELLO', 5\)\]")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0


def test_pytest_option(pytester):
    pytester.makepyfile(textwrap.dedent('''
        import os
        from disco.core import Job, result_iterator

        def fmap(line, params):
            yield line, os.getpid()

        def test_inline(disco):
            job = Job().run(input=['raw://x'], map=fmap)
            assert list(result_iterator(job.wait())) == [('x', os.getpid())]
    '''))
    result = pytester.runpytest_subprocess('-p', 'no:cacheprovider', '--disco-inline')
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(['*inline: tasks run in this process*'])


def test_inline_and_an_http_master(tmp_path):
    script = tmp_path / 'x.py'
    script.write_text('print("ran")\n')
    proc = discolite('-M', 'http://127.0.0.1:9', 'run', '--inline', script)
    assert proc.returncode == 1 and proc.stdout == ''
    assert '--inline runs the tasks in this process' in proc.stderr
    proc = discolite('run', '--inline', script, env=clean_env(DISCO_MASTER='http://127.0.0.1:9'))
    assert proc.returncode == 0 and proc.stdout == 'ran\n'
    assert 'not on DISCO_MASTER=http://127.0.0.1:9' in proc.stderr


def test_the_callers_process_is_left_as_it_was(inline, monkeypatch):
    from discolite import alias
    monkeypatch.delenv('DISCO_PORT', raising=False)
    was_aliased = alias.installed()
    cwd, path = os.getcwd(), list(sys.path)
    job = Job(master=inline.url).run(input=INPUTS, map=fun_map, reduce=fun_reduce)
    assert sorted(result_iterator(job.wait())) == COUNTS
    assert 'DISCO_PORT' not in os.environ  # a task sets it for itself, from its payload
    assert alias.installed() == was_aliased
    assert (os.getcwd(), sys.path) == (cwd, path)


def nested_map(line, params):
    """A task that submits a job to its own master and waits for it."""
    from discolite import Disco, Job, result_iterator
    from discolite.worker import active_task

    def inner_map(entry, params):
        yield entry, 2
    inner = Job(master=Disco(active_task.master)).run(input=['raw://in'], map=inner_map)
    yield from result_iterator(inner.wait())


def test_a_task_waiting_for_another_job_gets_a_clear_error_not_a_hang(inline):
    """Inline, the other job's tasks would run in this thread after the current task:
    waiting for it could never end, so the wait fails at once and says why."""
    job = Job(master=inline.url).run(input=['raw://out'], map=nested_map)
    with pytest.raises(Exception) as exc:
        job.wait(timeout=60)
    assert 'cannot wait for another job' in str(exc.value)
    assert 'Run without inline mode' in str(exc.value)
