import os
import threading

import pytest

from discolite.ddfs import DDFS, InvalidTag, canonizetag, istag, tagname
from discolite.error import CommError, DiscoError
from discolite.oobstore import OOBStore


def test_put_get_layout(tmp_path):
    s = OOBStore(str(tmp_path))
    s.put('Job@1', 'key', b'value')
    from hashlib import md5
    hh = md5(b'Job@1').hexdigest()[:2]
    assert (tmp_path / 'oob' / hh / 'Job@1' / 'key').read_bytes() == b'value'
    assert s.get('Job@1', 'key') == b'value'
    assert s.get('Job@1', 'nokey') is None
    assert s.list('Job@1') == ['key']


def test_later_put_wins(tmp_path):
    s = OOBStore(str(tmp_path))
    s.put('j', 'k', b'1')
    s.put('j', 'k', b'22')
    assert s.get('j', 'k') == b'22'
    assert s.list('j') == ['k']


def test_no_oob_is_404(tmp_path):
    s = OOBStore(str(tmp_path))
    for call in (lambda: s.get('j', 'k'), lambda: s.list('j')):
        with pytest.raises(CommError) as e:
            call()
        assert e.value.code == 404
        assert 'No OOB data for job j' in str(e.value)


def test_purge(tmp_path):
    s = OOBStore(str(tmp_path))
    s.put('j', 'k', b'1')
    s.purge('j')
    with pytest.raises(CommError):
        s.list('j')
    s.purge('j')


def test_validation(tmp_path):
    s = OOBStore(str(tmp_path))
    for bad in ('a/b', '..', '', '.', 'x\\y'):
        with pytest.raises(DiscoError):
            s.put('j', bad, b'v')
    with pytest.raises(DiscoError):
        s.put('../j', 'k', b'v')
    with pytest.raises(DiscoError) as e:
        s.put('j', 'k', 'text')
    assert 'str' in str(e.value)


def test_concurrent_puts(tmp_path):
    s = OOBStore(str(tmp_path))

    def worker(n):
        for i in range(50):
            s.put('j', 'k%d' % (i % 5), b'%d' % n)
            s.put('j', 'own%d-%d' % (n, i), b'x')
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(s.list('j')) == 5 + 200
    assert not [f for f in os.listdir(s.jobdir('j')) if f.endswith('.partial')]


def test_ddfs_helpers():
    assert DDFS.safe_name('a b/c:d@e-f_g') == 'a_b_c:d@e-f_g'
    assert DDFS.blob_name('disco://n/ddfs/vol0/blob/ab/key$5-6-7') == 'key'
    assert DDFS.job_oob('J') == 'disco:job:oob:J'
    assert DDFS.job_tag('J') == 'disco:job:results:J'
    assert canonizetag('tag://x') == 'tag://x'
    assert canonizetag('x') == 'tag://x'
    assert canonizetag(['y', 'z']) == 'tag://y'
    for bad in ('-', 'a/b', 'http://x', 5):
        with pytest.raises(InvalidTag):
            canonizetag(bad)
    assert istag('tag://x') and not istag('raw://x')
    assert tagname('tag://host/name') == 'name' and tagname('name') == 'name'


def test_ddfs_missing_and_no_http_master():
    from discolite.settings import DiscoSettings
    d = DDFS('local:///tmp/x', settings=DiscoSettings())
    with pytest.raises(CommError):
        d.blobs('tag://x')
