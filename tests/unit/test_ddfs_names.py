"""discolite.ddfs name helpers."""
import pytest

from discolite.ddfs import DDFS, InvalidTag, canonizetag, istag, tagname


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
    assert istag('tag://x') and not istag('raw://x') and istag('x') == 'tag://x'
    assert tagname('tag://host/name') == 'name' and tagname('name') == 'name'
