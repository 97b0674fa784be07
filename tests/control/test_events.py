"""Event logs: Disco's line format and offsets, and the live console display (§4)."""
import io
import json
import os
import re
import sys
import threading
import time

import pytest

from discolite import Disco, Job
from discolite.error import CommError
from discolite.monitor import EventMonitor
from discolite.settings import DiscoSettings

from tests.control.common import POLL, messages, run_words, until

LINE = re.compile(r'^\["\d{4}/\d\d/\d\d \d\d:\d\d:\d\d","[^"\\]+",".*"\]$')
TEXT_EVENT = re.compile(r'^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \S+ .+$')
STATUS = re.compile(r'^Status: \[\w+\] \d+ pending, \d+ waiting, \d+ running, \d+ done, '
                    r'\d+ failed$')


def test_line_format_and_typical_job_events(disco):
    job = run_words(disco, inputs=['raw://a b', 'raw://b'])
    job.wait(poll_interval=POLL)
    raw = disco.rawevents(job.name)
    raw.encode('ascii')  # the log is pure ASCII
    lines = raw.split('\n')
    assert lines[-1] == ''
    for line in lines[:-1]:
        assert LINE.match(line), line
    events = [json.loads(l) for l in lines[:-1]]
    msgs = [m for _t, _h, m in events]
    host = list(disco.nodeinfo())[0]
    assert msgs[:3] == ['New job initialized!', 'Created job "%s"' % job.name,
                        'Stage map scheduled with 2 tasks']
    assert re.match(r'^READY: Job done in \d+:\d\d:\d\d\.\d\d\d$', msgs[-1])
    for i in (0, 1):
        assert 'map:%d assigned to %s' % (i, host) in msgs
        assert 'SYS: [map:%d] Received results from %s' % (i, host) in msgs
        done = [e for e in events if e[2].startswith('DONE: [map:%d] Task finished in ' % i)]
        assert len(done) == 1 and done[0][1] == host
    assert any(re.match(r'^Stage map finished in \d+:\d\d:\d\d\.\d{3}$', m) for m in msgs)
    assert {h for _t, h, m in events if not m.startswith(('MSG', 'DONE'))} == {'master'}


def test_events_offsets(disco):
    job = run_words(disco)
    job.wait(poll_interval=POLL)
    raw = disco.rawevents(job.name)
    events = list(disco.events(job.name))
    ends = [m.end() for m in re.finditer('\n', raw)]
    assert [o for o, _e in events] == ends  # each offset is the end of its line
    assert [tuple(json.loads(l)) for l in raw.splitlines()] == [e for _o, e in events]
    for i, (offset, _event) in enumerate(events):
        assert list(disco.events(job.name, offset)) == events[i + 1:]
    assert list(disco.events(job.name, len(raw))) == []
    assert list(disco.events(job.name, len(raw) + 100)) == []
    assert disco.rawevents(job.name, 7) == raw[7:]
    # a partial first line (offset inside a line) stops iteration, as on Disco
    assert list(disco.events(job.name, 3)) == []


def test_unknown_job_events_404(disco):
    for call in (lambda: disco.events('NoSuchJob@0:0:0'), lambda: disco.rawevents('x')):
        with pytest.raises(CommError) as e:
            call()
        assert e.value.code == 404


def chatty_map(line, params):
    import os
    import time
    for i in range(5):
        print('tick %s %d' % (line, i))
        time.sleep(0.15)
    while not os.path.exists(params['go']):
        time.sleep(0.02)
    print('Äärettömyys')
    yield line, 1


def test_running_job_read_with_increasing_offsets_sees_each_line_once(disco, tmp_path):
    go = str(tmp_path / 'go')
    job = Job(master=disco).run(input=['raw://a', 'raw://b'], map=chatty_map,
                                params={'go': go}, reduce=lambda it, p: it)
    seen, offset, reads, opened = [], 0, 0, False
    while True:
        status = disco.results(job.name, timeout=0)[0]
        batch = list(disco.events(job.name, offset))
        reads += 1
        for new_offset, event in batch:
            assert new_offset > offset
            offset = new_offset
            seen.append(event)
        if not opened and sum(e[2].startswith('MSG: [map:') and 'tick' in e[2]
                              for e in seen) == 10:
            open(go, 'w').close()
            opened = True
        if status != 'active' and not batch:
            break
        time.sleep(0.03)
    assert opened and reads > 3
    whole = [e for _o, e in disco.events(job.name)]
    assert seen == whole  # every line exactly once, in order
    assert len(seen) == len(set(seen))
    assert offset == len(disco.rawevents(job.name).encode())
    assert sum('Äärettömyys' in e[2] for e in seen) == 2  # non-ASCII survives intact


def _slow_print_map(line, params):
    import time
    print('marker %s' % line)
    time.sleep(0.3)
    yield line, 1


def test_wait_show_nocolor_prints_to_stderr(disco, capsys):
    job = Job(master=disco).run(input=['raw://a'], map=_slow_print_map)
    results = disco.wait(job.name, poll_interval=POLL, show='nocolor')
    assert results == job.wait()
    out, err = capsys.readouterr()
    assert out == ''
    lines = err.splitlines()
    events = [e for _o, e in disco.events(job.name)]
    texts = [l for l in lines if not l.startswith('Status: ')]
    assert texts == ['%s %s %s' % e for e in events]
    assert all(TEXT_EVENT.match(l) for l in texts)
    statuses = [l for l in lines if l.startswith('Status: ')]
    assert statuses and all(STATUS.match(s) for s in statuses)
    assert all(a != b for a, b in zip(statuses, statuses[1:]))  # only printed when changed


def test_wait_show_json_prints_to_stdout(disco, capsys):
    job = Job(master=disco).run(input=['raw://a'], map=_slow_print_map)
    job.wait(poll_interval=POLL, show='json')
    out, err = capsys.readouterr()
    assert err == ''
    events = [list(e) for _o, e in disco.events(job.name)]
    assert out.splitlines() == [json.dumps(e) for e in events]


def test_disco_events_setting(disco, capsys, monkeypatch):
    monkeypatch.setenv('DISCO_EVENTS', 'nocolor')
    job = run_words(disco)
    Disco(disco.master).wait(job.name, poll_interval=POLL)
    out, err = capsys.readouterr()
    assert 'READY: Job done in' in err and out == ''
    # an explicit setting object wins; show= wins over the setting
    monkeypatch.delenv('DISCO_EVENTS')
    client = Disco(disco.master, settings=DiscoSettings(DISCO_EVENTS='json'))
    client.wait(job.name, poll_interval=POLL)
    out, err = capsys.readouterr()
    assert json.loads(out.splitlines()[-1])[2].startswith('READY') and err == ''
    client.wait(job.name, poll_interval=POLL, show=False)
    assert capsys.readouterr() == ('', '')
    Disco(disco.master).wait(job.name, poll_interval=POLL)  # default '': silent
    assert capsys.readouterr() == ('', '')


def test_wait_show_prints_live_while_the_job_runs(disco, capsys, tmp_path):
    go = str(tmp_path / 'go')
    job = Job(master=disco).run(input=['raw://live'], map=chatty_map, params={'go': go})
    errors = []

    def waiter():
        try:
            disco.wait(job.name, poll_interval=POLL, show=True)
        except Exception as e:
            errors.append(e)
    t = threading.Thread(target=waiter)
    t.start()
    err = ''
    try:
        deadline = time.time() + 30
        while 'tick live 4' not in err and time.time() < deadline:
            time.sleep(0.05)
            err += capsys.readouterr().err
        assert 'tick live 4' in err
        assert disco.results(job.name, timeout=0)[0] == 'active'  # printed before the end
        assert 'READY' not in err
    finally:
        open(go, 'w').close()
        t.join(30)
    err += capsys.readouterr().err
    assert not errors and 'READY: Job done in' in err
    assert err.count('tick live 0') == 1  # no event printed twice


class _TTY(io.StringIO):
    def isatty(self):
        return True


def test_colour_display_on_a_terminal(disco):
    def bad_map(e, params):
        raise ValueError('boom')
    ok = run_words(disco)
    ok.wait(poll_interval=POLL)
    out = _TTY()
    monitor = EventMonitor(disco, ok.name, show=True, poll_interval=POLL, stream=out)
    monitor.refresh()
    text = out.getvalue()
    assert ok.name in text.splitlines()[0]  # a heading with the job name
    assert '\033[42m' in text and 'READY' in text  # READY on green
    assert '\033[32m' in text and '\033[34m' in text  # green timestamps, blue hosts
    dead = Job(master=disco).run(input=['raw://x'], map=bad_map)
    with pytest.raises(Exception):
        dead.wait(poll_interval=POLL)
    out = _TTY()
    EventMonitor(disco, dead.name, show=True, stream=out).refresh()
    assert '\033[35mWARN: Job killed' in out.getvalue()  # WARN magenta
    out = _TTY()
    EventMonitor(disco, dead.name, show='nocolor', stream=out).refresh()
    assert '\033[' not in out.getvalue()
