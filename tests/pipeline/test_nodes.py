"""Several emulated nodes (``DISCOLITE_NODES``): groupings per node, placement, failing and
blacklisted nodes, nodeinfo and the config table -- with 1 and with 3 nodes."""
import re

import pytest

from discolite import Disco, Job, result_iterator
from discolite.master import Master
from tests.pipeline import pipejobs

POLL = 0.05


@pytest.fixture(scope='module', params=[1, 3], ids=['1node', '3nodes'])
def cluster(request):
    master = Master(DISCOLITE_NODES=request.param, DISCOLITE_WORKERS=2)
    try:
        yield Disco(master.url), request.param
    finally:
        master.close()


def events(disco, job):
    return [e[2] for _o, e in disco.events(job.name)]


def ran_on(disco, job):
    """task name -> node, from the 'assigned to' events (the last assignment wins)."""
    out = {}
    for m in events(disco, job):
        hit = re.match(r'^(\S+:\d+) assigned to (\S+)$', m)
        if hit:
            out[hit.group(1)] = hit.group(2)
    return out


def node_of(url):
    return re.match(r'^\w+://([^/]+)/', url).group(1)


def test_nodes_and_config(cluster):
    disco, n = cluster
    names = ['localhost'] if n == 1 else ['node%d' % i for i in range(1, n + 1)]
    assert sorted(disco.nodeinfo()) == names
    assert disco.config == [[name, '2'] for name in names]
    assert all(info['max_workers'] == 2 for info in disco.nodeinfo().values())


@pytest.mark.parametrize('grouping', pipejobs.GROUPINGS)
def test_groupings_per_node(cluster, grouping):
    disco, n = cluster
    inputs = [['raw://a'], ['raw://b'], ['raw://c'], ['raw://a'], ['raw://b'], ['raw://c']]
    job = pipejobs.SECOND[grouping](master=disco).run(input=inputs)
    tasks = list(result_iterator(job.wait(poll_interval=POLL)))
    where = ran_on(disco, job)
    labels_of = pipejobs.EMIT
    calls_seen = []
    for (taskid, group, host), calls in tasks:
        label, _, ghost = group.partition('-')
        assert host == where['collect:%d' % taskid]
        for call_label, src, records in calls:
            src_node = node_of(src)
            calls_seen.append((call_label, src_node, records[0][0]))
            if grouping in ('group_node', 'group_node_label', 'split'):
                assert src_node == ghost            # a per-node task reads its node's data
            if grouping in ('group_label', 'group_node_label', 'split'):
                assert call_label == int(label)     # and only its label
            if grouping in ('group_node', 'group_node_label'):
                assert host == ghost                # and runs there (its node was free)
    # every emitted (label, node) was read exactly once
    expected = sorted((label, where['emit:%d' % i], '%s->%d' % (inp[0][-1], label))
                      for i, inp in enumerate(reversed(inputs))
                      for label in labels_of[inp[0][-1]])
    assert sorted(calls_seen) == expected
    count = len(tasks)
    nodes_used = {where['emit:%d' % i] for i in range(6)}
    if grouping == 'group_node':
        assert count == len(nodes_used)
    elif grouping == 'group_all':
        assert count == 1
    elif grouping == 'group_label':
        assert count == 3
    elif grouping == 'group_node_label':
        assert count == len({(label, node) for label, node, _r in expected})
    if n == 3:
        assert nodes_used == {'node1', 'node2', 'node3'}  # 6 tasks spread over 3 nodes x 2


def test_classic_map_shuffle_per_node(cluster):
    disco, n = cluster

    def fun_map(line, params):
        yield line, 1

    def fun_reduce(iter, params):
        counts = {}
        for k, v in iter:
            counts[k] = counts.get(k, 0) + v
        return sorted(counts.items())

    job = Job(master=disco).run(input=['raw://x%d' % (i % 4) for i in range(12)],
                                map=fun_map, reduce=fun_reduce, partitions=3)
    results = job.wait(poll_interval=POLL)
    assert sorted(result_iterator(results)) == [('x0', 3), ('x1', 3), ('x2', 3), ('x3', 3)]
    where = ran_on(disco, job)
    map_nodes = {node for name, node in where.items() if name.startswith('map:')}
    shuffles = {name: node for name, node in where.items() if name.startswith('map_shuffle:')}
    assert len(shuffles) == len(map_nodes)             # one map_shuffle per node
    assert set(shuffles.values()) == map_nodes         # each on its own node
    assert job.jobinfo()['pipeline'][1] == ['map_shuffle', 0, 0, 0, len(map_nodes), 0]


def test_failing_node_retries_elsewhere_and_is_blacklisted():
    master = Master(DISCOLITE_NODES=3, DISCOLITE_WORKERS=1, DISCOLITE_FAILING_NODES='node2',
                    DISCOLITE_MAX_FAILURES=3)
    try:
        disco = Disco(master.url)
        job = pipejobs.WordCount(master=disco).run(
            input=[['raw://w%d_x' % i] for i in range(9)])
        got = dict(result_iterator(job.wait(poll_interval=POLL)))
        assert got == dict([('w%d' % i, 1) for i in range(9)] + [('x', 9)])
        text = '\n'.join(events(disco, job))
        assert 'Node node2 failed (emulated node failure' in text
        assert re.search(r'Task \S+ failed on "node2", 1th failures so far', text)
        assert 'Node node2 blacklisted after 3 failed tasks in a row' in text
        info = disco.nodeinfo()
        assert info['node2']['blacklisted'] and info['node2']['error'] >= 3
        assert info['node2']['job_ok'] == 0
        assert not info['node1']['blacklisted'] and info['node1']['job_ok'] > 0
        # a blacklisted node takes no task; whitelisted, it does again (if it works)
        master.scheduler.set_failing('node2', False)
        disco.whitelist('node2')
        job = Job(master=disco).run(input=['raw://%d' % i for i in range(12)],
                                    map=pipejobs_map)
        job.wait(poll_interval=POLL)
        assert 'node2' in set(ran_on(disco, job).values())
    finally:
        master.close()


def pipejobs_map(line, params):
    import time
    time.sleep(0.05)
    yield line, 1


def test_blacklisted_node_gets_no_tasks():
    master = Master(DISCOLITE_NODES=3, DISCOLITE_WORKERS=1)
    try:
        disco = Disco(master.url)
        disco.blacklist('node3')
        assert disco.request('/disco/ctrl/get_blacklist') == '["node3"]'
        job = Job(master=disco).run(input=['raw://%d' % i for i in range(8)], map=pipejobs_map)
        job.wait(poll_interval=POLL)
        assert set(ran_on(disco, job).values()) == {'node1', 'node2'}
        assert disco.nodeinfo()['node3']['blacklisted'] is True
    finally:
        master.close()


def test_config_table_changes_the_nodes():
    master = Master(DISCOLITE_NODES=3, DISCOLITE_WORKERS=1)
    try:
        disco = Disco(master.url)
        disco.config = [['node2', '2'], ['extra', '1']]
        assert disco.config == [['node2', '2'], ['extra', '1']]
        assert sorted(disco.nodeinfo()) == ['extra', 'node2']
        job = Job(master=disco).run(input=['raw://%d' % i for i in range(8)], map=pipejobs_map)
        results = job.wait(poll_interval=POLL)
        assert set(ran_on(disco, job).values()) <= {'node2', 'extra'}
        assert sorted(int(k) for k, _v in result_iterator(results)) == list(range(8))
        assert master.scheduler.pool.size == 3
        for bad in ([['a/b', '1']], [['..', '1']], [['n', 'x']], [['n', '1'], ['n', '2']]):
            with pytest.raises(Exception):
                disco.config = bad
    finally:
        master.close()


def test_http_master_with_three_nodes(tmp_path, monkeypatch):
    """Result URLs name node2, node3 (which do not resolve): the client fetches them from
    the HTTP master, which serves every node's data."""
    from tests.helpers import http_master
    with http_master(tmp_path / 'data', workers=1, args=['--nodes', '3']) as url:
        monkeypatch.setenv('DISCO_MASTER', url)
        disco = Disco(url)
        assert sorted(disco.nodeinfo()) == ['node1', 'node2', 'node3']
        job = pipejobs.WordCount(master=disco).run(
            input=[['raw://a_cat_sat'], ['raw://on_the_mat'], ['raw://the_cat_ran']])
        results = job.wait(poll_interval=POLL)
        assert sorted(result_iterator(results)) == [('a', 1), ('cat', 2), ('mat', 1),
                                                    ('on', 1), ('ran', 1), ('sat', 1),
                                                    ('the', 2)]
        assert {node_of(r[0]) for r in job.stageresults('map')} == {'node1', 'node2', 'node3'}


class _Task(object):
    def __init__(self, hosts, failed=()):
        self.hosts, self.failed_hosts = list(hosts), set(failed)


def test_placement_rules():
    from discolite.master.nodes import Nodes
    blacklisted = set()
    nodes = Nodes(['n1', 'n2', 'n3'], 1, blacklisted)
    place = lambda task, **kw: getattr(nodes.place(task, **kw), 'host', None)  # noqa: E731
    assert place(_Task(['n2'])) == 'n2'                      # local first
    assert place(_Task(['raw-payload'])) == 'n1'             # no local node: least busy
    nodes.get('n2').running = 1
    assert place(_Task(['n2'])) == 'n1'                      # local busy: remote
    assert place(_Task(['n2']), force_local=True) is None    # classic force_local waits
    assert place(_Task(['n1']), force_remote=True) == 'n3'
    nodes.get('n2').running = 0
    assert place(_Task(['n2'], failed=['n2'])) == 'n1'       # a retry avoids where it failed
    assert place(_Task([], failed=['n1', 'n2', 'n3'])) == 'n1'  # unless it failed everywhere
    blacklisted.add('n1')
    assert place(_Task(['n1'])) == 'n2'                      # blacklisted: never
    nodes.set_config([['n3', '2']])
    assert place(_Task(['n2'])) == 'n3'                      # out of the table: never
    assert nodes.capacity() == 2 and nodes.config() == [['n3', '2']]
    for node in nodes:
        node.running = node.slots
    assert place(_Task(['n3'])) is None and not nodes.has_free_slot()


def test_purge_deletes_the_job_home_on_every_node(tmp_path):
    """A job's home is unpacked on each node that ran one of its tasks; purge deletes
    every copy (and a job home made by an earlier master on the same data dir)."""
    import os
    from discolite.master import names
    data = str(tmp_path / 'data')
    with Master(DISCOLITE_NODES=3, DISCOLITE_WORKERS=1, DISCOLITE_DATA=data) as master:
        disco = Disco(master.url)
        inputs = [['raw://a'], ['raw://b'], ['raw://c'], ['raw://a'], ['raw://b'], ['raw://c']]
        job = pipejobs.SECOND['split'](master=disco).run(input=inputs)
        list(result_iterator(job.wait(poll_interval=POLL)))
        name = names.JobName(job.name)
        homes = [master.storage.jobhome(name, 'node%d' % i) for i in (1, 2, 3)]
        assert sum(os.path.isdir(h) for h in homes) >= 2
        job2 = pipejobs.SECOND['split'](master=disco).run(input=inputs)
        job2.wait(poll_interval=POLL)
        job.purge()
        assert master.storage.settle(30)
        assert not any(os.path.exists(h) for h in homes)
    with Master(DISCOLITE_NODES=3, DISCOLITE_WORKERS=1, DISCOLITE_DATA=data) as master:
        name = names.JobName(job2.name)
        homes = [master.storage.jobhome(name, 'node%d' % i) for i in (1, 2, 3)]
        assert sum(os.path.isdir(h) for h in homes) >= 2
        Disco(master.url).purge(job2.name)
        assert master.storage.settle(30)
        assert not any(os.path.exists(h) for h in homes)
