"""benchmarks/dispatch.py runs (a tiny smoke run: its jobs check their results, its lines print).
The timing targets live in the benchmark's own output, never in a test."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_dispatch_benchmark_smoke_run():
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'benchmarks', 'dispatch.py'), '--runs', '3',
         '--tasks', '40', '--tasks', '80'],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for line in ('pool  median', 'http  median', 'cpu ', 'ms per tiny job', '40 map tasks:',
                 'fresh worker (bare):', 'fresh worker (warm-up):',
                 '80 map tasks:', 'pool process RSS 80 tasks / 40 tasks'):
        assert line in out, out
