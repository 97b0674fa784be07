"""Hostile job names on every endpoint and CLI command that takes one: nothing outside the
named job is deleted or read, in process and through a real ``discolite master``.

Sentinel files are planted where each traversal would land (next to the data dir, in the
hash buckets a name like ``''`` maps to, at absolute paths) and a real job (the victim) is
run first; after every hostile call the sentinels and the victim must be intact and no
answer may contain a sentinel's secret.
"""
import hashlib
import json
import os
import subprocess
import sys
from urllib.parse import quote

import pytest

from discolite import Disco, Job, result_iterator
from discolite.error import CommError, DiscoError, JobError
from discolite.master import names
from discolite.task import hexhash

SECRET = b'SENTINEL-SECRET-7c1e'
HOSTILE = ['/srv/x', './././../../../x', '', '.', '..', '../..', '../../..', '../../../..',
           'x/../../..', '/', '//', 'a\0b', '\0', ' ', '\t', '\n', 'a b@1:2:3', ' x@1:2:3',
           '#', '?', '%', '#?%', 'a#b@1:2:3', 'q?x=1&name=y', '%2e%2e', '%2e%2e%2f%2e%2e',
           'caf\xe9@1:2:3', '\u2603', '..\\..\\x', 'x@1:2:3/../..', 'x@1:2:3\n',
           'NoSuchJob@0:0:0']


def oob_map(line, params):
    put('key', b'victim-oob')  # noqa: F821 (a global of job functions, as on Disco)
    yield line, 1


@pytest.fixture(params=['local', 'http'])
def setup(request, tmp_path):
    """``(disco, root, victim, plant)``: a fresh master (in process or over HTTP) on its own
    data dir ``root``, a finished victim job with OOB data, and the sentinel paths."""
    root = tmp_path / 'root'
    root.mkdir()
    if request.param == 'local':
        from discolite.master import Master
        master = Master(DISCOLITE_WORKERS=1, DISCOLITE_DATA=str(root))
        request.addfinalizer(master.close)
        url = master.url
    else:
        from tests.helpers import http_master
        ctx = http_master(root, workers=1)
        url = ctx.__enter__()
        request.addfinalizer(lambda: ctx.__exit__(None, None, None))
    disco = Disco(url)
    victim = Job(name='Victim', master=disco).run(input=['raw://a', 'raw://b'], map=oob_map)
    victim.wait(poll_interval=0.05)
    sentinels = []
    for hostile in HOSTILE + ['x']:
        if '\0' in hostile:
            continue
        for base in ('data/localhost', 'master', 'oob'):
            bucket = root / base / hexhash(hostile)
            for d in (bucket, bucket / hostile if hostile else bucket):
                sentinels.append(d / 'sentinel')
    sentinels += [tmp_path / 'x' / 'sentinel', root / 'x' / 'sentinel',
                  root / 'data' / 'x' / 'sentinel', root / 'data' / 'localhost' / 'sentinel',
                  root / 'sentinel', tmp_path / 'sentinel']
    absolute = tmp_path / 'srv' / 'x'
    sentinels.append(absolute / 'sentinel')
    base = os.path.realpath(str(tmp_path)) + os.sep
    planted = []
    for path in sentinels:  # never outside tmp_path (a name like '/srv/x' joins to itself)
        if not os.path.realpath(str(path)).startswith(base):
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(SECRET)
        except OSError:
            continue
        planted.append(path)
    return disco, root, victim, planted, str(absolute)


def _fingerprint(root, victim):
    """md5 of every file of the victim job (path -> digest)."""
    found = {}
    for d, _dirs, files in os.walk(str(root)):
        for f in files:
            path = os.path.join(d, f)
            if victim.name in path:
                with open(path, 'rb') as fh:
                    found[path] = hashlib.md5(fh.read()).hexdigest()
    return found


def _check_intact(disco, root, victim, sentinels, before):
    for path in sentinels:
        assert path.read_bytes() == SECRET, path
    assert _fingerprint(root, victim) == before
    assert disco.results(victim.name)[0] == 'ready'
    assert sorted(result_iterator(victim.wait(), ddfs=disco.master)) == [('a', 1), ('b', 1)]
    assert disco.oob_get(victim.name, 'key') == b'victim-oob'
    assert json.loads(disco.request('/disco/ctrl/dataflow?name=' + quote(victim.name)))


def _calls(disco, name):
    """Every client call that takes a job name, each returning what it read (or raising)."""
    return [
        lambda: disco.jobinfo(name), lambda: disco.rawevents(name),
        lambda: list(disco.events(name)), lambda: disco.jobpack(name),
        lambda: disco.stageresults(name, 'map'), lambda: disco.results(name, timeout=0),
        lambda: disco.results([name, 'x'], timeout=0), lambda: disco.oob_list(name),
        lambda: disco.oob_get(name, 'key'), lambda: disco.profile_stats(name),
        lambda: disco.wait(name, poll_interval=0, timeout=0),
        lambda: disco.kill(name), lambda: disco.clean(name), lambda: disco.purge(name)]


def _raw_requests(name):
    """The same endpoints with the name sent as raw as the transport allows."""
    q = quote(name, safe='')
    body = json.dumps(name).encode()
    yield 'GET', '/disco/ctrl/jobinfo?name=' + q, None
    yield 'GET', '/disco/ctrl/rawevents?name=' + q, None
    yield 'GET', '/disco/ctrl/jobevents?name=%s&num=5' % q, None
    yield 'GET', '/disco/ctrl/parameters?name=' + q, None
    yield 'GET', '/disco/ctrl/get_stageresults?name=%s&stage=map' % q, None
    yield 'GET', '/disco/ctrl/dataflow?name=' + q, None
    yield 'GET', '/disco/ctrl/dataflow?name=%s&task=0' % q, None
    yield 'GET', '/disco/ctrl/dataflow?name=%s&task=%s' % (q, q), None
    yield 'GET', '/ddfs/tag/disco:job:oob:' + q, None
    yield 'GET', '/ddfs/oob/%s/%s/key' % (hexhash(name), q), None
    yield 'GET', '/disco/localhost/%s/%s/jobfile' % (hexhash(name), q), None
    yield 'POST', '/disco/ctrl/get_results', json.dumps([0, [name]]).encode()
    for op in ('kill_job', 'clean_job', 'purge_job'):
        yield 'POST', '/disco/ctrl/' + op, body


def test_hostile_names_on_every_endpoint(setup):
    disco, root, victim, sentinels, absolute = setup
    before = _fingerprint(root, victim)
    assert before
    for name in HOSTILE + [absolute, absolute + '/..', str(root), str(root / 'data')]:
        for call in _calls(disco, name):
            try:
                value = call()
            except (CommError, DiscoError, JobError) as e:
                value = str(e)
                if isinstance(e, CommError):
                    assert e.code is None or 400 <= e.code < 500, (name, e)
            assert SECRET.decode() not in repr(value), name
        for method, url, body in _raw_requests(name):
            try:
                data = disco.request(url, body, as_bytes=True)
            except CommError as e:
                assert 400 <= e.code < 500, (name, url, e)
                data = e.msg.encode()
            assert SECRET not in data, (name, url)
        for op in ('kill_job', 'clean_job', 'purge_job'):  # as on Disco: 200 and ""
            assert disco.request('/disco/ctrl/' + op, json.dumps(name)) == '""'
        _check_intact(disco, root, victim, sentinels, before)
    assert [n for _t, _s, n in disco.joblist()] == [victim.name]


def test_cli_refuses_hostile_names(setup):
    disco, root, victim, sentinels, absolute = setup
    if not disco.master.startswith('http'):
        pytest.skip('the CLI talks to a master over HTTP')
    before = _fingerprint(root, victim)
    env = {k: v for k, v in os.environ.items() if k != 'DISCO_MASTER'}
    commands = [['purge', '--force'], ['clean', '--force'], ['kill', '--force'], ['jobinfo'],
                ['events'], ['results'], ['jobdict'], ['oob', 'list'], ['pstats']]
    cases = [(name, ['purge', '--force']) for name in
             ('./././../../../x', '', '..', ' ', '#?%', 'caf\xe9@1:2:3', str(root))] + \
        [(name, cmd) for name in (absolute, '../../..') for cmd in commands]
    for name, cmd in cases:  # a subprocess each: a fair sample, not every pair
        proc = subprocess.run([sys.executable, '-m', 'discolite', '-M', disco.master] + cmd
                              + [name], capture_output=True, text=True, env=env, timeout=60)
        assert proc.returncode != 0 and 'not a job name' in proc.stderr, (cmd, name, proc)
        assert SECRET.decode() not in proc.stdout + proc.stderr
    _check_intact(disco, root, victim, sentinels, before)


def test_clean_then_purge_deletes_the_cleaned_job_only(setup):
    disco, root, victim, sentinels, absolute = setup
    other = Job(name='Other', master=disco).run(input=['raw://c'], map=oob_map)
    other.wait(poll_interval=0.05)
    files = _fingerprint(root, other)
    assert files
    disco.clean(other.name)
    assert _fingerprint(root, other) == {p: d for p, d in files.items()
                                         if os.sep + 'master' + os.sep not in p}
    disco.purge(other.name)  # data of a job clean dropped goes on purge; its DDFS data
    # (the OOB tag) stays, as on Disco (docs/differences.md)
    ddfs = os.sep + 'ddfs' + os.sep
    assert {p for p in _fingerprint(root, other) if ddfs not in p} == set()
    _check_intact(disco, root, victim, sentinels, _fingerprint(root, victim))


REFUSED_PREFIXES = [  # (prefix, what the error says after "Job failed to start: ")
    ('a/b', '"invalid prefix"'), ('a.b', '"invalid prefix"'), ('..', '"invalid prefix"'),
    ('/srv/x', '"invalid prefix"'),  # exactly Disco's answer for these
    ('x' * 201, '"invalid prefix: longer than 200 bytes"')] + [
    (p, 'A-Z a-z 0-9 _ - @ :') for p in ('with space', 'tab\there', 'a#b', 'a?b', 'a%41',
                                          'caf\xe9', 'nul\0', 'new\nline', '\u2603')]


def test_prefixes_refused_at_submission(setup):
    disco, root, victim, sentinels, absolute = setup
    for prefix, says in REFUSED_PREFIXES:
        with pytest.raises(DiscoError) as e:
            Job(name=prefix, master=disco).run(input=['raw://a'], map=oob_map)
        message = str(e.value)
        assert message.startswith('Failed to submit jobpack: Job failed to start: "invalid '
                                  'prefix') and says in message, (prefix, message)
    assert [n for _t, _s, n in disco.joblist()] == [victim.name]


def test_prefixes_that_work_end_to_end(setup):
    disco, root, victim, sentinels, absolute = setup
    for prefix in ('', 'A-b_c', 'x@y:z', 'UPPER09'):
        job = Job(name=prefix, master=disco).run(input=['raw://a'], map=oob_map) if prefix \
            else Job(master=disco).run(input=['raw://a'], map=oob_map)
        assert sorted(result_iterator(job.wait(poll_interval=0.05), ddfs=disco.master)) == \
            [('a', 1)]
        assert disco.oob_get(job.name, 'key') == b'victim-oob'
        disco.purge(job.name)


def test_name_rules():
    assert names.check_prefix('Word_Count-1') == 'Word_Count-1'
    for good in ('WordCount@703:6de16:8392e', '@1:2:3', 'a@b@1:2:3'):
        assert names.is_jobname(good) and isinstance(names.jobname(good), names.JobName)
    for bad in HOSTILE[:-1] + [None, 5, b'x@1:2:3', 'x@1:2', 'x@1:2:g', 'x@1:2:3:4']:
        assert not names.is_jobname(bad) and names.lookup(bad) is None
        with pytest.raises(names.InvalidName):
            names.jobname(bad)


def test_storage_refuses_free_strings_and_escapes(tmp_path):
    from discolite.master.storage import Storage, UnsafePath
    storage = Storage(str(tmp_path / 'root'), 'localhost')
    for bad in ('', '..', '/srv/x', './././../../../x'):
        with pytest.raises(names.InvalidName):
            storage.jobhome(bad)
    with pytest.raises(TypeError):  # deleting takes a job record or a JobName
        storage.remove_job('Job@1:2:3')
    # a job directory that is a symbolic link out of the data dir is never followed
    name = names.jobname('Job@1:2:3')
    outside = tmp_path / 'outside'
    outside.mkdir()
    (outside / 'keep').write_bytes(SECRET)
    link = tmp_path / 'root' / 'data' / 'localhost' / hexhash(name) / name
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    with pytest.raises(UnsafePath):
        storage.remove_job(name)
    assert (outside / 'keep').read_bytes() == SECRET
