"""disco.compat: the Python 3 behaviour of Disco 0.5.4's shims."""
import hashlib
import io
import os
import pickle
import subprocess

import pytest

from discolite import compat
from discolite.util import encode, sort_reader


def test_types_and_modules():
    import http.client
    import http.server
    import itertools
    import socketserver
    import urllib.parse
    assert compat.basestring is str
    assert compat.integer_types is int
    assert compat.StringIO is io.StringIO and compat.BytesIO is io.BytesIO
    assert compat.file is io.FileIO
    assert compat.http_server is http.server and compat.httplib is http.client
    assert compat.socket_server is socketserver
    assert compat.urlencode is urllib.parse.urlencode
    assert compat.zip_longest is itertools.zip_longest
    assert compat.md5 is hashlib.md5
    assert compat.UnpicklingError is pickle.UnpicklingError
    assert compat.pickle_loads(compat.pickle_dumps({'a': 1})) == {'a': 1}
    buf = io.BytesIO()
    compat.pickle_dump([1], buf)
    buf.seek(0)
    assert compat.pickle_load(buf) == [1]
    for name in compat.__all__:
        assert hasattr(compat, name), name


def test_bytes_and_str():
    assert compat.str_to_bytes('é') == 'é'.encode('utf-8')
    assert compat.str_to_bytes(b'x') == b'x'
    with pytest.raises(AttributeError):
        compat.str_to_bytes(5)
    assert compat.bytes_to_str(b'\xc3\xa9') == 'é'
    assert compat.bytes_to_str('s') == 's'
    assert compat.bytes_of_int(255) == b'\xff'
    assert compat.int_of_byte(b'A'[0]) == 65
    assert compat.force_utf8('x') == 'x' and compat.force_ascii('é') == 'é'


def test_persistent_hash_is_md5():
    assert compat.persistent_hash('abc') == int(hashlib.md5(b'abc').hexdigest(), 16)
    assert compat.persistent_hash(b'abc') == compat.persistent_hash('abc')
    with pytest.raises(AttributeError):
        compat.persistent_hash(3)


def test_sort_cmd_sorts_a_sort_file_under_sh(tmp_path):
    """The command works through /bin/sh (Disco's bash-only version did not under dash)."""
    records = [(b'b', b'2\x00'), (b'a', b'1'), (b'c', b'\xff3'), (b'a', b'0')]
    path = tmp_path / 'sort.dl'
    path.write_bytes(b''.join(k + b'\xff' + encode(v) + b'\x00' for k, v in records))
    cmd, shell = compat.sort_cmd(str(path), '10%')
    assert shell is True
    env = dict(os.environ, LC_ALL='C')
    subprocess.run(cmd, shell=True, check=True, cwd=str(tmp_path), env=env,
                   executable='/bin/sh')
    with open(path, 'rb') as fd:
        out = list(sort_reader(fd, str(path)))
    assert [k for k, v in out] == [b'a', b'a', b'b', b'c']
    assert sorted(out) == sorted(records)


def test_sort_cmd_quotes_file_names(tmp_path):
    path = tmp_path / "it's here.dl"
    path.write_bytes(b'b\xffx\x00a\xffy\x00')
    cmd, _ = compat.sort_cmd(str(path), '1M')
    subprocess.run(cmd, shell=True, check=True, cwd=str(tmp_path), executable='/bin/sh',
                   env=dict(os.environ, LC_ALL='C'))
    assert path.read_bytes() == b'a\xffy\x00b\xffx\x00'


def test_alias_name():
    from discolite import alias
    was = alias.installed()
    alias.install()
    try:
        import disco.compat
        assert disco.compat is compat
    finally:
        if not was:
            alias.uninstall()
