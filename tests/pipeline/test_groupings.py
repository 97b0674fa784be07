"""Which task of a pipeline stage gets which inputs and labels, per grouping (spec 7).

Unit tests of ``master/groupings.py`` on the items of spec 7.3, then the same
jobs run for real (``tests/pipeline/pipejobs.py``) and checked against the
``pipeline_group_*`` and ``pipeline_first_*`` captures of a real Disco master.
"""
import pytest

from discolite import result_iterator
from discolite.master import groupings as g
from tests.pipeline import pipejobs

POLL = 0.05


def test_host_of_raw_is_the_payload():
    assert g.host_of('raw://the cat') == 'the cat'
    assert g.host_of('http://example.com:8080/x') == 'example.com'
    assert g.host_of('disco://node2/disco/node2/ab/job/x') == 'node2'
    assert g.host_of('/a/file') == ''


def _emit_outputs():
    # emit:0 handled c, emit:1 b, emit:2 a (the job inputs are reversed)
    return [g.DirItem('dir://localhost/c', 'localhost', [2]),
            g.DirItem('dir://localhost/b', 'localhost', [1, 2]),
            g.DirItem('dir://localhost/a', 'localhost', [0, 1])]


@pytest.mark.parametrize('grouping, expected', [
    ('split', [((2, 'localhost'), [(2, 'c')]), ((1, 'localhost'), [(1, 'b')]),
               ((2, 'localhost'), [(2, 'b')]), ((0, 'localhost'), [(0, 'a')]),
               ((1, 'localhost'), [(1, 'a')])]),
    ('group_label', [((0, ''), [(0, 'a')]), ((1, ''), [(1, 'b'), (1, 'a')]),
                     ((2, ''), [(2, 'c'), (2, 'b')])]),
    ('group_all', [((0, ''), [('all', 'c'), ('all', 'b'), ('all', 'a')])]),
    ('group_node', [((0, 'localhost'), [('all', 'c'), ('all', 'b'), ('all', 'a')])]),
    ('group_node_label', [((0, 'localhost'), [(0, 'a')]),
                          ((1, 'localhost'), [(1, 'b'), (1, 'a')]),
                          ((2, 'localhost'), [(2, 'c'), (2, 'b')])]),
])
def test_groups_of_a_second_stage(grouping, expected):
    got = [(grp, [(label, urls[0].rsplit('/', 1)[1]) for label, urls in inputs])
           for grp, inputs in g.group(grouping, _emit_outputs())]
    assert got == expected


def test_group_node_label_keeps_nodes_apart():
    items = [g.DirItem('dir://n1/x', 'n1', [0, 1]), g.DirItem('dir://n2/y', 'n2', [1]),
             g.DataItem(1, 0, ['disco://n1/z'])]
    got = g.group('group_node_label', items)
    assert [grp for grp, _ in got] == [(0, 'n1'), (1, 'n1'), (1, 'n2')]
    assert got[1][1] == [(1, ['dir://n1/x']), (1, ['disco://n1/z'])]
    assert [grp for grp, _ in g.group('group_node', items)] == [(0, 'n1'), (0, 'n2')]


def test_no_items_no_tasks():
    for grouping in g.GROUPINGS:
        assert g.group(grouping, []) == []


def _collected(disco, cls, inputs):
    job = cls(master=disco).run(input=inputs)
    results = job.wait(poll_interval=POLL)
    tasks = [rec for rec in result_iterator(results)]
    return job, results, tasks


def _source(src):
    """'c2' for an emit output of input c, label 2; 'a' for a job input raw://a."""
    if isinstance(src, list):
        return src[0][len('raw://'):]
    name = src.rsplit('/', 1)[1]           # emit-0-<input>-<label>
    _stage, _zero, inp, label = name.split('-')
    return inp + label


@pytest.mark.parametrize('grouping, expected', [
    ('split', [(3, '2-localhost', ['c2']), (4, '1-localhost', ['b1']),
               (5, '2-localhost', ['b2']), (6, '0-localhost', ['a0']),
               (7, '1-localhost', ['a1'])]),
    ('group_label', [(3, '0-', ['a0']), (4, '1-', ['b1', 'a1']), (5, '2-', ['c2', 'b2'])]),
    ('group_all', [(3, '0-', ['c2', 'b2', 'b1', 'a1', 'a0'])]),
    ('group_node', [(3, '0-localhost', ['c2', 'b2', 'b1', 'a1', 'a0'])]),
    # Disco lists these three tasks in hash order (2, 0, 1); discolite sorts them
    ('group_node_label', [(3, '0-localhost', ['a0']), (4, '1-localhost', ['b1', 'a1']),
                          (5, '2-localhost', ['c2', 'b2'])]),
])
def test_second_stage_as_on_disco(disco, grouping, expected):
    job, results, tasks = _collected(disco, pipejobs.SECOND[grouping],
                                     [['raw://a'], ['raw://b'], ['raw://c']])
    got = [(taskid, group, [_source(src) for _label, src, _recs in calls])
           for (taskid, group, _host), calls in tasks]
    assert got == expected
    for (_t, _g, _h), calls in tasks:  # each call saw its label's records of that input
        for label, src, records in calls:
            name = _source(src)
            assert records == [('%s->%s' % (name[0], name[1]), int(name[1]))]
            assert label == int(name[1])
    info = job.jobinfo()
    assert info['pipeline'] == [['emit', 0, 0, 0, 3, 0],
                                ['collect', 0, 0, 0, len(expected), 0]]
    assert len(results) == len(expected)
    assert job.stageresults('collect') == results
    assert len(job.stageresults('emit')) == 3


@pytest.mark.parametrize('grouping, expected', [
    ('split', [(0, '0-a', ['a']), (1, '0-c', ['c']), (2, '0-b', ['b']), (3, '0-a', ['a'])]),
    ('group_label', [(0, '0-', ['a', 'b', 'c', 'a'])]),
    ('group_all', [(0, '0-', ['a', 'c', 'b', 'a'])]),
    ('group_node', [(0, '0-a', ['a', 'a']), (1, '0-b', ['b']), (2, '0-c', ['c'])]),
    ('group_node_label', [(0, '0-a', ['a', 'a']), (1, '0-b', ['b']), (2, '0-c', ['c'])]),
])
def test_first_stage_as_on_disco(disco, grouping, expected):
    _job, _results, tasks = _collected(disco, pipejobs.FIRST[grouping],
                                       [['raw://a'], ['raw://b'], ['raw://c'], ['raw://a']])
    got = [(taskid, group, [_source(src) for _label, src, _recs in calls])
           for (taskid, group, _host), calls in tasks]
    assert got == expected
    for _task, calls in tasks:
        for label, src, records in calls:
            assert label == 0 and records == [_source(src)]  # raw:// lines are str


def test_urlsplit_takes_the_bytes_lines_of_an_input():
    """Disco's test_query.py splits input lines (bytes) with util.urlsplit."""
    from discolite import util
    scheme, loc, path = util.urlsplit(b'raw://cities.csv?0')
    assert (scheme, str(loc), path) == ('raw', 'cities.csv?0', '')
