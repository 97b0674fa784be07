"""Hypothesis properties: word-count-like jobs equal a direct computation, whatever the
partitions (1..16), the pool size (1..4) and the input order."""
import collections

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from discolite import Disco, Job, result_iterator
from discolite.worker.classic.func import sum_combiner

from tests.engine.common import POLL

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


@pytest.fixture(scope='module')
def pools():
    """One master per pool size 1..4, shared by every example of this module."""
    from discolite.master import Master
    masters = [Master(DISCOLITE_WORKERS=n) for n in (1, 2, 3, 4)]
    try:
        yield {n: Disco(m.url) for n, m in zip((1, 2, 3, 4), masters)}
    finally:
        for m in masters:
            m.close()


def wc_map(line, params):
    for word in line.split():
        yield (word.encode() if params['bytes'] else word), 1


def wc_reduce_gen(iter, params):
    counts = {}
    for k, v in iter:
        counts[k] = counts.get(k, 0) + v
    return counts.items()


def wc_reduce_out(iter, out, params):
    counts = {}
    for k, v in iter:
        counts[k] = counts.get(k, 0) + v
    for k, v in counts.items():
        out.add(k, v)


def direct(inputs, as_bytes=False):
    """The same word count computed in this process, without discolite."""
    counts = collections.Counter()
    for text in inputs:
        for line in text.splitlines(True):
            for word in line.split():
                counts[word.encode() if as_bytes else word] += 1
    return sorted(counts.items())


words = st.text(alphabet='abcdeé', min_size=1, max_size=4)
lines = st.lists(words, max_size=6).map(' '.join)
texts = st.lists(lines, max_size=4).map('\n'.join)
corpora = st.lists(texts, min_size=1, max_size=5)


@SETTINGS
@given(corpus=corpora, partitions=st.integers(1, 16), pool=st.integers(1, 4),
       combiner=st.booleans(), out_style=st.booleans(), sort=st.booleans(), data=st.data())
def test_word_count_matches_direct_computation(pools, corpus, partitions, pool, combiner,
                                               out_style, sort, data):
    order = data.draw(st.permutations(corpus))
    jobargs = dict(input=['raw://' + text for text in order], map=wc_map,
                   reduce=wc_reduce_out if out_style else wc_reduce_gen,
                   partitions=partitions, params={'bytes': sort}, sort=sort)
    if combiner:
        jobargs['combiner'] = sum_combiner
    job = Job(master=pools[pool]).run(**jobargs)
    got = sorted(result_iterator(job.wait(poll_interval=POLL)))
    assert got == direct(corpus, as_bytes=sort)
    job.purge()


def tag_map(line, params):
    yield line.rstrip('\n'), len(line)


@SETTINGS
@given(corpus=corpora, partitions=st.sampled_from([None, 1, 2, 7, 16]),
       pool=st.integers(1, 4), data=st.data())
def test_map_only_emits_every_record_once(pools, corpus, partitions, pool, data):
    order = data.draw(st.permutations(corpus))
    job = Job(master=pools[pool]).run(input=['raw://' + text for text in order], map=tag_map,
                                      partitions=partitions)
    got = sorted(result_iterator(job.wait(poll_interval=POLL)))
    expected = sorted((line.rstrip('\n'), len(line))
                      for text in corpus for line in text.splitlines(True))
    assert got == expected
    job.purge()
