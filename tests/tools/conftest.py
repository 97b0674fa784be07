"""Fixtures for the tools tests (CLI, `discolite run`, pytest plugin, examples, docs)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

# pytester is enabled by tests/conftest.py: pytest refuses pytest_plugins in a conftest
# below the start-up ones.

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / 'fixtures' / 'disco_scripts'


def clean_env(**extra):
    """The environment for a subprocess: no DISCO_MASTER unless given."""
    env = {k: v for k, v in os.environ.items() if k not in ('DISCO_MASTER', 'DISCO_EVENTS')}
    env.update(extra)
    return env


def discolite(*args, master=None, env=None, timeout=120, cwd=ROOT, input=None):
    """Run ``python -m discolite ARGS`` and return the CompletedProcess (text mode)."""
    cmd = [sys.executable, '-m', 'discolite']
    if master:
        cmd += ['-M', master]
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True,
                          env=env or clean_env(), timeout=timeout, cwd=str(cwd), input=input)


def assert_one_line_error(proc, *needles):
    """A failed command: non-zero exit and one clear line on stderr, no traceback."""
    assert proc.returncode != 0, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith('discolite: error: '), proc.stderr
    assert 'Traceback' not in proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, proc.stderr)


@pytest.fixture(scope='module')
def http_url(tmp_path_factory):
    """A `discolite master` subprocess for the module."""
    from tests.helpers import http_master
    with http_master(tmp_path_factory.mktemp('tools-master')) as url:
        yield url
