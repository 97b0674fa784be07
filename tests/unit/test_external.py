"""External map/reduce programs (disco.util.external, classic.external) and netstrings."""
import io
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from discolite import Job, result_iterator
from discolite.error import JobError
from discolite.util import external
from discolite.worker.classic import netstring
from discolite.worker.classic.external import pack_kv, package

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# shared/ is a sibling of the clone (CI) or of the worktrees' directory
DISCO_TREE = next((p for p in (os.path.join(base, 'shared', 'disco-suite', 'disco-0.5.4')
                               for base in (os.path.dirname(ROOT),
                                            os.path.dirname(os.path.dirname(ROOT))))
                   if os.path.isdir(p)), '')

# A Python program speaking the external protocol, as ext/disco.c does.
PROGRAM = textwrap.dedent('''\
    #!%s
    import struct, sys
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    def params():
        n = int(inp.readline())
        block = inp.read(n)
        d = {}
        while block:
            items = []
            for _ in range(2):
                size, _, block = block.partition(b' ')
                items.append(block[:int(size)])
                block = block[int(size) + 1:]
            d[items[0]] = items[1]
        return d
    def read_kv():
        head = inp.read(4)
        if not head:
            return None
        k = inp.read(struct.unpack('I', head)[0])
        v = inp.read(struct.unpack('I', inp.read(4))[0])
        return k, v
    def write(pairs):
        out.write(struct.pack('i', len(pairs)))
        for k, v in pairs:
            out.write(struct.pack('I', len(k)) + k + struct.pack('I', len(v)) + v)
        out.flush()
    p = params()
    sys.stderr.write('**<MSG>params %%s\\n' %% sorted(p.items()))
    sys.stderr.flush()
    if sys.argv[1] == 'map':
        while True:
            kv = read_kv()
            if kv is None:
                break
            if kv[1].strip() == b'die':
                sys.stderr.write('**<ERR>cannot map die\\n')
                sys.exit(1)
            write([(p[b'prefix'] + kv[1].strip(), kv[1].upper())] * 2)
    else:
        total = 0
        while True:
            kv = read_kv()
            if kv is None:
                break
            total += len(kv[1])
            sys.stderr.write('noise %%d\\n' %% total)
        write([(b'total', str(total).encode())])
''' % sys.executable)


@pytest.fixture
def program(tmp_path):
    path = tmp_path / 'prog.py'
    path.write_text(PROGRAM)
    (tmp_path / 'data.txt').write_bytes(b'extra')
    return [str(path), str(tmp_path / 'data.txt')]


def test_netstring_round_trip():
    d = {'test1': '1,2,3', 'one two three': 'dim\ndam\n', 'é': b'\x00'}
    block = netstring.encode_netstring_fd(d)
    assert block.startswith(b'%d\n' % (len(block) - len(block.split(b'\n', 1)[0]) - 1))
    back = netstring.decode_netstring_fd(io.BytesIO(block))
    assert back == {k.encode('utf-8'): v if isinstance(v, bytes) else v.encode() for k, v in d.items()}
    assert netstring.decode_netstring_str(b'1 a 2 bc\n') == [(b'a', b'bc')]
    with pytest.raises(netstring.NetStringError):
        netstring.decode_netstring_str(b'9 a 2 bc\n')
    with pytest.raises(EOFError):
        netstring.decode_netstring_fd(io.BytesIO(b''))


def test_pack_kv_and_package(program):
    assert pack_kv((b'k', 'v')) == b'\x01\x00\x00\x00k\x01\x00\x00\x00v'
    assert pack_kv(b'line') == b'\x00\x00\x00\x00' + b'\x04\x00\x00\x00line'
    files = external(program)
    assert sorted(files) == ['data.txt', 'op']
    assert files['data.txt'] == b'extra' and files['op'].startswith(b'#!')
    assert package(program) == files


def test_external_map_and_reduce_in_a_job(disco, program):
    job = Job(master=disco).run(input=['raw://ab', 'raw://cde'], map=external(program),
                                ext_params={'prefix': 'p-'}, reduce=external(program))
    assert list(result_iterator(job.wait())) == [(b'total', b'10')]
    events = disco.rawevents(job.name)
    assert "params [(b'prefix', b'p-')]" in events
    job = Job(master=disco).run(input=['raw://ab'], map=external(program),
                                ext_params={'prefix': 'x'})
    assert sorted(result_iterator(job.wait())) == [(b'xab', b'AB')] * 2


def test_external_error_fails_the_task(disco, program):
    job = Job(master=disco).run(input=['raw://die'], map=external(program),
                                ext_params={'prefix': 'p'})
    with pytest.raises(JobError):
        job.wait()
    assert 'cannot map die' in disco.rawevents(job.name)


@pytest.mark.skipif(shutil.which('gcc') is None or not DISCO_TREE,
                    reason='needs gcc and the Disco suite tree (ext/disco.c)')
def test_disco_c_client(disco, tmp_path):
    """The reference C client of Disco (ext/disco.c, needs Debian's libjudy-dev)."""
    binary = str(tmp_path / 'test_external')
    try:
        subprocess.check_call(['gcc', '-O2', '-Wall', '-I', os.path.join(DISCO_TREE, 'ext'),
                               '-o', binary, os.path.join(DISCO_TREE, 'ext', 'disco.c'),
                               os.path.join(DISCO_TREE, 'tests', 'test_external.c'), '-l', 'Judy'],
                              stderr=subprocess.STDOUT)
    except subprocess.CalledProcessError:
        pytest.skip('the C client does not build here (libjudy-dev missing?)')
    params = {"test1": "1,2,3", "one two three": "dim\ndam\n", "dummy": "value"}
    job = Job(master=disco).run(input=['raw://ape', 'raw://cat'], map=external([binary]),
                                ext_params=params, reduce=None)
    assert sorted(result_iterator(job.wait())) == \
        [(b'dkey', b'ape')] * 3 + [(b'dkey', b'cat')] * 3
