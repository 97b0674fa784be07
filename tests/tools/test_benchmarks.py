"""benchmarks/run.py runs (a tiny smoke run: every variant agrees, the table prints).
The timing targets live in the benchmark's own output, never in a test."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_wordcount_smoke_run_checks_every_variant_against_the_loop(tmp_path):
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'benchmarks', 'run.py'), '--quick', '--only', 'wc',
         '--wc-mb', '1', '--repeats', '1', '--no-dask', '--corpus', str(tmp_path)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for variant in ('single-process loop', 'Counter floor', 'discolite partitions=1',
                    'discolite partitions=2', 'discolite partitions=8'):
        assert out.count(variant) >= 2, out  # a table row and a runs entry
    assert 'distinct words' in out and 'disagrees' not in out
    assert len([p for p in os.listdir(tmp_path) if p.endswith('.txt')]) == 8


def test_process_tree_cpu_counts_children(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, 'benchmarks'))
    try:
        import run as bench
    finally:
        sys.path.pop(0)
    before = bench.tree_cpu()
    subprocess.run([sys.executable, '-c', 'sum(i * i for i in range(3000000))'], check=True)
    assert bench.tree_cpu() - before > 0.05  # the reaped child's CPU is in cutime
