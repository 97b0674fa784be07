"""kill, clean, purge, blacklist and whitelist (DISCO-SPEC §7.6, §7.8)."""
import json
import os
import time

import pytest

from discolite import Disco, result_iterator
from discolite.error import CommError, DiscoError, JobError

from tests.control.common import (POLL, messages, only_local, pid_alive, records, run_words,
                                  until)


def _write_oob_map(line, params):
    put('key-' + line, line.encode())
    yield line, 1


def test_kill_stops_running_tasks_within_a_second(disco, gate):
    g = gate(inputs=['raw://a', 'raw://b'])
    pids = g.wait_running(2)
    assert all(pid_alive(p) for p in pids)
    killed = time.time()
    disco.kill(g.name)
    until(lambda: not any(pid_alive(p) for p in pids), timeout=1.0,
          what='the processes running the killed tasks to exit')
    until(lambda: disco.jobinfo(g.name)['active'] == 'dead', timeout=1.0 - (time.time() - killed),
          what='the job to be dead')
    info = disco.jobinfo(g.name)
    assert info['hosts'] == [] and info['results'] == []
    assert info['pipeline'][0] == ['map', 0, 2, 0, 0, 0]  # as in captures/jobinfo_killed
    assert disco.results(g.name) == ('dead', [])
    assert messages(disco, g.name)[-1] == 'WARN: Job killed'
    host = list(disco.nodeinfo())[0]
    assert 'tasks' not in disco.nodeinfo()[host]
    g.open()  # nothing of the killed job runs on: no task gets past the gate
    time.sleep(0.3)
    assert g.finished_maps() == []
    with pytest.raises(JobError) as e:
        g.job.wait(poll_interval=POLL)
    assert e.value.message == 'Status dead'
    # the pool still works after the kill
    assert records(disco, run_words(disco)) == [('alpha', 1), ('beta', 2), ('gamma', 1)]


@only_local
def test_kill_frees_every_pool_slot(local_master, tmp_path):
    from tests.control.common import Gate
    disco = Disco(local_master.url)
    g = Gate(disco, tmp_path, inputs=['raw://a', 'raw://b', 'raw://c'])
    g.wait_running(2)
    pool = local_master.scheduler.pool
    (host, node), = disco.nodeinfo().items()
    assert node['max_workers'] == pool.size == len(pool.slots)
    assert node['tasks'] == [g.name, g.name]
    busy = {s.pid for s in pool.slots if s.task is not None and s.task.job.name == g.name}
    assert len(busy) == 2
    disco.kill(g.name)
    until(lambda: not any(s.task is not None and s.task.job.name == g.name for s in pool.slots),
          timeout=1.0, what='slots to be released')
    until(lambda: not any(pid_alive(p) for p in busy), timeout=1.0, what='processes to exit')
    until(lambda: not busy & {s.pid for s in pool.slots}, timeout=1.0,
          what='the killed processes to be reaped and dropped from the pool')
    # the process table holds no child of the master still running the job (ps)
    children = _children(os.getpid())
    assert not busy & children
    until(lambda: len(pool.slots) == pool.size and all(s.process.is_alive() for s in pool.slots),
          timeout=10, what='the pool to be refilled')
    g.open()


def _children(pid):
    out = set()
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry) as f:
                    fields = f.read().rsplit(')', 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] not in 'ZX':
                out.add(int(entry))
    return out


def test_kill_ready_or_unknown_job_is_harmless(disco):
    job = run_words(disco)
    job.wait(poll_interval=POLL)
    before = disco.rawevents(job.name)
    assert disco.kill(job.name) is None
    assert disco.results(job.name)[0] == 'ready'
    assert disco.rawevents(job.name) == before  # a finished job's log is closed
    for call in (disco.kill, disco.clean, disco.purge):
        assert call('NoSuchJob@0:0:0') is None


def test_clean_forgets_job_but_keeps_data(disco):
    job = run_words(disco, map=_write_oob_map, inputs=['raw://x', 'raw://y'])
    results = job.wait(poll_interval=POLL)
    assert disco.clean(job.name) is None
    assert job.name not in [n for _t, _s, n in disco.joblist()]
    assert disco.results(job.name) == ('unknown job', [])
    for call in (lambda: disco.jobinfo(job.name), lambda: disco.rawevents(job.name),
                 lambda: list(disco.events(job.name)), lambda: disco.jobpack(job.name),
                 lambda: disco.stageresults(job.name, 'map')):
        with pytest.raises(CommError) as e:
            call()
        assert e.value.code == 404
    # data and OOB are kept
    assert sorted(result_iterator(results, ddfs=disco.master)) == [('x', 1), ('y', 1)]
    assert disco.oob_get(job.name, 'key-x') == b'x'


def test_clean_of_running_job_kills_it(disco, gate):
    g = gate(inputs=['raw://a'])
    pids = g.wait_running(1)
    disco.clean(g.name)
    until(lambda: not any(pid_alive(p) for p in pids), timeout=1.0, what='the task to stop')
    assert disco.results(g.name) == ('unknown job', [])


def test_purge_removes_metadata_and_data_keeps_oob(disco):
    job = run_words(disco, map=_write_oob_map, inputs=['raw://x', 'raw://y'])
    results = job.wait(poll_interval=POLL)
    maps = disco.stageresults(job.name, 'map')
    assert disco.oob_list(job.name)
    assert disco.purge(job.name) is None
    assert disco.results(job.name) == ('unknown job', [])
    assert job.name not in [n for _t, _s, n in disco.joblist()]
    with pytest.raises(CommError) as e:
        disco.jobinfo(job.name)
    assert e.value.code == 404
    # as on Disco (after_purge_oob_tag), the OOB tag outlives purge
    assert disco.oob_get(job.name, 'key-x') == b'x'
    for url in [u for r in results + maps for u in r]:  # index files are gone
        path = '/' + url.split('://', 1)[1].split('/', 1)[1]
        with pytest.raises(CommError) as e:
            disco.request(path)
        assert e.value.code == 404
    with pytest.raises(Exception):
        list(result_iterator(results, ddfs=disco.master))


@only_local
def test_purge_leaves_no_file_of_the_job(local_master):
    disco = Disco(local_master.url)
    other = run_words(disco)
    job = run_words(disco, map=_write_oob_map, inputs=['raw://x', 'raw://y'], profile=True)
    job.wait(poll_interval=POLL)
    other.wait(poll_interval=POLL)
    root = local_master.storage.root
    assert _files_of(root, job.name)
    disco.purge(job.name)
    assert _files_of(root, job.name) == []
    assert _files_of(root, other.name)  # other jobs are untouched
    assert records(disco, other) == [('alpha', 1), ('beta', 2), ('gamma', 1)]


def _files_of(root, name):
    """Files of the job outside DDFS (whose OOB tag purge keeps, as Disco does)."""
    found = []
    for d, dirs, files in os.walk(root):
        if d == root and 'ddfs' in dirs:
            dirs.remove('ddfs')
        for f in dirs + files:
            path = os.path.join(d, f)
            if name in path:
                found.append(path)
    return found


def test_blacklist_stalls_and_whitelist_resumes(disco):
    host = list(disco.nodeinfo())[0]
    try:
        assert disco.blacklist(host) is None
        assert disco.nodeinfo()[host]['blacklisted'] is True
        assert json.loads(disco.request('/disco/ctrl/get_blacklist')) == [host]
        job = run_words(disco)
        time.sleep(0.5)
        info = disco.jobinfo(job.name)
        assert info['active'] == 'active'
        assert [s[3:5] for s in info['pipeline']] == [[0, 0], [0, 0], [0, 0]]  # nothing ran
        assert disco.results(job.name, timeout=200)[0] == 'active'
        assert disco.whitelist(host) is None
        assert disco.nodeinfo()[host]['blacklisted'] is False
        assert records(disco, job) == [('alpha', 1), ('beta', 2), ('gamma', 1)]
    finally:
        disco.whitelist(host)
    assert json.loads(disco.request('/disco/ctrl/get_blacklist')) == []


def test_blacklist_unknown_node_is_ignored(disco):
    disco.blacklist('no-such-node')
    disco.whitelist('no-such-node')
    assert json.loads(disco.request('/disco/ctrl/get_blacklist')) == []
    assert all(not node['blacklisted'] for node in disco.nodeinfo().values())


def _oob_count(disco, name):
    try:
        return len(disco.ddfs.urls(disco.ddfs.job_oob(name)))
    except CommError:
        return 0


def busy_writer_map(e, params):
    import os
    import time
    open(os.path.join(params, 'started-%d' % os.getpid()), 'w').close()
    i = 0
    deadline = time.time() + 60
    while time.time() < deadline:  # writes OOB values until it is killed
        put('%s-%d' % (e, i % 50), b'x' * 1000)
        i += 1
    yield e, i


@only_local
def test_purge_of_a_running_job_leaves_no_file(local_master, tmp_path):
    disco = Disco(local_master.url)
    job = run_words(disco, map=busy_writer_map, inputs=['raw://a', 'raw://b'],
                    params=str(tmp_path))
    until(lambda: len(os.listdir(str(tmp_path))) == 2, what='both tasks to start')
    until(lambda: _oob_count(disco, job.name) > 20, what='OOB values to be written')
    pids = [int(n.split('-')[1]) for n in os.listdir(str(tmp_path))]
    disco.purge(job.name)
    assert not any(pid_alive(p) for p in pids)  # purge returns once the tasks are gone
    assert disco.results(job.name) == ('unknown job', [])
    time.sleep(0.2)
    assert _files_of(local_master.storage.root, job.name) == []
