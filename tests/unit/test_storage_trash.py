"""Purged job directories leave at once and are deleted in the background (storage.Trash)."""
import os

from discolite.master import names
from discolite.master.storage import Storage
from discolite.task import hexhash


def _make_job(storage, name):
    home, _jobfile = storage.create_jobhome(name, b'pack', b'')
    os.makedirs(os.path.join(home, 'ab', 'uid'))
    with open(os.path.join(home, 'ab', 'uid', 'map-out'), 'w') as f:
        f.write('x')
    events = storage.master_dir(name)
    os.makedirs(events)
    with open(os.path.join(events, 'events'), 'w') as f:
        f.write('line\n')
    return home, events


def _everything(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, dirs, files in os.walk(root) for f in files)


def test_purged_directories_leave_at_once_and_are_deleted(tmp_path):
    storage = Storage(str(tmp_path / 'root'), 'localhost')
    name, other = names.jobname('Job@1:2:3'), names.jobname('Other@1:2:4')
    home, events = _make_job(storage, name)
    kept = _make_job(storage, other)
    storage.remove_job(name)
    assert not os.path.exists(home) and not os.path.exists(events)  # gone when it returns
    assert storage.settle(10)
    assert all(name not in path for path in _everything(storage.root))
    assert os.listdir(os.path.join(storage.root, 'trash')) == []
    assert all(os.path.isdir(p) for p in kept)  # other jobs untouched
    # the hash buckets stay for the next jobs hashed there
    assert os.path.isdir(os.path.join(storage.disco_data, 'localhost', hexhash(name)))
    storage.destroy()


def test_clean_keeps_data(tmp_path):
    storage = Storage(str(tmp_path / 'root'), 'localhost')
    name = names.jobname('Job@1:2:3')
    home, events = _make_job(storage, name)
    storage.remove_job(name, data=False)
    assert storage.settle(10)
    assert os.path.isfile(os.path.join(home, 'ab', 'uid', 'map-out'))
    assert not os.path.exists(events)
    storage.destroy()


def test_leftover_trash_is_deleted_by_the_next_storage(tmp_path):
    root = tmp_path / 'root'
    (root / 'trash' / '123-0' / 'deep').mkdir(parents=True)
    (root / 'trash' / '123-0' / 'deep' / 'file').write_bytes(b'x')
    storage = Storage(str(root), 'localhost')
    assert storage.settle(10)
    assert os.listdir(str(root / 'trash')) == []
    storage.destroy()
    assert root.exists()  # not its own temporary directory: the root stays


def test_destroy_finishes_the_deletions_of_a_kept_root(tmp_path):
    storage = Storage(str(tmp_path / 'root'), 'localhost')
    for i in range(20):
        _make_job(storage, names.jobname('Job@1:2:%d' % i))
    for i in range(20):
        storage.remove_job(names.jobname('Job@1:2:%d' % i))
    storage.destroy()
    assert _everything(storage.root) == []
