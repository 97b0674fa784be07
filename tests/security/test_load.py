"""The load test of benchmarks/load.py, bounded (a few clients, a few seconds): zero
errors, and the master reachable while idle connections are held.  Its latency
figures are printed by the benchmark, not asserted here (timings belong there)."""
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'benchmarks'))

import load  # noqa: E402


def test_concurrent_clients_and_idle_connections_get_no_errors():
    data = tempfile.mkdtemp(prefix='discolite-load-test-')
    proc, url = load.start_master(data)
    try:
        results, elapsed = load.run_load(url, clients=24, seconds=3, poll=0.05, procs=2)
        assert len(results) > 100
        assert {r[0] for r in results} == {'joblist', 'submit'}
        assert [r for r in results if r[2]] == []
        # beyond the case (1,000 idle connections) to a master under `ulimit -n 1024`:
        # every connection is accepted (none refused or timed out) and, while all are
        # open, every joblist on a fresh connection is answered 200
        held, refused, times, errors = load.idle_test(url, 1100, probes=10)
        assert (held, refused) == (1100, 0)
        assert len(times) == 10 and errors == []
    finally:
        proc.terminate()
        proc.wait(20)
        shutil.rmtree(data, ignore_errors=True)
