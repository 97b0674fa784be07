"""Item 1: Disco's failure semantics (spec 7.7, events of 4.2)."""
import re

import pytest

from discolite.error import JobError
from discolite.core import result_iterator
from discolite.job import Job
from discolite.worker import Params
from tests.reliability.helpers import messages


def io_error_map(entry, params):
    raise IOError("disk on fire")


def data_error_map(entry, params):
    from discolite.error import DataError
    raise DataError("cannot read it", "raw://broken")


def value_error_map(entry, params):
    raise ValueError("not recoverable")


def transient_map(entry, params):
    import os
    if not os.path.exists(params.marker):
        open(params.marker, 'w').close()
        raise IOError("transient failure")
    yield entry, 'second try'


def fatal_map(entry, params):
    from discolite.worker import protocol
    protocol.send('FATAL', 'the worker gave up')
    yield entry, 1


def run(disco, fmap, **kw):
    return Job(master=disco).run(input=['raw://x'], map=fmap, **kw)


def dead(job):
    with pytest.raises(JobError) as exc:
        job.wait(timeout=60)
    assert 'Status dead' in str(exc.value)
    return messages(job)


@pytest.mark.parametrize('fmap, text', [(io_error_map, 'OSError: disk on fire'),
                                        (data_error_map, 'cannot read it')])
def test_recoverable_error_is_retried_then_job_dies(disco, master, fmap, text):
    max_failures = master.scheduler.max_failures
    assert max_failures == 3
    events = dead(run(disco, fmap))
    warnings = [m for m in events if m.startswith('WARNING: [map:0] ')]
    assert len(warnings) == max_failures + 1
    assert all(text in w for w in warnings)
    assert 'Traceback' in warnings[0]
    retries = [m for m in events if m.startswith('Task map:0 failed on "localhost", ')]
    assert len(retries) == max_failures
    for k, m in enumerate(retries, 1):
        assert re.match(r'Task map:0 failed on "localhost", %dth failures so far\. '
                        r'Sleeping [0-9.]+ seconds before retrying\.$' % k, m), m
    assert events[-2] == ('ERROR: [map:0] Task map:0 failed %d times. At most %d failures '
                          'are allowed.' % (max_failures + 1, max_failures))
    assert events[-1] == 'WARN: Job killed'
    assert events.count('map:0 assigned to localhost') == max_failures + 1


def test_other_exception_kills_at_once(disco):
    events = dead(run(disco, value_error_map))
    assert events.count('map:0 assigned to localhost') == 1
    fatal = [m for m in events if m.startswith('FATAL: [map:0] ')]
    assert len(fatal) == 1 and 'ValueError: not recoverable' in fatal[0]
    assert not any(m.startswith('Task map:0 failed on') for m in events)
    assert events[-1] == 'WARN: Job killed'


def test_fatal_message_from_worker_kills(disco):
    events = dead(run(disco, fatal_map))
    assert 'FATAL: [map:0] the worker gave up' in events
    assert events[-1] == 'WARN: Job killed'


def test_transient_failure_completes(disco, tmp_path):
    from discolite.core import result_iterator
    job = run(disco, transient_map, params=Params(marker=str(tmp_path / 'marker')))
    results = job.wait(timeout=60)
    assert [v for _k, v in result_iterator(results)] == ['second try']
    events = messages(job)
    assert any(m.startswith('WARNING: [map:0] ') and 'transient failure' in m for m in events)
    assert any(m.startswith('Task map:0 failed on "localhost", 1th failures so far.')
               for m in events)
    assert events[-1].startswith('READY: Job done in ')


def test_failure_counters_in_nodeinfo(disco, master):
    before = disco.nodeinfo()['localhost']
    dead(run(disco, io_error_map))
    after = disco.nodeinfo()['localhost']
    assert after['data_error'] - before['data_error'] == master.scheduler.max_failures + 1


def test_max_failure_rate_setting(disco, master):
    assert disco._json('/disco/ctrl/get_settings')['max_failure_rate'] == 3
    disco.request('/disco/ctrl/save_settings', '{"max_failure_rate": "1"}')
    try:
        events = dead(run(disco, io_error_map))
        assert events[-2] == ('ERROR: [map:0] Task map:0 failed 2 times. At most 1 failures '
                              'are allowed.')
    finally:
        disco.request('/disco/ctrl/save_settings', '{"max_failure_rate": "3"}')


def test_max_failures_is_a_setting(tmp_path):
    from discolite import Disco
    from discolite.master import Master
    with Master(DISCOLITE_WORKERS=1, DISCOLITE_RETRY_DELAY=0.01, DISCOLITE_MAX_FAILURES=0) as m:
        events = dead(run(Disco(m.url), io_error_map))
        assert events[-2] == ('ERROR: [map:0] Task map:0 failed 1 times. At most 0 failures '
                              'are allowed.')


def test_default_max_failures():
    from discolite.settings import DiscoSettings, validate
    assert validate(DiscoSettings())['DISCOLITE_MAX_FAILURES'] == 3


def test_the_scheduler_thread_survives_its_own_errors(disco, master, capfd):
    """An unexpected exception inside the scheduler loop is logged; the master carries on."""
    from tests.reliability.helpers import tiny_map
    scheduler = master.scheduler
    original = scheduler._assign
    calls = []

    def broken_once():
        if not calls:
            calls.append(1)
            raise RuntimeError('simulated scheduler bug')
        return original()

    scheduler._assign = broken_once
    try:
        scheduler.wake()
        job = Job(master=disco).run(input=['raw://x'], map=tiny_map)
        job.wait(timeout=60)
    finally:
        del scheduler._assign
    assert calls and scheduler.errors >= 1
    assert scheduler.thread.is_alive()
    assert 'simulated scheduler bug' in capfd.readouterr().err


def test_a_failing_index_write_kills_only_that_job(disco, master, tmp_path):
    """An error while handling a task's messages (here: writing its index) is a FATAL.

    The pool worker writes its task's index itself; when it cannot (here: the index
    directory is a file), the master writes it, and a failure there is the FATAL.
    """
    storage = master.storage
    not_a_dir = tmp_path / 'file'
    not_a_dir.write_text('')

    def full_disk(*args):
        raise OSError(28, 'No space left on device', '/data/x.results')

    storage.write_index = full_disk
    storage.index_location = lambda job, host=None: (str(not_a_dir / '.disco'), 'disco/x')
    try:
        events = dead(run(disco, value_ok_map))
    finally:
        del storage.write_index
        del storage.index_location
    assert 'FATAL: [map:0] no space left on device in /data/x.results' in events
    job = run(disco, value_ok_map)
    assert len(list(result_iterator(job.wait(timeout=60)))) == 1  # the next job is fine


def value_ok_map(entry, params):
    yield entry, 1


def lines_map(line, params):
    yield line, 1


@pytest.mark.parametrize('n', [20, 25])
def test_status_messages_at_an_exact_multiple_of_the_interval_end(disco, tmp_path, n):
    """An input of exactly k * status_interval entries must not loop on its status line."""
    from discolite.core import result_iterator
    path = tmp_path / 'lines.txt'
    path.write_text(''.join('line %d\n' % i for i in range(n)))
    job = Job(master=disco).run(input=[str(path)], map=lines_map, status_interval=10)
    assert len(list(result_iterator(job.wait(timeout=60)))) == n
    events = messages(job)
    assert [m for m in events if 'entries mapped' in m] == \
        ['MSG: [map:0] 10 entries mapped', 'MSG: [map:0] 20 entries mapped',
         'MSG: [map:0] Done: %d entries mapped' % n]


def steady_map(line, params):
    import time
    if int(line) % 20000 == 0:
        time.sleep(0.06)  # some work between status lines, as in any real map
    yield line, 1


def test_steady_status_lines_do_not_trip_the_throttle(disco, tmp_path):
    """Ten status lines in 0.6 s: on Disco the replies would slow the worker, not kill it."""
    from discolite.core import result_iterator
    path = tmp_path / 'many.txt'
    path.write_text(''.join('%d\n' % i for i in range(200001)))
    job = Job(master=disco).run(input=[str(path)], map=steady_map, status_interval=20000)
    results = job.wait(timeout=120)
    assert sum(1 for _ in result_iterator(results)) == 200001
    assert sum(1 for m in messages(job) if m.endswith('entries mapped')) == 11


def print_loop_map(line, params):
    for i in range(100):
        print('line', i)
    yield line, 1


def test_a_print_loop_still_trips_the_throttle(disco):
    events = dead(run(disco, print_loop_map))
    assert any(m.startswith('FATAL: [map:0] Worker is behaving badly: Sent 10 events in a '
                            'second') for m in events)
