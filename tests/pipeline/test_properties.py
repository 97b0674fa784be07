"""Hypothesis: a pipeline word count equals a direct count, whatever the number of labels,
the reduce stage's grouping, the input order, the slots per node and the number of nodes
(with ``group_node_label`` the per-node partial counts add up to it)."""
import collections

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from discolite import Disco, result_iterator
from discolite.worker import Params
from tests.pipeline import pipejobs

SETTINGS = settings(max_examples=15, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
SHAPES = [(1, 1), (2, 1), (1, 3), (2, 3)]  # (slots per node, nodes)


@pytest.fixture(scope='module')
def masters():
    from discolite.master import Master
    started = {shape: Master(**_settings(*shape)) for shape in SHAPES}
    try:
        yield {shape: Disco(m.url) for shape, m in started.items()}
    finally:
        for m in started.values():
            m.close()


def _settings(slots, nodes):
    return {'DISCOLITE_WORKERS': slots, 'DISCOLITE_NODES': nodes}


words = st.text(alphabet='abcxyz', min_size=1, max_size=6)
lines = st.lists(words, min_size=0, max_size=8).map('_'.join)


@SETTINGS
@given(inputs=st.lists(lines, min_size=1, max_size=6), labels=st.integers(1, 7),
       grouping=st.sampled_from(['group_label', 'group_node_label', 'group_all']),
       shape=st.sampled_from(SHAPES), data=st.data())
def test_word_count_is_a_count(masters, inputs, labels, grouping, shape, data):
    order = data.draw(st.permutations(inputs))
    expected = collections.Counter(w for line in inputs for w in line.split('_') if w)
    job_class = pipejobs.WORD_COUNT[grouping]
    job = job_class(master=masters[shape]).run(
        input=[['raw://' + line] if line else ['raw://_'] for line in order],
        params=Params(labels=labels))
    got = list(result_iterator(job.wait(poll_interval=0.05)))
    if grouping == 'group_node_label':
        # one reduce per (label, node): a word's count may be split between nodes
        total = collections.Counter()
        for word, count in got:
            total[word] += count
        assert total == expected
        assert len(got) <= len(expected) * shape[1]
    else:
        assert sorted(got) == sorted(expected.items())
        assert len(got) == len(expected)  # each word counted in exactly one task
    job.purge()
