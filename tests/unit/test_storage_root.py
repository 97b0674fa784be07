"""Where a master given no data directory keeps its data (storage.temporary_root)."""
import os
import tempfile

import pytest

from discolite.master import storage


@pytest.fixture
def ram(tmp_path, monkeypatch):
    """A stand-in for /dev/shm, and a TMPDIR-less environment."""
    ram = tmp_path / 'shm'
    ram.mkdir()
    monkeypatch.setattr(storage, 'RAM_DIR', str(ram))
    monkeypatch.setattr(storage, 'RAM_MIN_FREE', 0)
    monkeypatch.delenv('TMPDIR', raising=False)
    monkeypatch.setattr(tempfile, 'tempdir', None)  # tempfile caches its choice
    return ram


def temporary_root():
    root, lock = storage.temporary_root()
    if lock is not None:
        os.close(lock)
    return root


def test_on_the_ram_file_system_when_it_has_room(ram):
    root = temporary_root()
    assert os.path.dirname(root) == str(ram)
    assert os.path.basename(root).startswith('discolite-')


def test_tmpdir_is_the_users_choice(ram, tmp_path, monkeypatch):
    mine = tmp_path / 'mine'
    mine.mkdir()
    monkeypatch.setenv('TMPDIR', str(mine))
    assert os.path.dirname(temporary_root()) == str(mine)


def test_not_where_there_is_too_little_room(ram, monkeypatch):
    monkeypatch.setattr(storage, 'RAM_MIN_FREE', 1 << 62)
    root = temporary_root()
    assert os.path.dirname(root) == tempfile.gettempdir() != str(ram)


def test_not_where_there_is_no_such_file_system(ram, tmp_path, monkeypatch):
    monkeypatch.setattr(storage, 'RAM_DIR', str(tmp_path / 'none'))
    assert os.path.dirname(temporary_root()) == tempfile.gettempdir()


def test_a_master_without_a_data_directory_uses_it_and_removes_it(ram):
    from discolite import Disco, Job, result_iterator
    from discolite.master import Master

    def wc_map(line, params):
        for word in line.split():
            yield word, 1

    with Master(DISCOLITE_WORKERS=1) as master:
        root = master.storage.root
        assert os.path.dirname(root) == str(ram)
        job = Job(master=Disco(master.url)).run(input=['raw://a b a'], map=wc_map)
        assert sorted(result_iterator(job.wait(timeout=60))) == [('a', 1), ('a', 1), ('b', 1)]
        assert any(files for _d, _s, files in os.walk(os.path.join(root, 'data')))
    assert not os.path.exists(root)


SCRIPT = """
import sys
from discolite.master import Master
m = Master(DISCOLITE_WORKERS=1)
print(m.storage.root, flush=True)
sys.stdin.read()
"""


def test_the_root_of_a_master_that_died_is_swept_by_the_next(tmp_path, monkeypatch):
    """A master killed with SIGKILL cannot delete its temporary root (on /dev/shm: memory
    until the next reboot); the next master started there deletes it, and nothing else."""
    import signal
    import subprocess
    import sys
    env = dict(os.environ, TMPDIR=str(tmp_path))
    procs = [subprocess.Popen([sys.executable, '-c', SCRIPT], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    dead, alive = [p.stdout.readline().strip() for p in procs]
    try:
        assert os.path.dirname(dead) == os.path.dirname(alive) == str(tmp_path)
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait()
        assert os.path.isdir(dead)
        other = tmp_path / 'discolite-not-ours'  # no mark: never touched
        other.mkdir()
        unlocked = tmp_path / 'discolite-marked'
        unlocked.mkdir()
        import time
        deadline = time.time() + 10  # the dead master's pool processes let go of it
        while time.time() < deadline and storage.sweep_temporary_roots(str(tmp_path)) == 0:
            time.sleep(0.05)
        assert not os.path.exists(dead)
        assert os.path.isdir(alive) and os.path.isdir(other) and os.path.isdir(unlocked)
    finally:
        procs[1].stdin.close()
        procs[1].wait(timeout=30)
    assert not os.path.exists(alive)  # a master that closes deletes its own


def test_a_master_closing_removes_its_root_and_lets_go(ram):
    root, lock = storage.temporary_root()
    assert os.path.exists(os.path.join(root, storage.TEMPORARY_MARK))
    assert storage.sweep_temporary_roots(os.path.dirname(root)) == 0  # we hold it
    os.close(lock)
    assert storage.sweep_temporary_roots(os.path.dirname(root)) == 1
    assert not os.path.exists(root)
