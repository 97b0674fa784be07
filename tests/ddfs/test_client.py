"""The DDFS client API (spec §6): return values, quirks, tokens, chunk format."""
import os
import struct
import zlib
from io import BytesIO

import pytest

from discolite import result_iterator
from discolite.ddfs import DDFS, InvalidTag, relativizetag, urltoken
from discolite.error import CommError, DiscoError
from discolite.settings import DiscoSettings

P = 'cli%d:' % os.getpid()


@pytest.fixture
def ddfs(disco):
    client = DDFS(disco.master)
    yield client
    for tag in client.list(P):
        for token in (None, 'rtok', 's3cret', 'user'):
            try:
                client.delete(tag, token=token)
                break
            except CommError:
                pass


def test_token_helpers():
    assert urltoken('tag://s3cret@/demo:secret') == 's3cret'
    assert urltoken('tag://demo:user:pw@x') == 'user'
    assert urltoken('tag://disco:job:oob:CaptOOB@704:15f04:8a946') == 'job'
    assert urltoken('tag://disco:results:J@1:2:3') == 'results'
    assert urltoken('tag://plain') is None and urltoken('http://h/x@y') is None
    assert relativizetag('tag://demo:push', 'tag://demo:graph') == 'tag:///demo:push'
    assert relativizetag('tag://demo:push', 'tag://h:1/demo:graph') == 'tag://h:1/demo:push'


def test_return_values(ddfs):
    locs, blobs = ddfs.push(P + 'push', [(BytesIO(b'hello ddfs\n'), 'hello')])
    assert len(locs) == 1 and '/ddfs/vol0/tag/' in locs[0]
    assert len(blobs) == 1 and DDFS.blob_name(blobs[0][0]) == 'hello' and '$' in blobs[0][0]
    (raw,) = ddfs.put(P + 'put', [['a']])
    assert isinstance(raw, bytes) and raw.startswith(b'["disco://')
    (raw,) = ddfs.setattr(P + 'put', 'color', 'blue')
    assert isinstance(raw, bytes)
    assert ddfs.getattr(P + 'put', 'color') == 'blue' and ddfs.attrs(P + 'put') == \
        {'color': 'blue'}
    assert ddfs.delattr(P + 'put', 'color') == 'deleted'
    assert ddfs.urls(P + 'put') == [['a']]
    assert ddfs.list(P) == [P + 'push', P + 'put']
    assert ddfs.delete(P + 'put') == 'deleted' and ddfs.delete(P + 'nosuch') == 'deleted'
    with pytest.raises(CommError) as e:
        ddfs.get(P + 'put')
    assert e.value.code == 404 and "b'Tag not found.'" in str(e.value)
    with pytest.raises(CommError) as e:
        ddfs.push(P + 'x', [(BytesIO(b'x'), 'bad!name')])
    assert e.value.code == 403
    with pytest.raises(CommError) as e:
        ddfs.push(P + 'x', [(BytesIO(b'x'), 'two')], replicas=2)
    assert e.value.code == 403 and 'Not enough nodes for replicas.' in str(e.value)
    with pytest.raises(InvalidTag):
        ddfs.get('a/b')
    assert isinstance(InvalidTag('x'), DiscoError)


def test_push_paths_and_exists(ddfs, tmp_path):
    path = tmp_path / 'hello.txt'
    path.write_bytes(b'hello from a file\n')
    _, [[url]] = ddfs.push(P + 'p', [str(path)])
    assert DDFS.blob_name(url) == 'hello_txt'
    _, [[url2]] = ddfs.push(P + 'p', [(str(path), 'named')])
    assert [fd.read() for fd in ddfs.pull(P + 'p')] == [b'hello from a file\n'] * 2
    assert ddfs.exists(P + 'p') and not ddfs.exists(P + 'nosuch')
    assert not ddfs.exists('bad!name')  # 403 -> False
    ddfs.put(P + 'secret', [], token='s3cret')
    assert ddfs.exists(P + 'secret')  # 401 -> True
    assert ddfs.get('tag://s3cret@/' + P + 'secret')['urls'] == []


def test_default_tokens_and_the_read_token_quirk(disco, ddfs):
    """ddfs_default_token_*: tag() sends DDFS_READ_TOKEN, put()/delete() the write token."""
    settings = DiscoSettings(DDFS_READ_TOKEN='rtok', DDFS_WRITE_TOKEN='wtok')
    tok = DDFS(disco.master, settings=settings)
    tok.tag(P + 'deftok', [['u']])
    tok.put(P + 'deftok2', [['u']])
    assert ddfs.getattr(P + 'deftok', 'ddfs:read-token', token='rtok') == 'rtok'
    assert ddfs.getattr(P + 'deftok2', 'ddfs:write-token', token='wtok') == 'wtok'
    assert tok.get(P + 'deftok')['urls'] == [['u']]
    with pytest.raises(CommError) as e:
        tok.delete(P + 'deftok')
    assert e.value.code == 401
    ddfs.delete(P + 'deftok', token='rtok')
    ddfs.delete(P + 'deftok2', token='wtok')
    # a name with '@' carries its own token
    ddfs.tag(P + 'user:pw@x', [['u']])
    assert ddfs.getattr(P + 'user:pw@x', 'ddfs:write-token') == 'user'
    assert ddfs.delete(P + 'user:pw@x') == 'deleted'


def test_walk_findtags_blobs(ddfs):
    """ddfs_walk / ddfs_findtags / ddfs_blobs of a graph with a missing link and a cycle."""
    _, (b1,) = ddfs.push(P + 'leaf', [(BytesIO(b'1'), 'one')])
    _, (b2,) = ddfs.push(P + 'root', [(BytesIO(b'2'), 'two')])
    ddfs.tag(P + 'root', [['tag://' + P + 'leaf'], ['tag://' + P + 'nosuch'],
                          ['tag://' + P + 'root']])
    walk = list(ddfs.walk(P + 'root'))
    assert walk[0] == (('tag://' + P + 'root',), ['tag://' + P + 'leaf', 'tag://' + P + 'nosuch',
                                                  'tag://' + P + 'root'], [b2])
    assert walk[1] == (('tag://' + P + 'root', 'tag:///' + P + 'leaf'), [], [b1])
    assert walk[2] == (('tag://' + P + 'root', 'tag:///' + P + 'nosuch'), (), ())
    found = list(ddfs.findtags([P + 'root']))
    assert [t for t, _, _ in found] == ['tag://' + P + 'root', 'tag:///' + P + 'leaf']
    assert list(ddfs.blobs(P + 'root')) == [b2, b1]
    with pytest.raises(CommError) as e:
        list(ddfs.blobs(P + 'root', ignore_missing=False))
    assert e.value.code == 404


def test_chunk_format(ddfs, tmp_path):
    """ddfs_chunk_layout.txt: one hunk of protocol-1 pickled lines, then an empty hunk."""
    path = tmp_path / 'lines.txt'
    path.write_bytes(b'alpha beta\ngamma\ndelta epsilon\n')
    _, [[url]] = ddfs.chunk(P + 'chunk', [str(path)])
    assert DDFS.blob_name(url) == 'lines_txt-0'
    (fd,) = ddfs.pull(P + 'chunk')
    data = fd.read()
    assert len(data) == 127
    head = struct.unpack('<BBIQ', data[:14])
    assert head[:2] == (0x81, 1)
    body = zlib.decompress(data[14:14 + head[3]])
    assert zlib.crc32(body) == head[2] and len(body) == 169
    assert data[14 + head[3]:] == struct.pack('<BBIQ', 0x81, 1, 0, 8) + zlib.compress(b'', 2)
    assert list(result_iterator(['tag://' + P + 'chunk'], ddfs=ddfs.master)) == \
        [b'alpha beta\n', b'gamma\n', b'delta epsilon\n']
    big = tmp_path / 'big.txt'
    big.write_bytes(b''.join(b'%06d %s\n' % (i, os.urandom(30).hex().encode())
                             for i in range(20000)))
    _, blobs = ddfs.chunk(P + 'big', [str(big)], chunk_size=100 * 1024)
    assert len(blobs) >= 2
    assert len(list(result_iterator(['tag://' + P + 'big'], ddfs=ddfs.master))) == 20000
    with pytest.raises(ValueError, match='larger than max_record_size'):
        ddfs.chunk(P + 'x', [str(big)], max_record_size=10)


def test_missing_api_is_a_clear_error(ddfs):
    with pytest.raises(AttributeError):
        ddfs.no_such_method  # plain Python: only real API names exist
    with pytest.raises(TypeError):
        ddfs.tag(P + 't', [], bogus=True)


def test_upload_targets_are_the_masters_own_port(disco, ddfs):
    """The put port's role: new_blob answers URLs on the port the request came to, so a
    client that PUTs where it is told (Disco's, whatever its DDFS_PUT_PORT) reaches us."""
    import json
    (target,) = json.loads(ddfs._request('GET', ddfs.master + '/ddfs/new_blob/x?').decode())
    assert target.startswith(ddfs.master + '/ddfs/x$')
    url = json.loads(ddfs._request('PUT', target, b'data').decode())
    assert url.startswith('disco://') and DDFS.blob_name(url) == 'x'
    assert ddfs.read_blob([url]) == b'data'
    with pytest.raises(CommError) as e:  # a name is written once
        ddfs._request('PUT', target, b'other')
    assert e.value.code == 500 and 'File exists' in str(e.value)


def test_a_blob_that_vanished_is_a_404(disco, ddfs):
    _, [[url]] = ddfs.push(P + 'gone', [(BytesIO(b'data'), 'gone')])
    from discolite.master import get_master
    master = get_master(disco.master)
    if master is not None:  # in process: remove the file itself
        os.unlink(master.ddfs.blob_file(url))
    else:  # over HTTP: a blob URL whose file never existed on that master
        url = url.replace('gone$', 'never$')
    with pytest.raises(CommError) as e:
        list(fd.read() for fd in ddfs.pull(P + 'gone')) if master else ddfs.read_blob([url])
    assert e.value.code == 404
