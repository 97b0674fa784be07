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


def test_on_the_ram_file_system_when_it_has_room(ram):
    root = storage.temporary_root()
    assert os.path.dirname(root) == str(ram)
    assert os.path.basename(root).startswith('discolite-')


def test_tmpdir_is_the_users_choice(ram, tmp_path, monkeypatch):
    mine = tmp_path / 'mine'
    mine.mkdir()
    monkeypatch.setenv('TMPDIR', str(mine))
    assert os.path.dirname(storage.temporary_root()) == str(mine)


def test_not_where_there_is_too_little_room(ram, monkeypatch):
    monkeypatch.setattr(storage, 'RAM_MIN_FREE', 1 << 62)
    root = storage.temporary_root()
    assert os.path.dirname(root) == tempfile.gettempdir() != str(ram)


def test_not_where_there_is_no_such_file_system(ram, tmp_path, monkeypatch):
    monkeypatch.setattr(storage, 'RAM_DIR', str(tmp_path / 'none'))
    assert os.path.dirname(storage.temporary_root()) == tempfile.gettempdir()


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
