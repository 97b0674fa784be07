"""`discolite run SCRIPT`: Disco-style scripts from fixtures/disco_scripts run unchanged."""
import ast
import collections
import os
import shutil
import subprocess
import sys

import discolite as discolite_package
from tests.tools.conftest import ROOT, SCRIPTS, assert_one_line_error, clean_env, discolite

TEXTS = ROOT / 'fixtures' / 'texts'


def test_script_sees_argv_name_path_and_the_alias():
    proc = discolite('run', 'fixtures/disco_scripts/show_argv.py', 'a', '-b', '--c=1')
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split(' ', 1) for line in proc.stdout.splitlines())
    assert ast.literal_eval(lines['argv']) == ['fixtures/disco_scripts/show_argv.py', 'a', '-b',
                                               '--c=1']
    assert lines['name'] == '__main__'
    assert lines['path0'] == str(SCRIPTS)
    assert lines['disco'] == 'discolite discolite.job 1'


def test_console_script_entry_point():
    exe = shutil.which('discolite')
    assert exe, 'the discolite console script is installed by pip install'
    proc = subprocess.run([exe, 'run', str(SCRIPTS / 'show_argv.py'), 'x'], capture_output=True,
                          text=True, env=clean_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "argv ['%s', 'x']" % (SCRIPTS / 'show_argv.py') in proc.stdout


def expected_counts(*paths):
    counts = collections.Counter()
    for path in paths:
        counts.update(path.read_bytes().split())
    return dict(counts)


def parse_counts(stdout):
    counts = {}
    for line in stdout.splitlines():
        word, count = line.rsplit(' ', 1)
        counts[ast.literal_eval(word)] = int(count)
    return counts


def test_classic_word_count_script_runs_unchanged():
    proc = discolite('run', SCRIPTS / 'word_count.py')
    assert proc.returncode == 0, proc.stderr
    assert parse_counts(proc.stdout) == expected_counts(TEXTS / 'gettysburg.txt')
    # show=True prints the job's events on stderr, as Disco does
    assert 'READY: Job done' in proc.stderr


def test_word_count_script_with_arguments_and_python_dash_m(tmp_path):
    text = tmp_path / 'in.txt'
    text.write_bytes(b'to be or not to be\nthat is the question\n')
    proc = subprocess.run([sys.executable, '-m', 'discolite', 'run',
                           str(SCRIPTS / 'word_count.py'), str(text)],
                          capture_output=True, text=True, env=clean_env(), cwd=str(tmp_path),
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert parse_counts(proc.stdout) == expected_counts(text)


def test_chained_jobs_with_combiner_and_chain_reader():
    proc = discolite('run', SCRIPTS / 'count_and_rank.py', '10')
    assert proc.returncode == 0, proc.stderr
    ranked = [line.split(' ', 1) for line in proc.stdout.splitlines()]
    assert ranked[:2] == [['34', 'the'], ['17', 'that']]
    counts = [int(c) for c, _ in ranked]
    assert counts == sorted(counts, reverse=True) and min(counts) >= 10


def test_oob_put_and_get_in_tasks():
    proc = discolite('run', SCRIPTS / 'oob_letters.py')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ['c C', 'd D', 'i I', 'o O', 's S', 'c d i o s']


def test_params_carry_functions():
    proc = discolite('run', SCRIPTS / 'params_grep.py', 'devotion')
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.splitlines()) == sorted(
        line for line in (TEXTS / 'gettysburg.txt').read_text().splitlines()
        if 'devotion' in line)


def assert_user_traceback(proc, *needles):
    """`discolite run` of a script that raised: Python's traceback of the script's own code."""
    assert proc.returncode == 1, proc
    assert proc.stderr.startswith('Traceback (most recent call last):\n'), proc.stderr
    package = os.path.dirname(os.path.abspath(discolite_package.__file__)) + os.sep
    assert package not in proc.stderr and 'runpy' not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, (needle, proc.stderr)


def test_module_globals_mistake_shows_the_cause():
    proc = discolite('run', SCRIPTS / 'module_globals_error.py')
    assert_user_traceback(proc, 'module_globals_error.py", line 17, in <module>',
                          "NameError: name 'capwords' is not defined (map:0, ",
                          'module_globals_error.py line 13)', 'inside the function')
    # the one line of the JobError leads with the task's exception
    line = [l for l in proc.stderr.splitlines() if l.startswith('discolite.error.JobError')][0]
    assert line.split(' failed: ', 1)[1].startswith("NameError: name 'capwords'"), line
    verbose = discolite('-v', 'run', SCRIPTS / 'module_globals_error.py')
    assert verbose.returncode == 1 and 'Traceback' in verbose.stderr
    assert 'discolite/core.py' in verbose.stderr  # -v: discolite's frames too


def test_exit_status_of_the_script(tmp_path):
    script = tmp_path / 'exits.py'
    script.write_text('import sys\nprint("bye")\nsys.exit(3)\n')
    proc = discolite('run', script)
    assert (proc.returncode, proc.stdout) == (3, 'bye\n')
    script.write_text('import sys\nsys.exit("a message")\n')
    proc = discolite('run', script)
    assert (proc.returncode, proc.stderr) == (1, 'a message\n')


def test_an_error_in_the_script_shows_its_traceback(tmp_path):
    script = tmp_path / 'oops.py'
    script.write_text('import os\n\ndef f():\n    return 1 / 0\n\nx = f()\n')
    proc = discolite('run', script)
    assert_user_traceback(proc, 'File "%s", line 6, in <module>' % script,
                          'File "%s", line 4, in f' % script, '    return 1 / 0')
    assert proc.stderr.rstrip().splitlines()[-1] == 'ZeroDivisionError: division by zero'


def test_missing_script():
    assert_one_line_error(discolite('run', 'no/such/script.py'), 'no such script')


def test_script_against_an_http_master(http_url):
    # The master's pool processes alias `disco` too: the reduce imports disco.util.
    proc = discolite('run', SCRIPTS / 'count_and_rank.py', '10',
                     env=clean_env(DISCO_MASTER=http_url))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == '34 the'
    jobs = discolite('jobs', master=http_url).stdout.split()
    assert [j.split('@')[0] for j in jobs] == ['rank', 'count']
