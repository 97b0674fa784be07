import functools
import gzip
import os
import random

import pytest
from hypothesis import given, strategies as st

from discolite import util
from discolite.error import DataError, DiscoError
from discolite.settings import DiscoSettings
from discolite.worker.task_io import DiscoOutputStream


def test_flatten_iterify():
    assert list(util.flatten((0, [1, [2, 3], [[4, [5, [6]]]]]))) == list(range(7))
    assert list(util.iterify(5)) == [5]
    assert list(util.iterify([5])) == [5]
    assert list(util.iterify('ab')) == ['ab']
    assert util.isiterable(b'ab') and not util.isiterable('ab')
    assert list(util.flatten(['ab', b'\x01\x02'])) == ['ab', 1, 2]
    assert util.listify(3) == [3]
    assert util.chainify([[1], [2, 3]]) == [1, 2, 3]


def test_small_helpers():
    assert util.hexhash(b'abc') == '90'
    assert util.iskv((1, 2)) and not util.iskv([1, 2]) and not util.iskv((1,))
    assert util.kvify(3) == (3, None) and util.kvify((1, 2)) == (1, 2)
    assert util.key((1, 2)) == 1 and util.identity(4) == 4
    assert util.ilen(iter(range(5))) == 5
    assert util.partition(range(5), lambda x: x % 2) == ([1, 3], [0, 2, 4])
    assert sorted(util.shuffled(range(10))) == list(range(10))
    assert util.format_size(1) == '1.0 bytes'
    assert util.format_size(2048) == '2.0KB'
    assert util.format_size(3 * 1024 ** 3) == '3.0GB'
    assert util.reify('os.path.join') is os.path.join


def test_kvgroup():
    data = [('a', 1), ('a', 2), ('b', 3), ('a', 4)]
    assert [(k, list(vs)) for k, vs in util.kvgroup(data)] == [('a', [1, 2]), ('b', [3]), ('a', [4])]


def test_argcount_partial():
    def f(a, b, c, d):
        pass
    assert util.argcount(f) == 4
    assert util.argcount(functools.partial(f, 1)) == 3
    assert util.argcount(functools.partial(f, d=1)) == 3
    assert util.argcount(functools.partial(f, 1, c=2)) == 2
    assert util.argcount(lambda x: x) == 1

    class C(object):
        def m(self, a, b):
            pass

        def __call__(self, a):
            pass
    assert util.argcount(C().m) == 2
    assert util.argcount(C()) == 1


def test_globalize():
    g = {}
    f = eval('lambda: zz', g)
    util.globalize(functools.partial(f), {'zz': 5})
    assert f() == 5
    util.globalize(f, {'zz': 6})
    assert f() == 5


def test_urlsplit_cases():
    port = str(DiscoSettings()['DISCO_PORT'])
    ddfs_data, disco_data = DiscoSettings()['DDFS_DATA'], DiscoSettings()['DISCO_DATA']
    assert util.urlsplit('http://host/path') == ('http', ('host', ''), 'path')
    assert util.urlsplit('http://host:port/path') == ('http', ('host', 'port'), 'path')
    assert util.urlsplit('disco://master/long/path') == ('http', ('master', port), 'long/path')
    assert util.urlsplit('disco://localhost/ddfs/path', localhost='localhost') == \
        ('file', ('', ''), os.path.join(ddfs_data, 'path'))
    assert util.urlsplit('disco://localhost/data/path', localhost='localhost') == \
        ('file', ('', ''), os.path.join(disco_data, 'path'))
    assert util.urlsplit('disco://localhost/data/path', localhost=True, disco_data='/d') == \
        ('file', ('', ''), '/d/path')
    assert util.urlsplit('tag://tag') == ('tag', ('', ''), 'tag')
    assert util.urlsplit('tag://host/tag') == ('tag', ('host', ''), 'tag')
    assert util.urlsplit('tag://host:port/tag') == ('tag', ('host', 'port'), 'tag')
    s, loc, p = util.urlsplit('http://h:1/x')
    assert str(loc) == 'h:1' and str(util.urlsplit('http://h/x')[1]) == 'h'
    assert util.urlsplit('http://h:%s/disco/x' % port, localhost='h', disco_data='/d') == \
        ('file', ('', ''), '/d/x')


def test_urlresolve_jobname_schemesplit():
    port = str(DiscoSettings()['DISCO_PORT'])
    assert util.urlresolve('dir://h/a/b') == 'http://h:%s/a/b' % port
    assert util.urlresolve('disco://h/a/b') == 'http://h:%s/a/b' % port
    assert util.urlresolve('tag://name', master='http://m:1') == 'http://m:1/ddfs/tag/name'
    assert util.schemesplit('a/b') == ('', 'a/b')
    assert util.schemesplit('x://a/b') == ('x', 'a/b')
    assert util.jobname('dir://h/disco/h/7c/Job@1/.disco/map-0-1.results') == '.disco'
    assert util.jobname('disco://h/disco/h/7c/Job@1/file') == 'Job@1'
    with pytest.raises(DiscoError) as e:
        util.jobname('raw://x')
    assert 'Cannot parse jobname from raw://x' in str(e.value)


def test_proxy_url():
    assert util.proxy_url('http://h/x', proxy='') == 'http://h/x'
    assert util.proxy_url('http://h/x', proxy='http://p') == 'http://p/x'
    assert util.proxy_url('http://h/x', proxy='http://p', to_master=False) == 'http://p/proxy/h/GET/x'
    assert util.proxy_url('http://h.com/x', proxy='http://p') == 'http://h.com/x'


def test_shims():
    with pytest.raises(DiscoError):
        util.err('x')
    with pytest.raises(DataError):
        util.data_err('x', 'u')


@pytest.fixture
def root(tmp_path):
    data = tmp_path / 'data'
    data.mkdir()
    util.register_local_root('nodeA', str(data))
    yield data
    util.unregister_local_root(str(data))


def test_local_path(root, tmp_path):
    f = root / 'nodeA' / 'ab' / 'job' / 'file'
    f.parent.mkdir(parents=True)
    f.write_bytes(b'x')
    assert util.local_path('disco://nodeA/disco/nodeA/ab/job/file') == str(f)
    assert util.local_path('dir://nodeA/disco/nodeA/ab/job/file') == str(f)
    assert util.local_path('disco://nodeB/disco/nodeA/ab/job/file') is None
    assert util.local_path('disco://nodeA/disco/nodeA/ab/job/missing') is None
    assert util.local_path('disco://nodeA/ddfs/x') is None
    assert util.local_path('http://nodeA/disco/nodeA/ab/job/file') is None
    # second root for the same host: first registered wins, others are searched in order
    other = tmp_path / 'other'
    g = other / 'z'
    g.parent.mkdir(parents=True)
    g.write_bytes(b'y')
    util.register_local_root('nodeA', str(other))
    try:
        assert util.local_path('disco://nodeA/disco/z') == str(g)
    finally:
        util.unregister_local_root(str(other))
    assert util.local_path('disco://nodeA/disco/z') is None


def test_open_url_opens_what_local_path_finds(root, tmp_path):
    """_open_url tries to open each place local_path looks in, in its order: a place
    that cannot hold the file (missing, or under a file) is skipped as local_path skips
    it; one that exists but cannot be opened (a directory) is a DataError;
    registering or unregistering a root is seen at once."""
    other = tmp_path / 'other'
    (other / 'z').mkdir(parents=True)
    (other / 'z' / 'f').write_bytes(b'second')
    (root / 'z').write_bytes(b'a file where the first root would have a directory')
    url = 'disco://nodeA:8989/disco/z/f'
    assert util.local_path(url) is None
    util.register_local_root('nodeA', str(other))
    try:
        assert util.local_path(url) == str(other / 'z' / 'f')
        with util._open_url(url) as f:
            assert f.read() == b'second'
        (root / 'd').mkdir()
        assert util.local_path('disco://nodeA/disco/d') == str(root / 'd')
        with pytest.raises(DataError) as e:
            util._open_url('disco://nodeA/disco/d')
        assert 'Cannot open %s: [Errno 21]' % (root / 'd') in str(e.value)
    finally:
        util.unregister_local_root(str(other))
    assert util.local_path(url) is None


def make_index(root, name, entries, gz=False):
    d = root / 'nodeA' / 'hh' / 'job'
    d.mkdir(parents=True, exist_ok=True)
    lines = []
    for label, fname, recs in entries:
        p = d / fname
        with open(p, 'wb') as f:
            out = DiscoOutputStream(f)
            for k, v in recs:
                out.add(k, v)
            out.close()
        lines.append('%d disco://nodeA/disco/nodeA/hh/job/%s %d\n' % (label, fname, p.stat().st_size))
    idx = d / name
    data = ''.join(lines).encode()
    idx.write_bytes(gzip.compress(data) if gz else data)
    return 'dir://nodeA/disco/nodeA/hh/job/' + name


def test_read_index_parse_dir_inputlist(root):
    url = make_index(root, 'x.results', [(1, 'f1', [('a', 1)]), (0, 'f0', [('b', 2)])])
    triples = list(util.read_index(url))
    assert [t[0] for t in triples] == [1, 0]
    assert util.parse_dir(url) == ['disco://nodeA/disco/nodeA/hh/job/f0',
                                   'disco://nodeA/disco/nodeA/hh/job/f1']
    assert util.parse_dir(url, label=1) == ['disco://nodeA/disco/nodeA/hh/job/f1']
    assert util.parse_dir([url]) == util.parse_dir(url)
    gz = make_index(root, 'y.results.gz', [(2, 'f2', [])], gz=True)
    assert [t[0] for t in util.read_index(gz)] == [2]
    assert util.ispartitioned(url) and util.ispartitioned([url, url])
    assert not util.ispartitioned([]) and not util.ispartitioned('raw://x')
    assert util.inputlist([url]) == [('disco://nodeA/disco/nodeA/hh/job/f0',),
                                     ('disco://nodeA/disco/nodeA/hh/job/f1',)]
    assert util.inputlist([url], label=1) == [('disco://nodeA/disco/nodeA/hh/job/f1',)]
    assert util.inputlist([url], label=False) == [url]
    assert util.inputlist(['raw://a', ['raw://b', 'raw://c'], '', None]) == \
        ['raw://a', ['raw://b', 'raw://c']]
    assert list(util.deref(['raw://a', ['raw://b']])) == [['raw://a'], ['raw://b']]


def test_tag_input_of_a_master_that_is_gone():
    with pytest.raises(DiscoError) as e:
        util.inputlist(['tag://x'], settings=DiscoSettings(DISCO_MASTER='local:///tmp/x'))
    assert 'No in-process master at local:///tmp/x' in str(e.value)


def test_disk_sort_order_and_stability(tmp_path):
    rnd = random.Random(5)
    recs = [(bytes(rnd.choice(b'abcdefgh\x01\xfe') for _ in range(rnd.randrange(0, 4))), i)
            for i in range(20000)]
    fname = str(tmp_path / 'sort.dl')
    out = list(util.disk_sort(None, iter(recs), fname, 1))  # tiny budget -> many runs
    assert out == sorted(recs, key=lambda kv: kv[0])
    assert os.listdir(tmp_path) == []


def test_disk_sort_spills_and_cleans(tmp_path):
    fname = str(tmp_path / 'sort.dl')
    recs = ((b'%08d' % random.randrange(10 ** 8), b'x' * 200) for _ in range(30000))
    gen = util.disk_sort(None, recs, fname, 1024 * 1024)
    first = next(gen)
    runs = os.listdir(tmp_path)
    assert len(runs) >= 5 and all(r.startswith('sort.dl.run') for r in runs)
    rest = list(gen)
    keys = [first[0]] + [k for k, v in rest]
    assert keys == sorted(keys) and len(keys) == 30000
    assert os.listdir(tmp_path) == []


def test_disk_sort_closed_early_cleans(tmp_path):
    fname = str(tmp_path / 'sort.dl')
    gen = util.disk_sort(None, ((b'k%d' % i, i) for i in range(20000)), fname, 1)
    next(gen)
    gen.close()
    assert os.listdir(tmp_path) == []


def test_disk_sort_bad_keys(tmp_path):
    fname = str(tmp_path / 'sort.dl')
    with pytest.raises(ValueError) as e:
        list(util.disk_sort(None, [(b'a\xffb', 1)], fname, '10%'))
    assert e.value.args == ("Cannot sort key with 0xFF or 0x00 bytes", b'a\xffb')
    with pytest.raises(ValueError) as e:
        list(util.disk_sort(None, [(b'a\x00', 1)], fname, '10%'))
    assert e.value.args[0] == "Cannot sort key with 0xFF or 0x00 bytes"
    with pytest.raises(ValueError) as e:
        list(util.disk_sort(None, [('str', 1)], fname, '10%'))
    assert e.value.args == ("Keys must be bytes for external sort", 'str')
    assert os.listdir(tmp_path) == []


def test_parse_size():
    assert util.parse_size(100) == 100
    assert util.parse_size('2M') == 2 * 1024 * 1024
    assert util.parse_size('10%') > 0
    with pytest.raises(DiscoError):
        util.parse_size('lots')


@given(st.lists(st.tuples(st.binary(max_size=5).filter(lambda b: b'\x00' not in b and b'\xff' not in b),
                          st.integers())))
def test_disk_sort_property(recs):
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        out = list(util.disk_sort(None, recs, os.path.join(d, 'sort.dl'), 1))
    assert out == sorted(recs, key=lambda kv: kv[0])


def test_sort_reader_and_unix_sort(tmp_path):
    f = tmp_path / 'sort.dl'
    f.write_bytes(b'b\xff' + util.encode(b'2\x00\x01') + b'\x00a\xff' + util.encode(b'1') + b'\x00')
    util.unix_sort(str(f), '1M')
    assert list(util.sort_reader(open(f, 'rb'), str(f))) == [(b'a', b'1'), (b'b', b'2\x00\x01')]
    with pytest.raises(DataError):
        util.unix_sort(str(tmp_path / 'none'))


def test_dsorted(tmp_path):
    data = [random.random() for _ in range(1000)]
    assert list(util.dsorted(data, buffer_size=100, tempdir=str(tmp_path))) == sorted(data)
    assert list(util.dsorted(data[:10], buffer_size=100)) == sorted(data[:10])


def test_oob_local(tmp_path):
    master = 'local://' + str(tmp_path)
    with pytest.raises(DataError) as e:
        util.load_oob(master, 'job@1', 'k')
    assert e.value.code == 404
    util.save_oob(master, 'job@1', 'k', b'v1')
    util.save_oob(master, 'job@1', 'k', b'v2')
    assert util.load_oob(master, 'job@1', 'k') == b'v2'
    assert util.load_oob(master, 'job@1', 'other') is None
