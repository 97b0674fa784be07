"""Disco's client methods (seed page 000, DISCO-SPEC §1.2, §7): one test per behaviour."""
import io
import json
import re
import time

import pytest

from discolite import Disco, Job, result_iterator
from discolite.core import Disco as CoreDisco
from discolite.error import CommError, DiscoError, JobError
from discolite.job import JobChain, JobPack

from tests.control.common import POLL, count_reduce, records, run_words, until, words_map

TIMESTAMP = re.compile(r'^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d$')


def test_request_get_post_and_range(disco):
    assert json.loads(disco.request('/disco/version')) == '0.5.4'
    job = run_words(disco)
    job.wait(poll_interval=POLL)
    url = '/disco/ctrl/rawevents?name=%s' % job.name
    whole = disco.request(url)
    assert disco.request(url, offset=10) == whole[10:]
    assert disco.request(url, offset=10, as_bytes=True) == whole[10:].encode()
    assert disco.request(url, offset=len(whole)) == ''
    # POST with raw bytes or str bodies
    reply = disco.request('/disco/ctrl/get_results', json.dumps([0, [job.name]]).encode())
    assert json.loads(reply)[0][1][0] == 'ready'
    assert disco.request('/disco/ctrl/kill_job', '"NoSuchJob@0:0:0"') == '""'
    with pytest.raises(CommError) as e:
        disco.request('/disco/ctrl/no_such_op')
    assert e.value.code == 404


def test_nodeinfo_idle_and_busy(disco, gate):
    info = disco.nodeinfo()
    assert len(info) == 1
    (host, node), = info.items()
    assert node['max_workers'] == int(disco.config[0][1]) >= 1
    assert node['blacklisted'] is False and node['connected'] is True
    for key in ('job_ok', 'data_error', 'error', 'diskfree', 'diskused'):
        assert isinstance(node[key], int) and not isinstance(node[key], bool)
    until(lambda: 'tasks' not in disco.nodeinfo()[host], what='an idle node')
    g = gate(inputs=['raw://a'])
    g.wait_running(1)
    assert disco.nodeinfo()[host]['tasks'] == [g.name]
    assert disco.jobinfo(g.name)['hosts'] == [host]
    g.open()
    g.job.wait(poll_interval=POLL)
    until(lambda: 'tasks' not in disco.nodeinfo()[host], what='tasks to disappear')


def test_joblist_newest_first(disco):
    first = run_words(disco)
    second = run_words(disco)
    second.wait(poll_interval=POLL)
    first.wait(poll_interval=POLL)
    listing = disco.joblist()
    names = [name for _t, _s, name in listing]
    assert names.index(second.name) < names.index(first.name)
    for start, status, name in listing:
        assert isinstance(start, int) and status in ('active', 'ready', 'dead')
    entry = listing[names.index(first.name)]
    assert entry[1] == 'ready' and abs(entry[0] - time.time()) < 600


def test_jobinfo_fields_and_types(disco):
    job = run_words(disco, inputs=['raw://alpha beta', 'raw://beta gamma', 'raw://beta'])
    job.wait(poll_interval=POLL)
    info = disco.jobinfo(job.name)
    assert set(info) == {'timestamp', 'active', 'pipeline', 'results', 'inputs', 'worker',
                         'hosts', 'owner'}
    assert TIMESTAMP.match(info['timestamp'])
    assert info['active'] == 'ready'
    assert info['pipeline'] == [['map', 0, 0, 0, 3, 0], ['map_shuffle', 0, 0, 0, 1, 0],
                                ['reduce', 0, 0, 0, 1, 0]]
    assert info['results'] == [u for r in job.wait() for u in r]
    assert all(isinstance(u, str) and u.startswith('dir://') for u in info['results'])
    assert info['inputs'] == ['raw://alpha beta', 'raw://beta gamma', 'raw://beta']
    assert isinstance(info['worker'], str) and info['worker'].endswith('worker.py')
    assert info['hosts'] == []
    assert isinstance(info['owner'], str) and info['owner']
    assert job.jobinfo() == info


def test_jobinfo_while_active(disco, gate):
    g = gate(inputs=['raw://a', 'raw://b'])
    g.wait_running(2)
    info = disco.jobinfo(g.name)
    assert info['active'] == 'active' and info['results'] == []
    assert info['pipeline'][0] == ['map', 0, 0, 2, 0, 0]
    assert len(info['hosts']) == 2


def test_results_single_forms(disco, gate):
    job = run_words(disco)
    status, results = disco.results(job, timeout=10000)
    assert status == 'ready'
    assert isinstance(results, list) and all(isinstance(r, list) for r in results)
    assert disco.results(job.name) == (status, results) == job.results()
    assert disco.results('NoSuchJob@0:0:0') == ('unknown job', [])
    g = gate()
    assert disco.results(g.name, timeout=0) == ('active', [])
    disco.kill(g.name)
    assert disco.results(g.name) == ('dead', [])


def test_results_list_form_and_timeout(disco, gate):
    done = run_words(disco)
    done.wait(poll_interval=POLL)
    g = gate()
    started = time.time()
    inactive, active = disco.results([done, g.name, 'NoSuchJob@0:0:0'], timeout=300)
    elapsed = time.time() - started
    assert 0.2 < elapsed < 10  # waited about 300 ms for an active job to finish
    assert [n for n, _ in active] == [g.name]
    assert active[0][1] == ('active', [])
    assert dict(inactive) == {done.name: ('ready', done.wait()),
                              'NoSuchJob@0:0:0': ('unknown job', [])}
    # the active list can be fed back; the call returns as soon as one job ends
    g.open()
    inactive, active = disco.results(active, timeout=30000)
    assert active == [] and inactive[0][0] == g.name and inactive[0][1][0] == 'ready'
    # only inactive jobs: no waiting at all
    started = time.time()
    disco.results([done.name], timeout=20000)
    assert time.time() - started < 10


def test_wait_returns_results_and_timeout_raises(disco, gate):
    job = run_words(disco)
    assert job.wait(poll_interval=POLL) == disco.results(job)[1]
    g = gate()
    with pytest.raises(JobError) as e:
        disco.wait(g.name, poll_interval=POLL, timeout=0.3)
    assert e.value.message == 'Timeout' and str(e.value) == 'Job %s failed: Timeout' % g.name
    assert disco.results(g.name, timeout=0)[0] == 'active'  # the job keeps running
    disco.kill(g.name)
    with pytest.raises(JobError) as e:
        g.job.wait(poll_interval=POLL)
    assert str(e.value) == 'Job %s failed: Status dead' % g.name


def test_wait_clean_keeps_disco_quirk_with_warning(disco):
    job = run_words(disco)
    job.wait(poll_interval=POLL)
    with pytest.warns(DeprecationWarning):
        results = disco.wait(job.name, poll_interval=POLL, clean=True)
    assert results
    assert disco.results(job.name) == ('unknown job', [])


def test_wait_clean_on_active_job_kills_and_forgets_it(disco, gate):
    g = gate()
    with pytest.warns(DeprecationWarning, match='every poll'):
        with pytest.raises(JobError) as e:
            disco.wait(g.name, poll_interval=POLL, clean=True)
    assert e.value.message == 'Status unknown job'  # Disco's quirk (DISCO-SPEC 7.5)
    assert disco.results(g.name) == ('unknown job', [])


def test_jobpack_is_byte_identical(disco):
    job = Job(master=disco)
    pack = job.pack(input=['raw://x'], map=words_map)
    data = pack.dumps()
    name = disco.submit(data)
    disco.wait(name, poll_interval=POLL)
    assert disco.request('/disco/ctrl/parameters?name=%s' % name, as_bytes=True) == data
    loaded = disco.jobpack(name)
    assert loaded.jobdict == pack.jobdict and loaded.jobenvs == pack.jobenvs
    assert loaded.jobhome == pack.jobhome and loaded.jobdata == pack.jobdata
    assert Job(name=name, master=disco).jobpack().jobdict['prefix'] == 'Job'


def test_stageresults_404_until_stage_done(disco, gate):
    g = gate(inputs=['raw://a', 'raw://b'], reduce=count_reduce, partitions=2)
    g.wait_running(2)
    with pytest.raises(CommError) as e:
        disco.stageresults(g.name, 'map')
    assert e.value.code == 404
    g.open()
    results = g.job.wait(poll_interval=POLL)
    maps = g.job.stageresults('map')
    assert len(maps) == 2 and all(len(r) == 1 and r[0].startswith('dir://') for r in maps)
    assert sorted(result_iterator(maps, ddfs=disco.master)) == [('a', 1), ('b', 1)]
    assert disco.stageresults(g.name, 'reduce') == results
    with pytest.raises(CommError) as e:
        disco.stageresults(g.name, 'no_such_stage')
    assert e.value.code == 404
    with pytest.raises(CommError) as e:
        disco.stageresults('NoSuchJob@0:0:0', 'map')
    assert e.value.code == 404


def test_new_job_and_result_iterator_method(disco):
    job = disco.new_job('NewJob', input=['raw://a b a'], map=words_map, reduce=count_reduce)
    assert isinstance(job, Job) and job.name.startswith('NewJob@')
    results = job.wait(poll_interval=POLL)
    assert sorted(disco.result_iterator(results)) == [('a', 2), ('b', 1)]
    assert list(disco.result_iterator(results, reader=None))  # raw lines


def test_proxy_functions(disco):
    assert Job.proxy_functions == ('clean', 'events', 'kill', 'jobinfo', 'jobpack', 'oob_get',
                                   'oob_list', 'profile_stats', 'purge', 'results',
                                   'stageresults', 'wait')
    job = run_words(disco)
    for attr in Job.proxy_functions:
        proxy = getattr(job, attr)
        assert proxy.func == getattr(job.disco, attr) and proxy.args == (job.name,)
    with pytest.raises(AttributeError):
        job.rawevents
    job.wait(poll_interval=POLL)
    assert list(job.events()) == list(disco.events(job.name))


def test_job_handle_on_existing_job(disco):
    job = run_words(disco)
    handle = Job(name=job.name, master=disco)
    assert handle.wait(poll_interval=POLL) == job.wait(poll_interval=POLL)
    assert handle.jobinfo()['active'] == 'ready'
    assert records(disco, handle) == [('alpha', 1), ('beta', 2), ('gamma', 1)]
    by_url = Job(name=job.name, master=disco.master)  # a master URL works as well
    assert isinstance(by_url.disco, CoreDisco) and by_url.results()[0] == 'ready'


def test_jobchain_wait_walk_purge(disco):
    from tests.control.jobs import ChainSuffix, ChainWords
    a = ChainWords(master=disco)
    b = ChainWords(master=disco)
    c = ChainSuffix(master=disco)
    chain = JobChain({a: ['raw://x y', 'raw://y'], b: ['raw://z'], c: [a, b]})
    assert chain.wait(poll_interval=POLL) is chain
    assert sum(chain.walk()) == 3
    assert a.name.startswith('ChainWords@') and b.name.startswith('ChainWords@')
    assert c.name.startswith('ChainSuffix@')
    # c ran on the results of a and b (it could only start once both were ready)
    inputs = disco.jobinfo(c.name)['inputs']
    assert any(a.name in u for u in inputs) and any(b.name in u for u in inputs)
    assert records(disco, c) == [('x!', 1), ('y!', 2), ('z!', 1)]
    chain.purge()
    for job in (a, b, c):
        assert disco.results(job.name) == ('unknown job', [])


def test_jobchain_failure_raises(disco):
    from tests.control.jobs import ChainBroken, ChainSuffix
    bad = ChainBroken(master=disco)
    after = ChainSuffix(master=disco)
    chain = JobChain({bad: ['raw://a'], after: bad})
    with pytest.raises(JobError) as e:
        chain.wait(poll_interval=POLL)
    assert 'Status dead' in str(e.value)
    assert after.name == 'ChainSuffix'  # never started


def test_disco_repr_and_settings(disco):
    assert repr(disco) == 'Disco master at %s' % disco.master
    assert isinstance(Disco(disco.master).joblist(), list)
