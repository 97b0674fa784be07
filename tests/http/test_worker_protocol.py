"""Disco's worker protocol (spec section 9) with a worker that does not import discolite.

The worker (tests/http/foreign_worker.py) is put in a job home zip by hand and the
pack is built with ``JobPack`` directly; the master runs it as an executable and
serves WORKER, TASK, INPUT (exclude/include), INPUT_ERR (RETRY/FAIL), MSG, OUTPUT,
PING, DONE, ERROR and FATAL on its stderr/stdin.
"""
import glob
import os
import pytest

from discolite import Disco
from discolite.master import Master
from discolite.master.external import ExternalRunner, FrameReader, ProtocolError
from tests.http.common import events_text, foreign_pack, pid_alive, wait_dead, wait_status

INPUTS = ['raw://one', ['raw://bad-replica', 'raw://two'], 'raw://three']


@pytest.fixture(scope='module')
def master():
    m = Master(DISCOLITE_WORKERS=2, DISCOLITE_MAX_FAILURES=2, DISCOLITE_RETRY_DELAY=0.01)
    try:
        yield m
    finally:
        m.close()


@pytest.fixture
def disco(master):
    return Disco(master.url)


def run(disco, mode, inputs=INPUTS, **kw):
    name = disco.submit(foreign_pack(inputs, mode, **kw))
    status, results = wait_status(disco, name)
    return name, status, results


def shuffle_lines(master, results):
    """The records of a map-only job: the lines of the map_shuffle outputs (read as files)."""
    from discolite import util
    lines = []
    for (index,) in results:
        for _label, url, _size in util.read_index(index):
            path = util.local_path(url)
            with open(path) as f:
                lines.extend(f.read().splitlines())
    return sorted(lines)


def jobhome(master, name):
    return master.storage.jobhome(name)


def test_full_session_every_message_type(master, disco):
    name, status, results = run(disco, 'ok')
    events = events_text(disco, name)
    assert status == 'ready', events
    # map wrote each input's first usable replica, map_shuffle concatenated them
    assert shuffle_lines(master, results) == ['raw://bad-replica', 'raw://one', 'raw://three']
    for n in range(3):
        assert 'MSG: [map:%d] foreign map-%d wrote 1 lines' % (n, n) in events
        assert 'DONE: [map:%d] Task finished in' % n in events
    assert 'MSG: [map_shuffle:3] foreign map_shuffle-3 wrote 3 lines' in events
    assert 'FATAL' not in events and 'WARNING' not in events
    # stage results are index files listing the OUTPUT paths, relative to the job home
    maps = disco.stageresults(name, 'map')
    assert len(maps) == 3 and all(r[0].startswith('dir://localhost/disco/localhost/') for r in maps)
    info = disco.jobinfo(name)
    assert info['worker'] == 'bin/worker.py'
    assert [s[0] for s in info['pipeline']] == ['map', 'map_shuffle']
    # every worker process is gone (DONE gets no reply: the master kills the worker)
    pids = [int(p.rsplit('-', 1)[1]) for p in glob.glob(os.path.join(jobhome(master, name),
                                                                     'pids-*'))]
    assert len(pids) == 4
    assert wait_dead(pids) == []


def test_error_is_retried_then_the_job_completes(disco, master):
    name, status, results = run(disco, 'error_once')
    events = events_text(disco, name)
    assert status == 'ready', events
    assert 'WARNING: [map:0] a recoverable problem on the first attempt' in events
    assert 'Task map:0 failed on "localhost", 1th failures so far' in events
    assert len(shuffle_lines(master, results)) == 3


def test_worker_dying_mid_task_is_retried(disco, master):
    name, status, results = run(disco, 'die_once')
    events = events_text(disco, name)
    assert status == 'ready', events
    assert 'WARNING: [map:0] Worker crashed! (exit code: 3)' in events
    assert len(shuffle_lines(master, results)) == 3


def test_worker_dying_every_time_kills_the_job_after_max_failures(disco):
    name, status, _ = run(disco, 'die_always', inputs=['raw://x'])
    events = events_text(disco, name)
    assert status == 'dead'
    assert events.count('Worker crashed! (exit code: 3)') == 3
    assert 'ERROR: [map:0] Task map:0 failed 3 times. At most 2 failures are allowed.' in events


def test_garbage_on_stderr_is_a_recoverable_failure(disco, master):
    name, status, results = run(disco, 'garbage_once')
    events = events_text(disco, name)
    assert status == 'ready', events
    assert 'WARNING: [map:0] Worker crashed! (protocol error: invalid message type' in events
    assert len(shuffle_lines(master, results)) == 3


def test_fatal_kills_the_job(disco):
    name, status, _ = run(disco, 'fatal', inputs=['raw://x'])
    events = events_text(disco, name)
    assert status == 'dead'
    assert 'FATAL: [map:0] foreign worker gives up' in events
    assert 'WARN: Job killed' in events


def test_absolute_output_path_is_rejected(disco):
    name, status, _ = run(disco, 'absolute_output', inputs=['raw://x'])
    events = events_text(disco, name)
    assert status == 'dead'
    assert "FATAL: [map:0] invalid_output: output path '/etc/passwd' is absolute" in events


def test_msg_flood_is_throttled(disco):
    name, status, _ = run(disco, 'flood', inputs=['raw://x'])
    events = events_text(disco, name)
    assert status == 'dead'
    assert 'Worker is behaving badly' in events
    assert events.count('MSG: [map:0] flood') < 12


def test_unsupported_protocol_version_is_fatal(disco):
    name, status, _ = run(disco, 'ok', inputs=['raw://x'], extra_envs={'FOREIGN_VERSION': '1.0'})
    assert status == 'dead'
    assert 'Worker protocol version "1.0" is not supported' in events_text(disco, name)


def test_silent_worker_times_out(disco, tmp_path, monkeypatch):
    monkeypatch.setattr(ExternalRunner, 'HELLO_TIMEOUT', 0.5)
    silent = tmp_path / 'silent_worker.py'
    silent.write_text('#!/usr/bin/env python3\nimport time\ntime.sleep(30)\n')
    name = disco.submit(foreign_pack(['raw://x'], 'ok', worker=str(silent)))
    status, _ = wait_status(disco, name)
    events = events_text(disco, name)
    assert status == 'dead'
    assert 'Worker crashed! (protocol error: no message from the worker in 0.5s' in events


def test_kill_stops_the_worker_process_group(disco, master):
    name = disco.submit(foreign_pack(['raw://x'], 'hang'))
    home = jobhome(master, name)
    children = []
    for _ in range(200):
        children = glob.glob(os.path.join(home, 'child-*'))
        if children:
            break
        import time
        time.sleep(0.05)
    assert children, events_text(disco, name)
    pids = [int(p.rsplit('-', 1)[1]) for p in glob.glob(os.path.join(home, 'pids-*'))]
    child = int(children[0].rsplit('-', 1)[1])
    assert pid_alive(child) and all(pid_alive(p) for p in pids)
    disco.kill(name)
    assert disco.results(name, timeout=0)[0] == 'dead'
    assert wait_dead(pids + [child]) == []  # the worker *and* its child: the whole group
    assert master.external.running() == []


def test_hostile_worker_path_is_refused(disco):
    from discolite.error import DiscoError
    from discolite.job import JobPack
    from tests.http.common import zip_bytes
    jobdict = {'prefix': 'Hostile', 'worker': '../../../../bin/sh', 'owner': 'x', 'input': [],
               'nr_reduces': 1, 'map?': True, 'reduce?': False, 'scheduler': {}}
    pack = JobPack(1, jobdict, {}, zip_bytes({'bin/worker.py': b'#!/bin/sh\n'}), b'').dumps()
    with pytest.raises(DiscoError, match='invalid worker'):
        disco.submit(pack)


def test_frame_reader_rejects_garbled_frames():
    cases = [(b'NOTATYPEATALL 2 ""\n', 'invalid message type'),
             (b'MSG x2 ""\n', 'invalid message length'),
             (b'MSG 2 ""x\n', 'not terminated by a newline'),
             (b'MSG 4 "ab\n', None),  # incomplete, then EOF
             (b'MSG 2 {]\n', 'invalid JSON payload'),
             (b'msg 2 ""\n', 'invalid message type')]
    for data, expected in cases:
        r, w = os.pipe()
        os.write(w, data)
        os.close(w)
        try:
            with pytest.raises(Exception) as info:
                FrameReader(r).read(1, 1)
            if expected:
                assert isinstance(info.value, ProtocolError) and expected in str(info.value), data
        finally:
            os.close(r)
    r, w = os.pipe()
    os.write(w, b'MSG 13 "hello world"\nPING 2 ""\n')
    os.close(w)
    reader = FrameReader(r)
    assert reader.read(1, 1) == ('MSG', 'hello world')
    assert reader.read(1, 1) == ('PING', '')
    os.close(r)


def test_job_home_zip_with_parent_entries_is_refused(disco, master):
    from discolite.job import JobPack
    from tests.http.common import zip_bytes
    marker = 'discolite-escape-%d' % os.getpid()
    jobdict = {'prefix': 'Evil', 'worker': 'bin/worker.py', 'owner': 'x', 'input': [],
               'nr_reduces': 1, 'map?': True, 'reduce?': False, 'scheduler': {}}
    home = zip_bytes({'bin/worker.py': b'#!/bin/sh\n', '../../../../%s' % marker: b'owned'})
    with pytest.raises(Exception, match='escapes the job directory'):
        disco.submit(JobPack(1, jobdict, {}, home, b'').dumps())
    root = master.storage.root
    # where the entries would land: the data root (4 levels up) and beyond it
    for up in (root, os.path.dirname(root), '/tmp'):
        assert not os.path.exists(os.path.join(up, marker))
    home2 = zip_bytes({'bin/worker.py': b'#!/bin/sh\n', '/tmp/%s' % marker: b'owned'})
    with pytest.raises(Exception, match='escapes the job directory'):
        disco.submit(JobPack(1, jobdict, {}, home2, b'').dumps())
    assert not os.path.exists(os.path.join('/tmp', marker))
    # nothing of the refused jobs is left in the data directory
    leftovers = [x for _d, dirs, _f in os.walk(os.path.join(root, 'data')) for x in dirs
                 if x.startswith('Evil@')]
    assert leftovers == []
