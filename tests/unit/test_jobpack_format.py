"""JobPack.header / dumps / load / offsets behave as Disco's (DISCO-SPEC 1.3), byte for byte."""
import io
import json
import struct

import pytest

from discolite.job import JobPack

# The first 20 bytes of the job pack a real Disco 0.5.4 client sent (parameters_first256.hex):
# magic + version 1, then the jobdict, jobenvs, jobhome and jobdata offsets.
CAPTURED_HEADER = bytes.fromhex('d5c00001' '00000080' '000001b0' '000002c7' '00017419')


def test_header_matches_a_real_disco_pack():
    head = JobPack.header([0x80, 0x1b0, 0x2c7, 0x17419])
    assert head == CAPTURED_HEADER + b'\0' * 108
    assert len(head) == JobPack.HEADER_SIZE == 128
    assert JobPack.header([128, 128, 128, 128], version=2)[:4] == b'\xd5\xc0\x00\x02'
    assert (JobPack.MAGIC, JobPack.MAGIC_MASK, JobPack.VERSION, JobPack.HEADER_FORMAT) == \
        (0xd5c00000, 0xffff0000, 1, '!IIIII')


def test_dumps_layout_and_lazy_load():
    jobdict = {'prefix': 'WordCount', 'save_results': False, 'input': ['raw://h\u00e9']}
    jobenvs = {'PYTHONPATH': 'lib'}
    pack = JobPack(1, jobdict, jobenvs, b'PK\x05\x06' + b'\0' * 18, b'\x80\x04data')
    data = pack.dumps()
    d = json.dumps(jobdict).encode()  # Python's default separators, ensure_ascii
    e = json.dumps(jobenvs).encode()
    assert b'"prefix": "WordCount", ' in d and b'\\u00e9' in d
    offsets = [128, 128 + len(d), 128 + len(d) + len(e), 128 + len(d) + len(e) + 22]
    assert data == JobPack.header(offsets) + d + e + pack.jobhome + pack.jobdata
    assert list(pack.contents()) == list(zip(offsets, [d, e, pack.jobhome, pack.jobdata]))

    f = io.BytesIO(data)
    loaded = JobPack.load(f)
    assert JobPack.offsets(f) == offsets
    assert loaded.jobdict == jobdict and loaded.jobenvs == jobenvs
    assert loaded.jobhome == pack.jobhome and loaded.jobdata == pack.jobdata
    assert not hasattr(loaded, 'version')  # Disco's quirk: a PackedJobPack cannot be dumped
    with pytest.raises(AttributeError):
        loaded.dumps()


@pytest.mark.parametrize('words, message', [
    ((0x12340001, 128, 130, 140, 150), 'Invalid jobpack magic.'),
    ((0xd5c00001, 64, 130, 140, 150), 'Invalid jobpack header.'),
    ((0xd5c00001, 128, 150, 140, 160), 'Invalid jobpack offsets.'),
])
def test_offsets_asserts_as_disco(words, message):
    f = io.BytesIO(struct.pack('!IIIII', *words) + b'\0' * 200)
    with pytest.raises(AssertionError) as e:
        JobPack.offsets(f)
    assert str(e.value).splitlines()[0] == message  # (pytest may append its own lines)
    with pytest.raises(AssertionError):
        JobPack.load(f).jobdict
