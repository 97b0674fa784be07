"""Item 4: bounded resources -- inputs streamed, map outputs on disk, external sort.

Peak RSS (VmHWM) of the pool processes is compared across input sizes on fresh
masters; the 100 MB / 1 GB figures belong to ``benchmarks/stress.py``.
"""
import os
import random

import pytest

from discolite import Disco
from discolite.core import result_iterator
from discolite.job import Job
from discolite.master import Master
from tests.reliability.helpers import pool_pids, rss_kb

pytestmark = pytest.mark.heavy

MB = 1 << 20


def make_input(path, megabytes):
    """About ``megabytes`` MB of 100-byte lines with shuffled 10-digit keys."""
    rnd = random.Random(megabytes)
    tail = ''.join(rnd.choice('abcdefghij') for _ in range(89))
    n = megabytes * MB // 100
    with open(path, 'w') as f:
        for i in range(n):
            f.write('%010d%s\n' % ((i * 7919) % n, tail))
    return n


def key_map(line, params):
    yield line[:10], line


def count_reduce(iter, params):
    n = 0
    previous = None
    for key, _value in iter:
        assert previous is None or previous <= key, 'not sorted'
        previous = key
        n += 1
    yield 'records', n


def peak(megabytes, tmp_path, **jobargs):
    """Run map + sorted reduce over a generated input on a fresh master; return peaks in kB."""
    path = str(tmp_path / ('input-%d.txt' % megabytes))
    n = make_input(path, megabytes)
    with Master(DISCOLITE_WORKERS=2, DISCOLITE_RETRY_DELAY=0.01) as master:
        base = max(rss_kb(pid) for pid in pool_pids(master))
        master_before = rss_kb(os.getpid(), 'VmRSS')
        job = Job(master=Disco(master.url)).run(input=[path], map=key_map,
                                                reduce=count_reduce, partitions=2, **jobargs)
        results = job.wait(timeout=120)
        assert sum(v for _k, v in result_iterator(results)) == n
        # map outputs went to disk, next to the job (compressed: our lines compress well)
        home = master.storage.jobhome(job.name)
        on_disk = sum(os.path.getsize(os.path.join(d, f))
                      for d, _dirs, files in os.walk(home) for f in files)
        assert on_disk > megabytes * MB // 20
        workers = max(rss_kb(pid) for pid in pool_pids(master))
        master_growth = rss_kb(os.getpid(), 'VmRSS') - master_before
        os.remove(path)
        return base, workers, master_growth


def test_peak_rss_stays_flat_as_input_grows(tmp_path):
    base_small, small, _ = peak(8, tmp_path, sort=True, sort_buffer_size='4M')
    base_large, large, master_growth = peak(40, tmp_path, sort=True, sort_buffer_size='4M')
    # five times the input, about the same peak: nothing holds the input in memory
    assert large - base_large < 64 * 1024, (base_large, large)
    assert large - small < 24 * 1024, (small, large)
    # the data never passes through the master process
    assert master_growth < 32 * 1024


def test_default_sort_buffer_is_capped(tmp_path):
    _base, workers, _ = peak(40, tmp_path, sort=True)
    assert workers < 160 * 1024  # the in-memory sort buffer is capped (64 MiB of records)
