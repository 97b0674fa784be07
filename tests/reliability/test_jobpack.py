"""Item 6, job packs: every malformed field is refused with Disco's message (spec 8.2).

Each pack goes through both doors: ``POST /disco/job/new`` (the raw reply) and
``Disco.submit`` (``DiscoError("Failed to submit jobpack: ...")``).  A refused
pack leaves nothing behind: no job in the registry, no directory on disk.
"""
import io
import json
import os
import struct
import uuid
import zipfile

import pytest

from discolite.error import DiscoError
from discolite.job import Job, JobPack


def good_map(entry, params):
    yield entry, 1


@pytest.fixture(scope='module')
def pack(master):
    from discolite import Disco
    return Job(master=Disco(master.url)).pack(input=['raw://x'], map=good_map)


def with_dict(pack, **changes):
    jobdict = dict(pack.jobdict)
    for key, value in changes.items():
        if value is DROP:
            jobdict.pop(key, None)
        else:
            jobdict[key] = value
    return JobPack(pack.version, jobdict, pack.jobenvs, pack.jobhome, pack.jobdata).dumps()


DROP = object()


def raw_pack(fields, magic=0xd5c00001, offsets=None):
    offs, pos = [], 128
    for f in fields:
        offs.append(pos)
        pos += len(f)
    head = struct.pack('!IIIII', magic, *(offsets or offs))
    return head + b'\0' * (128 - len(head)) + b''.join(fields)


def fields_of(pack):
    return [json.dumps(pack.jobdict).encode(), json.dumps(pack.jobenvs).encode(),
            pack.jobhome, pack.jobdata]


def refused(disco, master, data, reason):
    """Both doors refuse ``data`` with ``reason``; nothing is left on the master."""
    before = set(master.scheduler.jobs)
    homes = _job_dirs(master)
    reply = json.loads(disco.request('/disco/job/new', data))
    assert reply[0] == 'error', reply
    assert reply[1].startswith('Job failed to start: "'), reply
    assert reason in reply[1], reply
    with pytest.raises(DiscoError) as exc:
        disco.submit(data)
    assert str(exc.value).startswith('Failed to submit jobpack: Job failed to start: ')
    assert reason in str(exc.value)
    assert set(master.scheduler.jobs) == before
    assert _job_dirs(master) == homes
    return reply[1]


def _job_dirs(master):
    found = set()
    for root in (master.storage.disco_data, master.storage.master_root):
        for d, dirs, files in os.walk(root):
            found.update(os.path.join(d, x) for x in dirs + files)
    return found


def test_a_good_pack_is_accepted(disco, pack):
    reply = json.loads(disco.request('/disco/job/new', pack.dumps()))
    assert reply[0] == 'ok'
    disco.kill(reply[1])
    disco.purge(reply[1])


@pytest.mark.parametrize('mangle', [
    lambda d: b'\x00\x00' + d[2:],                                   # bad magic
    lambda d: b'PK' + d[2:],                                         # a zip, not a pack
    lambda d: d[:100],                                               # shorter than a header
    lambda d: d[:len(d) // 2],                                       # truncated
    lambda d: d[:4] + struct.pack('!I', 64) + d[8:],                 # dict offset != 128
    lambda d: d[:8] + struct.pack('!I', 100) + d[12:],               # envs before dict
    lambda d: d[:12] + d[8:12] + struct.pack('!I', 130) + d[16:],    # home before envs
    lambda d: d[:16] + struct.pack('!I', len(d) + 1) + d[20:],       # data past the end
    lambda d: d[:16] + struct.pack('!I', 0xffffffff) + d[20:],       # out of range
    lambda d: b'',                                                   # empty body
], ids=['magic', 'zip', 'short', 'truncated', 'dict-offset', 'envs-before-dict',
        'home-before-envs', 'data-past-end', 'data-out-of-range', 'empty'])
def test_invalid_header(disco, master, pack, mangle):
    refused(disco, master, mangle(pack.dumps()), 'invalid header')


@pytest.mark.parametrize('version', [0, 3, 7, 0xffff])
def test_unsupported_version(disco, master, pack, version):
    data = raw_pack(fields_of(pack), magic=0xd5c00000 + version)
    refused(disco, master, data, "unsupported version '%d'" % version)


@pytest.mark.parametrize('jobdict, reason', [
    (b'{not json', 'invalid payload: jobdict is not JSON'),
    (b'\xff\xfe', 'invalid payload: jobdict is not JSON'),
    (b'["a", "list"]', 'invalid payload: jobdict is not a JSON object'),
    (b'{}', "jobpack missing key 'prefix'"),
])
def test_jobdict_not_a_json_object(disco, master, pack, jobdict, reason):
    refused(disco, master, raw_pack([jobdict] + fields_of(pack)[1:]), reason)


def test_jobenvs_not_json(disco, master, pack):
    fields = fields_of(pack)
    refused(disco, master, raw_pack([fields[0], b'{oops'] + fields[2:]),
            'invalid payload: jobenvs is not JSON')
    refused(disco, master, raw_pack([fields[0], b'{"A": 1}'] + fields[2:]),
            'invalid payload: jobenvs must be an object of strings')


@pytest.mark.parametrize('key', ['prefix', 'worker', 'owner', 'input', 'nr_reduces',
                                 'scheduler'])
def test_missing_key(disco, master, pack, key):
    refused(disco, master, with_dict(pack, **{key: DROP}), "jobpack missing key '%s'" % key)


@pytest.mark.parametrize('prefix', ['a/b', 'a.b', '../up', 42, None, ['x'], 'x' * 300, 'nul\0'])
def test_invalid_prefix(disco, master, pack, prefix):
    refused(disco, master, with_dict(pack, prefix=prefix), 'invalid prefix')


def test_empty_prefix_is_accepted(disco, pack):
    reply = json.loads(disco.request('/disco/job/new', with_dict(pack, prefix='')))
    assert reply[0] == 'ok' and reply[1].startswith('@')
    disco.kill(reply[1])
    disco.purge(reply[1])


@pytest.mark.parametrize('value', ['yes', 1, None, [], {}])
def test_invalid_save_results(disco, master, pack, value):
    refused(disco, master, with_dict(pack, save_results=value), 'invalid_job_save_results')


@pytest.mark.parametrize('value', ['', 'dd', 'disk', 'nfs://x', 5, None])
def test_invalid_save_info(disco, master, pack, value):
    refused(disco, master, with_dict(pack, save_info=value), 'invalid_job_save_info')


@pytest.mark.parametrize('value', ['raw://x', None, 5, {'a': 1}, [5], [[]], [['raw://x', 5]],
                                   [None]])
def test_invalid_input_list(disco, master, pack, value):
    refused(disco, master, with_dict(pack, input=value), 'invalid_job_inputs')


@pytest.mark.parametrize('value, reason', [
    ('fair', 'scheduler must be an object'),
    ([], 'scheduler must be an object'),
    ({'max_cores': 0}, 'max_cores must be a positive integer'),
    ({'max_cores': 'many'}, 'max_cores must be a positive integer'),
    ({'max_cores': True}, 'max_cores must be a positive integer'),
    ({'force_local': 'yes'}, "force_local"),
    ({'force_remote': 1}, "force_remote"),
])
def test_invalid_scheduler(disco, master, pack, value, reason):
    refused(disco, master, with_dict(pack, scheduler=value), reason)


@pytest.mark.parametrize('changes, reason', [
    ({'worker': ''}, 'worker'),
    ({'worker': 5}, 'worker'),
    ({'owner': 5}, 'owner'),
    ({'nr_reduces': 0}, 'nr_reduces'),
    ({'nr_reduces': '2'}, 'nr_reduces'),
    ({'map?': 'yes'}, 'map?'),
    ({'worker': 'no/such/worker.py'}, 'invalid worker'),
    ({'worker': '../../../../bin/sh'}, 'invalid worker'),
    ({'worker': '/bin/sh'}, 'invalid worker'),
])
def test_other_bad_fields(disco, master, pack, changes, reason):
    refused(disco, master, with_dict(pack, **changes), reason)


# -- job home zips


def zip_with(entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as z:
        for name, data in entries:
            if isinstance(name, zipfile.ZipInfo):
                z.writestr(name, data)
            else:
                z.writestr(zipfile.ZipInfo(name), data)
    return buf.getvalue()


def symlink_entry(name, target):
    info = zipfile.ZipInfo(name)
    info.external_attr = (0o120777 << 16)
    return info, target


@pytest.mark.parametrize('entries', [
    lambda tag: [('ok.txt', b'fine'), ('../' + tag, b'evil')],
    lambda tag: [('a/../../' + tag, b'evil')],
    lambda tag: [('../../../../../../../../../../tmp/' + tag, b'evil')],
    lambda tag: [('/tmp/' + tag, b'evil')],
    lambda tag: [('ok.txt', b'fine'), ('\\..\\' + tag, b'evil')],
    lambda tag: [('C:' + tag, b'evil')],
    lambda tag: [symlink_entry('link', '/tmp'), ('link/' + tag, b'evil')],
], ids=['dotdot', 'inner-dotdot', 'deep-dotdot', 'absolute', 'backslash', 'drive', 'symlink'])
def test_jobhome_entries_escaping_the_job_dir_are_refused(disco, master, pack, entries):
    tag = 'discolite-evil-%s' % uuid.uuid4().hex
    data = JobPack(1, pack.jobdict, pack.jobenvs, zip_with(entries(tag)), pack.jobdata).dumps()
    text = refused(disco, master, data, 'invalid jobhome')
    assert 'escapes the job directory' in text or 'symbolic link' in text
    for root in (master.storage.root, '/tmp', os.path.dirname(master.storage.root)):
        for d, _dirs, files in os.walk(root):
            assert tag not in files and tag not in os.path.basename(d)


def test_jobhome_that_is_not_a_zip(disco, master, pack):
    data = JobPack(1, pack.jobdict, pack.jobenvs, b'not a zip at all', pack.jobdata).dumps()
    refused(disco, master, data, 'jobhome is not a valid zip file')
