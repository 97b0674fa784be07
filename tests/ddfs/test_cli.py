"""``discolite ddfs ...`` against a ``discolite master`` subprocess."""
import subprocess
import sys

import pytest

from discolite.ddfs import DDFS
from discolite.master.ddfs_store import format_ts

from tests.helpers import http_master


@pytest.fixture(scope='module')
def url(tmp_path_factory):
    with http_master(tmp_path_factory.mktemp('ddfs-cli'), workers=1) as url:
        yield url


def ddfs(url, *args, stdin=None):
    p = subprocess.run([sys.executable, '-m', 'discolite', '-M', url, 'ddfs'] + list(args),
                       capture_output=True, timeout=60, input=stdin)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def ok(url, *args):
    code, out, err = ddfs(url, *args)
    assert code == 0, (args, err)
    return out


def test_push_ls_cat_get(url, tmp_path):
    a, b = tmp_path / 'a.txt', tmp_path / 'sub' / 'b.txt'
    b.parent.mkdir()
    a.write_bytes(b'alpha\n')
    b.write_bytes(b'beta\n')
    out = ok(url, 'push', 'c:files', str(a), str(b.parent))
    assert [DDFS.blob_name(l) for l in out.split()] == ['a_txt', 'b_txt']
    assert ok(url, 'ls', 'c:') == 'c:files\n'
    assert ok(url, 'cat', 'c:files') in ('alpha\nbeta\n', 'beta\nalpha\n')
    assert ok(url, 'exists', 'c:files') == 'True\n'
    code, out, _ = ddfs(url, 'exists', 'c:nosuch')
    assert (code, out) == (1, 'False\n')
    out = ok(url, 'get', 'c:files', str(tmp_path / 'got'))
    assert (tmp_path / 'got' / 'a_txt').read_bytes() == b'alpha\n'
    assert len(ok(url, 'blobs', 'c:files').splitlines()) == 2


def test_tags_attrs_tokens_rm(url):
    ok(url, 'tag', 'c:links', 'tag://c:files', 'http://example.com/x,http://example.org/x')
    assert ok(url, 'urls', 'c:links') == 'tag://c:files\nhttp://example.com/x\thttp://example.org/x\n'
    assert ok(url, 'find', 'c:links').splitlines()[:2] == ['c:links', 'c:links -> c:files']
    ok(url, 'setattr', 'c:links', 'color', 'blue')
    assert ok(url, 'attrs', 'c:links') == 'color\tblue\n'
    assert ok(url, 'getattr', 'c:links', 'color') == 'blue\n'
    ok(url, 'delattr', 'c:links', 'color')
    ok(url, 'chtok', 'c:links', 's3cret')
    code, _, err = ddfs(url, 'urls', 'c:links')
    assert code == 1 and 'Incorrect or missing token.' in err and '401' in err
    assert ok(url, '-t', 's3cret', 'getattr', 'c:links', 'ddfs:write-token') == 's3cret\n'
    code, _, err = ddfs(url, 'rm', 'c:links')
    assert code == 1 and '401' in err
    ok(url, '-t', 's3cret', 'rm', 'c:links')
    ok(url, 'put', 'c:put', 'u1', 'u2')
    assert ok(url, 'urls', 'c:put') == 'u1\nu2\n'
    ok(url, 'touch', 'c:empty')
    assert ok(url, 'urls', 'c:empty') == ''
    ok(url, 'cp', 'c:put', 'c:copy')
    assert ok(url, 'urls', 'c:copy') == 'u1\nu2\n'
    assert ok(url, 'stat', 'c:copy').startswith('c:copy\tid=c:copy$')
    assert '\tentries=2\tattributes=0' in ok(url, 'stat', 'c:copy')


def test_chunk_and_xcat(url, tmp_path):
    f = tmp_path / 'lines.txt'
    f.write_bytes(b'one\ntwo\n')
    ok(url, 'chunk', 'c:chunk', str(f))
    assert ok(url, 'xcat', 'c:chunk') == "b'one\\n'\nb'two\\n'\n"


def test_errors_are_one_line_and_exit_1(url):
    code, _, err = ddfs(url, 'urls', 'c:nosuch')
    assert code == 1 and err.startswith('discolite ddfs: error: Tag not found.')
    code, _, err = ddfs(url, 'urls', 'bad!name')
    assert code == 1 and 'Invalid tag' in err and 'Traceback' not in err
    code, _, err = ddfs(url, 'push', 'c:x', '/no/such/file')
    assert code == 1 and 'no such file: /no/such/file' in err
    code, _, err = ddfs(url, 'nosuchcommand')
    assert code == 2 and 'invalid choice' in err
    code, out, _ = ddfs(url, '--help')
    assert code == 0 and 'chtok' in out and 'xcat' in out
    code, _, err = ddfs('http://127.0.0.1:1', 'ls')
    assert code == 1 and 'error' in err and 'Traceback' not in err
    assert format_ts(1) == '00-00-1'
