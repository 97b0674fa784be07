"""ddfs_store: versions, entry order, tokens, names, attributes, atomic writes."""
import json
import os
import subprocess
import sys
import threading

import pytest

from discolite.master.ddfs_store import DDFSError, DDFSStore, format_ts, hh


@pytest.fixture
def store(tmp_path):
    return DDFSStore(str(tmp_path / 'ddfs'), 'localhost')


def err(call):
    with pytest.raises(DDFSError) as e:
        call()
    return e.value.status, e.value.body


def blob(name, ts='1-2-3'):
    full = '%s$%s' % (name, ts)
    return 'disco://localhost/ddfs/vol0/blob/%s/%s' % (hh(full), full)


def test_timestamps_are_erlang_now_in_hex():
    assert format_ts(1796089753634859) == '704-15e99-9afeb'  # spec §2.3
    assert format_ts(0) == '00-00-00'


def test_new_blob_names(store):
    a, b = store.new_blob('hello'), store.new_blob('hello')
    assert a != b and a.startswith('hello$') and b.startswith('hello$')
    long = store.new_blob('b' * 201)  # capture ddfs_push_long_name_new_blob
    assert long.startswith('393d85173d48c6730e6257c0a837bba6$')
    assert store.new_blob('b' * 200).startswith('b' * 200 + '$')
    assert err(lambda: store.new_blob('bad!name')) == (403, 'Invalid tag')
    assert err(lambda: store.new_blob('two', replicas=2)) == \
        (403, 'Not enough nodes for replicas.')


def test_blob_layout_and_put_port_errors(store, tmp_path):
    name = store.new_blob('hello')
    url = store.put_blob(name, b'hello ddfs\n')
    assert url == 'disco://localhost/ddfs/vol0/blob/%s/%s' % (hh(name), name)
    path = tmp_path / 'ddfs' / 'vol0' / 'blob' / hh(name) / name
    assert path.read_bytes() == b'hello ddfs\n'
    assert store.blob_file(url) == str(path)
    status, body = err(lambda: store.put_blob(name, b'again'))
    assert status == 500 and body.startswith('File exists (path: %s)' % path)
    assert path.read_bytes() == b'hello ddfs\n'
    for bad in ('nodollar', 'x$1-2', 'x$zz-1-2', 'a/b$1-2-3', '$1-2-3'):
        assert err(lambda: store.put_blob(bad, b'')) == (403, 'Invalid blob name')
    assert not [f for d, _, fs in os.walk(str(tmp_path)) for f in fs if f.startswith('!partial')]


def test_versions_and_plain_updates_put_new_entries_first(store):
    loc1 = store.update('t', [['a']])
    doc1 = store.get('t')
    assert list(doc1) == ['version', 'id', 'last-modified', 'urls', 'user-data']
    assert loc1 == ['disco://localhost/ddfs/vol0/tag/%s/%s' % (hh(doc1['id']), doc1['id'])]
    store.update('t', [['b'], ['c']])
    doc2 = store.get('t')
    assert doc2['urls'] == [['b'], ['c'], ['a']] and doc2['id'] != doc1['id']
    store.update('t', [['a']])  # no set semantics: duplicates stay
    assert store.get('t')['urls'] == [['a'], ['b'], ['c'], ['a']]
    # adding nothing writes no new version (test_put_no_garbage)
    before = store.get('t')['id']
    assert store.update('t', []) == store.locations(store._load('t'))
    assert store.get('t')['id'] == before
    # every version is kept on disk, with its tokens, mode 0400
    files = os.listdir(os.path.join(store.vol, 'tag', hh(before)))
    assert before in files
    stored = json.load(open(os.path.join(store.vol, 'tag', hh(before), before)))
    assert list(stored) == ['version', 'id', 'last-modified', 'read-token', 'write-token',
                            'urls', 'user-data']
    assert os.stat(os.path.join(store.vol, 'tag', hh(before), before)).st_mode & 0o777 == 0o400


def test_set_updates(store):
    one, two, one2 = blob('one', '00-00-1'), blob('two', '00-00-2'), blob('one', '00-00-3')
    store.update('t', [], update=True)  # ddfs_tag_update_empty_new: creates an empty tag
    assert store.get('t')['urls'] == []
    store.update('t', [[one], [two], [one2]], update=True)  # ddfs_tag_nodup_order
    assert store.get('t')['urls'] == [[two], [one]]
    before = store.get('t')['id']
    store.update('t', [[one2], ['tag://x'], ['tag://x'], ['http://e/x'], ['http://e/x']],
                 update=True)
    # names: blob prefix, tag name; other URLs have none and are always added
    assert store.get('t')['urls'] == [['http://e/x'], ['http://e/x'], ['tag://x'], [two], [one]]
    store.update('t', [[blob('two', '9-9-9')]], update=True)
    assert store.get('t')['id'] != before


def test_put_replaces(store):
    store.update('t', [['a'], ['b']])
    store.update('t', [['c']], replace=True)
    assert store.get('t')['urls'] == [['c']]


def test_invalid_names_and_bodies(store):
    for bad in ('bad!name', 'a.b', 'a/b', '', 'a' * 512, 'x y', 'a$b'):
        assert err(lambda: store.get(bad)) == (403, 'Invalid tag')
        assert err(lambda: store.update(bad, [])) == (403, 'Invalid tag')
    assert err(lambda: store.get('a' * 511)) == (404, 'Tag not found.')
    store.update('a' * 511, [['x']])  # longer than a file name: still stored and listed
    assert store.get('a' * 511)['urls'] == [['x']]
    assert 'a' * 511 in store.list()
    for bad in (['not-a-list'], [[1]], {'a': 1}, 'x', [['a'], 'b']):
        assert err(lambda: store.update('t', bad)) == (403, 'Invalid url object')


def test_tokens(store):
    """The observed sequence of spec §5.2."""
    store.update('s', [['x']], token='s3cret', replace=True)
    assert store.get('s', 's3cret')['urls'] == [['x']]
    assert err(lambda: store.get('s')) == (401, 'Incorrect or missing token.')
    assert err(lambda: store.get('s', 'wrong'))[0] == 401
    assert err(lambda: store.update('s', [['y']]))[0] == 401
    store.set_attr('s', 'ddfs:read-token', b'"reader"', 's3cret')
    assert store.get('s', 'reader') and store.get('s', 's3cret')
    assert err(lambda: store.get_attr('s', 'ddfs:write-token', 'reader'))[0] == 401
    assert store.get_attr('s', 'ddfs:write-token', 's3cret') == 's3cret'
    assert store.get_attr('s', 'ddfs:read-token', 'reader') == 'reader'
    assert err(lambda: store.update('s', [['y']], token='reader'))[0] == 401
    store.update('s', [['y']], token='s3cret')
    assert err(lambda: store.delete('s'))[0] == 401
    assert store.delete('s', 's3cret') == 'deleted'
    # read token null, write token set: everybody reads, with read privilege only
    store.update('w', [['x']])
    store.set_attr('w', 'ddfs:write-token', b'"wtr"')
    assert store.get('w', 'anything') and store.get('w')
    assert err(lambda: store.get_attr('w', 'ddfs:write-token', 'wtr'))[0] == 401
    # empty-string tokens are tokens
    store.update('e', [])
    store.set_attr('e', 'ddfs:read-token', b'""')
    store.set_attr('e', 'ddfs:write-token', b'""', '')
    assert err(lambda: store.get('e'))[0] == 401
    assert store.get('e', '')['urls'] == []
    # a missing tag: 404 whatever the token; any write creates it with R = W = the token
    assert err(lambda: store.get('nosuch', 'x')) == (404, 'Tag not found.')


def test_attributes(store):
    store.set_attr('a', 'color', b'"blue"')  # creates the tag
    assert store.get('a')['urls'] == [] and store.get_attr('a', 'color') == 'blue'
    assert store.get_attr('a', 'ddfs:read-token') is None
    assert err(lambda: store.get_attr('a', 'weight')) == (404, 'Tag attribute not found.')
    assert err(lambda: store.get_attr('a', 'ddfs:foo')) == (404, 'Tag attribute not found.')
    assert err(lambda: store.set_attr('a', 'ddfs:a1', b'"v"')) == \
        (404, 'Tag attribute not found.')
    assert err(lambda: store.get_attr('nosuch', 'color')) == (404, 'Tag not found.')
    assert err(lambda: store.del_attr('nosuch', 'color')) == (404, 'Tag attribute not found.')
    assert err(lambda: store.set_attr('a', 'count', b'5')) == \
        (403, 'Invalid attribute key or value')
    assert err(lambda: store.set_attr('a', 'big', json.dumps('x' * 4095).encode())) == \
        (403, 'Attribute value too big.')
    assert err(lambda: store.get_attr('a', 'n' * 1025)) == (403, 'Attribute name too big.')
    store.set_attr('a', 'ddfs:urls', b'[["u"]]')
    assert store.get_attr('a', 'ddfs:urls') == [['u']]
    assert store.del_attr('a', 'color') == 'deleted'
    assert store.del_attr('a', 'color') == 'deleted'
    assert store.get('a')['user-data'] == {}


def test_delete_and_recreate(store):
    store.update('t', [['a']], token='tok')
    store.set_attr('t', 'k', b'"v"', 'tok')
    assert store.delete('t', 'tok') == 'deleted'
    assert store.delete('t') == 'deleted' and store.delete('never') == 'deleted'
    assert err(lambda: store.get('t')) == (404, 'Tag not found.')
    assert 't' not in store.list() and '+deleted' not in store.list()
    assert ['tag://t'] in store._load('+deleted')['urls']
    store.update('t', [['b']])  # a fresh tag: old entries, attributes and tokens are gone
    assert store.get('t') == dict(store.get('t'), urls=[['b']], **{'user-data': {}})
    assert ['tag://t'] not in store._load('+deleted')['urls']


def test_list_prefix_sorted(store):
    for name in ('b:2', 'a:1', 'b:1', 'c'):
        store.update(name, [])
    assert store.list() == ['a:1', 'b:1', 'b:2', 'c'] and store.list('b:') == ['b:1', 'b:2']


def test_corrupt_tag_document_is_a_clear_error(store):
    store.update('t', [['a']])
    rel = store._version_file(store.get('t')['id'])
    path = os.path.join(store.root, rel)
    os.chmod(path, 0o600)
    with open(path, 'w') as f:
        f.write('{"version":1,"urls":[[')
    status, body = err(lambda: store.get('t'))
    assert status == 500 and 'Corrupt tag data of t on disk' in body
    assert err(lambda: store.update('t', [['b']]))[0] == 500  # never overwritten blindly
    assert store.delete('t') == 'deleted'  # the way out (its tokens cannot be read)
    store.update('t', [['b']])
    assert store.get('t')['urls'] == [['b']]


def test_concurrent_writers_lose_nothing(store, tmp_path):
    """Threads of this process and another process add to one tag at once."""
    script = ('import sys\nfrom discolite.master.ddfs_store import DDFSStore\n'
              's = DDFSStore(sys.argv[1])\n'
              'for i in range(40): s.oob_put("J@1:2:3", "p%d" % i, b"x")\n')
    proc = subprocess.Popen([sys.executable, '-c', script, store.root])

    def worker(n):
        for i in range(20):
            store.oob_put('J@1:2:3', 't%d-%d' % (n, i), b'%d' % i)
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert proc.wait(60) == 0
    doc = store.get('disco:job:oob:J@1:2:3', 'job')
    assert len(doc['urls']) == 100
    assert store.oob_get('J@1:2:3', 't2-19') == b'19'
    assert store.get_attr('disco:job:oob:J@1:2:3', 'ddfs:write-token', 'job') == 'job'


def test_disk_full_while_writing_a_blob_leaves_nothing(tmp_path):
    """RLIMIT_FSIZE makes writes fail as on a full disk: the PUT fails, the previous
    state stays, and no partial file is left behind."""
    script = r'''
import resource, signal, sys
from discolite.master.ddfs_store import DDFSStore, DDFSError
s = DDFSStore(sys.argv[1])
s.update('t', [['before']])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (100000, 100000))
try:
    url = s.put_blob(s.new_blob('big'), b'x' * 500000)
except DDFSError as e:
    print(e.status, e.body)
else:
    s.update('t', [[url]])
    print('stored')
'''
    out = subprocess.run([sys.executable, '-c', script, str(tmp_path / 'd')],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith('500 File too large'), out.stdout
    store = DDFSStore(str(tmp_path / 'd'))
    assert store.get('t')['urls'] == [['before']]
    assert not [f for d, _, fs in os.walk(str(tmp_path)) for f in fs if 'big' in f]
