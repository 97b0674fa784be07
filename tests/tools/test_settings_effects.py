"""Every setting in the README's table has an effect, and each test here proves it (not
only that a bad value is refused).  ``test_every_readme_setting_is_tested`` keeps the
table and these tests in step."""
import os
import re
import sys

import pytest

from discolite import Job, result_iterator
from discolite.error import JobError
from discolite.master import Master
from tests.tools import globals_module
from tests.tools.conftest import ROOT, clean_env, discolite

POLL = 0.05


def run(master, **jobargs):
    job = Job(master=master.url).run(**jobargs)
    return job, list(result_iterator(job.wait(poll_interval=POLL)))


def messages(job):
    return [e[2] for _o, e in job.events()]


def pid_map(line, params):
    import os
    yield line, os.getpid()


def marker_map(line, params):
    import sys
    yield line, 'discolite_test_marker' in sys.modules


def argv_map(line, params):
    import sys
    yield line, sys.argv[0]


def flaky_map(line, params):
    raise IOError('the disk is gone')


def chatty_map(line, params):
    for n in range(15):
        print('line', n)
    yield line, 1


#: Settings whose effect is proven by the tests of the feature they belong to.
ELSEWHERE = {'DISCOLITE_NODES': 'tests/pipeline/test_nodes.py',
             'DISCOLITE_FAILING_NODES': 'tests/pipeline/test_nodes.py',
             'DISCOLITE_ISOLATION': 'tests/reliability/test_isolation.py',
             'DISCOLITE_KILL_TASK_PROCESSES': 'tests/reliability/test_isolation.py'}


def test_every_readme_setting_is_tested():
    table = re.findall(r'^\| `(DISCOLITE_\w+)` \|', (ROOT / 'README.md').read_text(), re.M)
    assert table
    tests = {name for name in globals() if name.startswith('test_')}
    for setting in table:
        if setting in ELSEWHERE:  # a master made with it there
            assert '%s=' % setting in (ROOT / ELSEWHERE[setting]).read_text(), setting
        else:
            assert 'test_%s' % setting.lower() in tests, setting


def test_discolite_data(tmp_path):
    data = tmp_path / 'data'
    with Master(DISCOLITE_DATA=str(data), DISCOLITE_WORKERS=1) as master:
        job, records = run(master, input=['raw://x'], map=pid_map)
        jobhomes = [p for p in data.rglob(job.name) if p.is_dir()]
        assert jobhomes  # the job's files are in the given directory
    assert data.is_dir()  # and it is kept (a temporary one is deleted)
    with Master(DISCOLITE_WORKERS=1) as master:
        root = master.storage.root
        assert os.path.isdir(root)
    assert not os.path.exists(root)


def test_discolite_workers():
    with Master(DISCOLITE_WORKERS=3) as master:
        from discolite import Disco
        nodes = Disco(master.url).nodeinfo()
        assert [n['max_workers'] for n in nodes.values()] == [3]
        job, records = run(master, input=['raw://%d' % i for i in range(6)], map=pid_map)
        assert len({pid for _l, pid in records}) <= 3


def test_discolite_start_method():
    sys.modules['discolite_test_marker'] = type(sys)('discolite_test_marker')
    try:
        seen = {}
        for method in ('fork', 'forkserver'):
            with Master(DISCOLITE_START_METHOD=method, DISCOLITE_WORKERS=1) as master:
                seen[method] = run(master, input=['raw://x'], map=marker_map)[1]
        # fork: a pool process inherits what this process imported; forkserver does not
        assert seen == {'fork': [('x', True)], 'forkserver': [('x', False)]}
    finally:
        del sys.modules['discolite_test_marker']


def test_discolite_host():
    with Master(DISCOLITE_HOST='node7', DISCOLITE_WORKERS=1) as master:
        job, records = run(master, input=['raw://x'], map=pid_map)
        assert records and job.wait()[0][0].startswith('dir://node7/disco/node7/')
        hosts = {e[1] for _o, e in job.events()}
        assert hosts == {'master', 'node7'}


def test_discolite_max_failures():
    with Master(DISCOLITE_MAX_FAILURES=1, DISCOLITE_RETRY_DELAY=0,
                DISCOLITE_WORKERS=1) as master:
        job = Job(master=master.url).run(input=['raw://x'], map=flaky_map)
        with pytest.raises(JobError, match='failed 2 times. At most 1 failures are allowed'):
            job.wait(poll_interval=POLL)
        assert sum('Worker' not in m and m.startswith('WARNING: [map:0]')
                   for m in messages(job)) == 2


def test_discolite_retry_delay():
    with Master(DISCOLITE_MAX_FAILURES=1, DISCOLITE_RETRY_DELAY=0.4,
                DISCOLITE_WORKERS=1) as master:
        job = Job(master=master.url).run(input=['raw://x'], map=flaky_map)
        with pytest.raises(JobError):
            job.wait(poll_interval=POLL)
        sleeps = [float(m) for m in re.findall(r'Sleeping ([\d.]+) seconds',
                                               '\n'.join(messages(job)))]
        assert len(sleeps) == 1 and 0.4 <= sleeps[0] <= 0.8  # delay * k * (1 + random())


def test_discolite_msg_limit():
    with Master(DISCOLITE_WORKERS=1) as master:  # Disco's throttle: 10 a second
        job = Job(master=master.url).run(input=['raw://x'], map=chatty_map)
        with pytest.raises(JobError, match='Worker is behaving badly'):
            job.wait(poll_interval=POLL)
    with Master(DISCOLITE_MSG_LIMIT=0, DISCOLITE_WORKERS=1) as master:
        job, records = run(master, input=['raw://x'], map=chatty_map)
        assert records == [('x', 1)]
        assert sum(m.startswith('MSG: [map:0] line ') for m in messages(job)) == 15


def test_discolite_keep_globals(tmp_path):
    fmap = globals_module.shout_map  # uses the module global SUFFIX
    with Master(DISCOLITE_WORKERS=1) as master:
        job = Job(master=master.url).run(input=['raw://a'], map=fmap)
        with pytest.raises(JobError, match="NameError: name 'SUFFIX' is not defined"):
            job.wait(poll_interval=POLL)  # as on a Disco node
    with Master(DISCOLITE_WORKERS=1, DISCOLITE_KEEP_GLOBALS=True) as master:
        assert run(master, input=['raw://a'], map=fmap)[1] == [('a!', 1)]
    # as a user sets it: in the environment of `discolite run`
    script = tmp_path / 'keep.py'
    script.write_text('from disco.core import Job, result_iterator\n'
                      'from tests.tools.globals_module import shout_map\n'
                      'job = Job().run(input=["raw://b"], map=shout_map)\n'
                      'print(list(result_iterator(job.wait())))\n')
    env = clean_env(DISCOLITE_KEEP_GLOBALS='True', PYTHONPATH=str(ROOT))
    proc = discolite('run', script, env=env)
    assert (proc.returncode, proc.stdout) == (0, "[('b!', 1)]\n"), proc.stderr
    proc = discolite('run', script, env=clean_env(PYTHONPATH=str(ROOT)))
    assert proc.returncode == 1 and "NameError: name 'SUFFIX'" in proc.stderr


def test_discolite_inline():
    with Master(DISCOLITE_INLINE=True) as master:
        assert run(master, input=['raw://x'], map=pid_map)[1] == [('x', os.getpid())]
    with Master(DISCOLITE_WORKERS=1) as master:
        assert run(master, input=['raw://x'], map=pid_map)[1] != [('x', os.getpid())]


def test_discolite_external_workers():
    with Master(DISCOLITE_EXTERNAL_WORKERS=True, DISCOLITE_WORKERS=1) as master:
        job, records = run(master, input=['raw://x'], map=argv_map)
        # the task ran as the job home's worker executable, as on a Disco node
        assert records[0][1].endswith('lib/discolite/worker/classic/worker.py'), records
    with Master(DISCOLITE_WORKERS=1) as master:
        assert not run(master, input=['raw://x'], map=argv_map)[1][0][1].endswith('worker.py')
