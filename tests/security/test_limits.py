"""Limits (issue 12 item 3): a zip bomb job home is refused, naming the limit and setting."""
import io
import os
import zipfile

import pytest

from discolite import Disco, Job
from discolite.error import DiscoError
from discolite.job import JobPack


def good_map(entry, params):
    yield entry, 1


def bomb(size, name='lib/bomb.bin'):
    """A zip holding ``size`` zero bytes (a few hundred KB per 100 MB)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w', zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, 'w', force_zip64=True) as f:
            block = b'\0' * (1 << 20)
            for _ in range(size >> 20):
                f.write(block)
    return buf.getvalue()


def _pack(disco, home):
    pack = Job(master=disco).pack(input=['raw://x'], map=good_map)
    return JobPack(1, pack.jobdict, pack.jobenvs, home, pack.jobdata).dumps()


def _job_dirs(root):
    return [d for d, _dirs, _files in os.walk(os.path.join(str(root), 'data'))
            if '@' in os.path.basename(d)]


def test_zip_bomb_refused_with_the_default_limit_over_http(tmp_path):
    from tests.helpers import http_master
    data = bomb(600 << 20)
    assert len(data) < 2 << 20  # 600 MB in under 2 MB
    with http_master(tmp_path / 'root', workers=1) as url:
        disco = Disco(url)
        with pytest.raises(DiscoError) as e:
            disco.submit(_pack(disco, data))
        assert 'the job home unpacks to more than 512 MiB (setting ' \
               'DISCOLITE_MAX_JOBHOME=536870912)' in str(e.value)
        assert disco.joblist() == []
        assert _job_dirs(tmp_path / 'root') == []
        job = Job(master=disco).run(input=['raw://ok'], map=good_map)  # still healthy
        assert job.wait(poll_interval=0.05)


def test_jobhome_limit_is_a_setting_and_counts_unpacked_bytes(tmp_path):
    from discolite.master import Master
    with Master(DISCOLITE_WORKERS=1, DISCOLITE_DATA=str(tmp_path / 'root'),
                DISCOLITE_MAX_JOBHOME=str(4 << 20)) as master:
        disco = Disco(master.url)
        with pytest.raises(DiscoError) as e:
            disco.submit(_pack(disco, bomb(5 << 20)))
        assert 'more than 4 MiB (setting DISCOLITE_MAX_JOBHOME=4194304)' in str(e.value)
        assert _job_dirs(tmp_path / 'root') == []
        # many small files add up too
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, 'w', zipfile.ZIP_DEFLATED) as z:
            for i in range(5):
                z.writestr('lib/f%d' % i, b'\0' * (1 << 20))
        with pytest.raises(DiscoError, match='DISCOLITE_MAX_JOBHOME'):
            disco.submit(_pack(disco, buf.getvalue()))
        name = disco.submit(_pack(disco, bomb(3 << 20)))  # under the limit: runs
        assert Job(name=name, master=disco).wait(poll_interval=0.05)
    with Master(DISCOLITE_WORKERS=1, DISCOLITE_MAX_JOBHOME='0') as master:  # 0: no limit
        disco = Disco(master.url)
        name = disco.submit(_pack(disco, bomb(5 << 20)))
        assert Job(name=name, master=disco).wait(poll_interval=0.05)
    with pytest.raises(DiscoError, match='DISCOLITE_MAX_JOBHOME'):
        Master(DISCOLITE_MAX_JOBHOME='lots')
