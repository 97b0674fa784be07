"""discolite's own job packs run through Disco's worker protocol, as on a Disco node.

The very same job pack bytes are submitted to an in-process master running tasks
in its pool and to one with ``DISCOLITE_EXTERNAL_WORKERS`` (tasks run as the
executable ``jobdict.worker`` = ``lib/discolite/worker/classic/worker.py``
inside the unpacked job home).  Under an interpreter started with ``-I -S``
(no site-packages, no PYTHONPATH) the job still runs: the job home carries all
it needs besides the standard library.
"""
import os
import sys

import pytest

from discolite import Disco
from discolite.core import result_iterator
from discolite.job import Job
from discolite.master import Master
from tests.http.common import events_text, wait_status


def fun_map(line, params):
    for word in line.split():
        yield word, 1


def fun_reduce(iter, params):
    from discolite.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


def where_map(line, params):
    import sys
    import discolite
    yield 'where', [discolite.__file__, sys.flags.isolated, sys.flags.no_site, os.getcwd()]


INPUTS = ['raw://the quick brown fox', 'raw://the lazy dog', ['raw://a fox', 'raw://a fox'],
          'raw://the end']
EXPECTED = sorted({'the': 3, 'quick': 1, 'brown': 1, 'fox': 2, 'lazy': 1, 'dog': 1, 'a': 1,
                   'end': 1}.items())


def pack(**jobargs):
    return Job(name='Classic').pack(**jobargs).dumps()


@pytest.fixture(scope='module')
def masters():
    pool = Master(DISCOLITE_WORKERS=2)
    ext = Master(DISCOLITE_WORKERS=2, DISCOLITE_EXTERNAL_WORKERS=True)
    try:
        yield Disco(pool.url), Disco(ext.url), ext
    finally:
        pool.close()
        ext.close()


def run(disco, data):
    name = disco.submit(data)
    status, results = wait_status(disco, name)
    assert status == 'ready', events_text(disco, name)
    return name, results


def test_same_pack_same_results_in_pool_and_through_the_protocol(masters):
    in_pool, external, ext_master = masters
    data = pack(input=INPUTS, map=fun_map, reduce=fun_reduce, partitions=3)
    name1, results1 = run(in_pool, data)
    name2, results2 = run(external, data)
    assert sorted(result_iterator(results1)) == EXPECTED
    assert sorted(result_iterator(results2)) == EXPECTED
    # it really ran as executables: the job home holds the unpacked launcher
    home = ext_master.storage.jobhome(name2)
    launcher = os.path.join(home, 'lib/discolite/worker/classic/worker.py')
    assert os.access(launcher, os.X_OK)
    with open(launcher) as f:
        assert f.readline() == '#!/usr/bin/env python3\n'
    assert external.jobinfo(name2)['worker'] == 'lib/discolite/worker/classic/worker.py'
    events = events_text(external, name2)
    assert 'DONE: [reduce:' in events and 'MSG: [map:0]' in events


def test_map_only_and_stageresults_through_the_protocol(masters):
    in_pool, external, _ = masters
    data = pack(input=INPUTS, map=fun_map)
    _, r1 = run(in_pool, data)
    name, r2 = run(external, data)
    assert sorted(result_iterator(r1)) == sorted(result_iterator(r2))
    assert len(external.stageresults(name, 'map')) == len(INPUTS)


def test_task_failure_through_the_protocol_is_fatal(masters):
    _, external, _ = masters

    def bad_map(line, params):
        raise ValueError('boom in the map')

    name = external.submit(pack(input=['raw://x'], map=bad_map))
    status, _ = wait_status(external, name)
    assert status == 'dead'
    assert 'ValueError: boom in the map' in events_text(external, name)


def test_worker_needs_only_the_job_home_and_the_stdlib(tmp_path, monkeypatch):
    """The launcher runs under ``python -I -S``: no site-packages (where discolite is
    installed), no PYTHONPATH; discolite is imported from the job home's lib/."""
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    wrapper = bindir / 'python3'
    wrapper.write_text('#!/bin/sh\nexec "%s" -I -S "$@"\n' % sys.executable)
    wrapper.chmod(0o755)
    monkeypatch.setenv('PATH', '%s:%s' % (bindir, os.environ.get('PATH', '')))
    master = Master(DISCOLITE_WORKERS=1, DISCOLITE_EXTERNAL_WORKERS=True)
    try:
        disco = Disco(master.url)
        name, results = run(disco, pack(input=['raw://x'], map=where_map))
        [(key, (module, isolated, no_site, cwd))] = list(result_iterator(results))
        home = os.path.realpath(master.storage.jobhome(name))
        assert key == 'where'
        assert isolated == 1 and no_site == 1
        assert os.path.realpath(module) == os.path.join(home, 'lib/discolite/__init__.py')
        assert os.path.realpath(cwd) == home
        name, results = run(disco, pack(input=INPUTS, map=fun_map, reduce=fun_reduce,
                                         partitions=2))
        assert sorted(result_iterator(results)) == EXPECTED
    finally:
        master.close()
