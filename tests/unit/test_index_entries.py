"""The lines a master keeps for an index file it wrote are what reading the file gives."""
import pytest

from discolite import util
from discolite.master import names
from discolite.master.storage import Storage, index_entries


@pytest.mark.parametrize('outputs', [
    [(0, '1f/map:0-x-0-aa-1/map-0-x-0', 64)],
    [(3, 'a/b', 0), (0, 'c/d', 12), (7, 'http://elsewhere/x', 5)],
    [(0, 'with space', 1)],
    [(0, 'caf\u00e9', 1)],
    [(0, 'tab\there', 1)],
])
def test_kept_index_lines_match_the_file(tmp_path, outputs):
    storage = Storage(str(tmp_path), 'node0')
    util.register_local_root('node0', storage.disco_data)
    try:
        name = names.JobName('Job@5ab:1:2')
        storage.create_jobhome(name, b'pack', b'')
        url = storage.write_index(name, 'map', 0, outputs, 'node0')
        kept = index_entries('node0', storage.index_location(name, 'node0')[1], outputs)
        try:
            read = list(util.read_index(url))
        except ValueError:
            read = None  # a line that does not split in three
        if kept is None:  # not kept: the shuffle reads the file as before
            assert any(not p.isascii() or p.split() != [p] for _l, p, _s in outputs)
        else:
            assert kept == read
    finally:
        util.unregister_local_root(storage.disco_data)
