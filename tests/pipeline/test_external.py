"""Pipeline job packs run through Disco's worker protocol (``DISCOLITE_EXTERNAL_WORKERS``).

Each task is ``lib/discolite/worker/pipeline/worker.py`` started as an executable in
the job home, asking the master for its task and inputs over stdin/stderr frames,
exactly as on a Disco node; the results equal those of the in-pool run.
"""
import pytest

from discolite import Disco, result_iterator
from discolite.master import Master
from tests.pipeline import pipejobs

POLL = 0.05


@pytest.fixture(scope='module')
def external():
    master = Master(DISCOLITE_WORKERS=2, DISCOLITE_EXTERNAL_WORKERS=True)
    try:
        yield Disco(master.url)
    finally:
        master.close()


def test_word_count_through_the_protocol(external, disco):
    inputs = [['raw://a_cat_sat'], ['raw://on_the_mat'], ['raw://the_cat_ran']]
    got = []
    for d in (disco, external):
        job = pipejobs.WordCount(master=d).run(input=inputs)
        got.append(sorted(result_iterator(job.wait(poll_interval=POLL))))
    assert got[0] == got[1] == [('a', 1), ('cat', 2), ('mat', 1), ('on', 1), ('ran', 1),
                                ('sat', 1), ('the', 2)]


@pytest.mark.parametrize('grouping', pipejobs.GROUPINGS)
def test_groupings_through_the_protocol(external, disco, grouping):
    inputs = [['raw://a'], ['raw://b'], ['raw://c']]
    got = []
    for d in (disco, external):
        job = pipejobs.SECOND[grouping](master=d).run(input=inputs)
        got.append([(task[:2], calls) for task, calls in
                    result_iterator(job.wait(poll_interval=POLL))])
    strip = lambda tasks: [(t, [(l, s.rsplit('/', 1)[1], r) for l, s, r in calls])  # noqa: E731
                           for t, calls in tasks]
    assert strip(got[0]) == strip(got[1])


def test_fatal_through_the_protocol(external):
    from discolite.error import JobError
    job = pipejobs.FailJob(master=external).run(input=[['raw://a']])
    with pytest.raises(JobError):
        job.wait(poll_interval=POLL)
    text = '\n'.join(e[2] for _o, e in external.events(job.name))
    assert 'ZeroDivisionError: stage function failed on purpose' in text


def test_three_nodes_through_the_protocol():
    """Worker executables of an emulated node read other nodes' outputs from the data root."""
    master = Master(DISCOLITE_WORKERS=1, DISCOLITE_NODES=3, DISCOLITE_EXTERNAL_WORKERS=True)
    try:
        disco = Disco(master.url)
        job = pipejobs.WORD_COUNT['group_node_label'](master=disco).run(
            input=[['raw://a_cat_sat'], ['raw://on_the_mat'], ['raw://the_cat_ran']])
        total = {}
        for word, count in result_iterator(job.wait(poll_interval=POLL)):
            total[word] = total.get(word, 0) + count
        assert total == {'a': 1, 'cat': 2, 'mat': 1, 'on': 1, 'ran': 1, 'sat': 1, 'the': 2}
        hosts = {r[0].split('/')[2] for r in job.stageresults('map')}
        assert hosts == {'node1', 'node2', 'node3'}
    finally:
        master.close()
