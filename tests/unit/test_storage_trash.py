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
    os.makedirs(events, exist_ok=True)
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
    # an emptied hash bucket goes too (a refused pack leaves nothing behind)
    assert not os.path.exists(os.path.join(storage.disco_data, 'localhost', hexhash(name)))
    assert not os.path.exists(os.path.dirname(events))
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


def _zip(entries):
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as z:
        for name, data in entries:
            z.writestr(name, data)
    return buf.getvalue()


def test_a_job_home_unpacked_again_from_what_was_kept(tmp_path):
    """The second unpack of the same zip bytes writes the same files without parsing the zip;
    its checks (size limit, escaping entries of other zips) still hold."""
    import pytest
    from discolite.master.storage import UnsafeJobHome, JobHomeTooLarge, unpack_zip
    data = _zip([('lib/discolite/x.py', b'skip'), ('mod.py', b'print(1)'), ('pkg/a.txt', b'A' * 50)])
    for n in (1, 2):
        unpack_zip(data, str(tmp_path / str(n)), skip_prefix='lib/discolite/')
        assert _everything(str(tmp_path / str(n))) == ['mod.py', 'pkg/a.txt']
        assert (tmp_path / str(n) / 'pkg' / 'a.txt').read_bytes() == b'A' * 50
    unpack_zip(data, str(tmp_path / '3'))  # another skip_prefix: not the same plan
    assert 'lib/discolite/x.py' in _everything(str(tmp_path / '3'))
    with pytest.raises(JobHomeTooLarge):
        unpack_zip(data, str(tmp_path / '4'), skip_prefix='lib/discolite/', max_size=20)
    evil = _zip([('../mod.py', b'print(1)'), ('pkg/a.txt', b'A' * 50)])
    with pytest.raises(UnsafeJobHome):
        unpack_zip(evil, str(tmp_path / '5'))
    assert not (tmp_path / 'mod.py').exists()


def test_unpack_zip_names_the_directories_it_made(tmp_path):
    """What unpack_zip says it made (the scheduler puts those of the job's PYTHONPATH on
    sys.path without a stat each) is exactly the directories found on disk."""
    from discolite.master.storage import unpack_zip
    data = _zip([('lib/discolite/x.py', b'skip'), ('lib/mod.py', b''), ('a/b/c/d.py', b''),
                 ('e/', b''), ('a//f/g.txt', b''), ('top.py', b'')])
    for n, skip in enumerate(('lib/discolite/', None)):
        dest = str(tmp_path / str(n))
        made = unpack_zip(data, dest, skip_prefix=skip)
        on_disk = {'.'} | {os.path.relpath(d, dest) for d, _dirs, _files in os.walk(dest)}
        assert made == on_disk
        made = unpack_zip(data, dest + 'again', skip_prefix=skip)  # the kept plan
        assert made == on_disk
    assert unpack_zip(b'', str(tmp_path / 'empty')) == {'.'}
