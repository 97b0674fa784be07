"""Messages and failures (DISCO-SPEC §2.11, §7.7, §11.2 Fault tolerance)."""
from discolite.worker.classic.func import nop_reduce

from tests.engine.common import fails, messages, results, run, run_results, task_messages


def ok_map(line, params):
    yield line, 1


def test_exception_in_map_kills_job_with_traceback(disco):
    def fmap(line, params):
        raise ValueError('map exploded on %s' % line)
    job = run(disco, input=['raw://boom'], map=fmap)
    text, events = fails(job)
    for where in (text, events):
        assert 'Traceback (most recent call last)' in where
        assert 'ValueError: map exploded on boom' in where
        assert 'in fmap' in where
    assert 'Status dead' in text
    assert 'FATAL: [map:0]' in events
    assert events.rstrip().endswith('WARN: Job killed')


def test_exception_in_reduce_kills_job(disco):
    def freduce(iter, params):
        for k, v in iter:
            yield k, 1 / 0
    text, events = fails(run(disco, input=['raw://r'], map=ok_map, reduce=freduce))
    assert 'ZeroDivisionError: division by zero' in text
    assert 'FATAL: [reduce:' in events


def test_exception_in_combiner_and_partition(disco):
    def combiner(k, v, buf, done, params):
        raise KeyError('combiner failed')

    text, _ = fails(run(disco, input=['raw://c'], map=ok_map, combiner=combiner))
    assert "KeyError: 'combiner failed'" in text

    def part(key, n, params):
        raise RuntimeError('no partition for you')
    text, _ = fails(run(disco, input=['raw://c'], map=ok_map, partition=part, partitions=3))
    assert 'RuntimeError: no partition for you' in text


def test_data_error_in_user_code_is_retried_then_fatal(disco):
    def fmap(line, params):
        from discolite.error import DataError
        raise DataError('flaky resource', 'http://example.invalid/x')
    job = run(disco, input=['raw://d'], map=fmap)
    text, events = fails(job)
    assert events.count('WARNING: [map:0]') == 4  # 1 try + 3 retries (DISCOLITE_MAX_FAILURES)
    assert 'failed 4 times' in text
    assert 'http://example.invalid/x' in text


def test_print_every_line_of_a_large_input_kills_the_job(disco):
    def fmap(line, params):
        print(line)
        yield line, 1
    data = 'raw://' + '\n'.join('line %d' % i for i in range(100))
    text, events = fails(run(disco, input=[data], map=fmap))
    assert 'Worker is behaving badly: Sent 10 events in a second, ignoring replies.' in text


def test_fast_progress_messages_do_not_kill_the_job(disco):
    """"N entries mapped/reduced" every status_interval records is the worker's own
    progress report: however fast the records go, it does not trip the throttle."""
    from discolite.core import result_iterator
    data = 'raw://' + '\n'.join('line %d' % i for i in range(100))

    def fmap(line, params):
        yield line, 1

    def freduce(iter, params):
        for kv in sorted(iter):  # reads every record at once: 100 messages in a burst
            yield kv
    job = run(disco, input=[data], map=fmap, reduce=freduce, status_interval=1)
    assert len(list(result_iterator(job.wait(timeout=60)))) == 100
    events = [e[2] for _o, e in job.events()]
    assert sum(1 for e in events if e.startswith('MSG: [reduce:') and 'entries reduced' in e) \
        >= 100


def test_raw_protocol_frames_written_by_job_code_are_just_messages(disco):
    def fmap(line, params):
        import sys
        sys.stderr.write('MSG 5 "hey"\n')
        yield line, 1
    job = run(disco, input=['raw://m'], map=fmap)
    assert results(job) == [('m', 1)]
    assert 'MSG 5 "hey"' in task_messages(job, 'map')


def test_fatal_frame_then_returning_none_kills(disco):
    def fmap(line, params):
        import sys
        sys.stderr.write('FATAL 7 "fake"\n')
        return None
    text, events = fails(run(disco, input=['raw://f'], map=fmap))
    assert 'FATAL 7 "fake"' in events
    assert "TypeError: 'NoneType' object is not iterable" in text


def test_unicode_and_binary_messages(disco):
    def fmap(line, params):
        print('Äärettömyys')
        print(b'\xff\xfe junk')
        import sys
        sys.stdout.write(b'latin-1 \xe9t\xe9\n')
        yield line, 1
    job = run(disco, input=['raw://u'], map=fmap)
    assert results(job) == [('u', 1)]
    msgs = task_messages(job, 'map')
    assert 'Äärettömyys' in msgs
    assert any('junk' in m for m in msgs)
    assert any(m.startswith('latin-1') for m in msgs)


def test_partial_line_is_sent_when_the_task_ends(disco):
    def fmap(line, params):
        import sys
        sys.stdout.write('no newline here')
        yield line, 1
    job = run(disco, input=['raw://p'], map=fmap)
    results(job)
    msgs = task_messages(job, 'map')
    assert 'no newline here' in msgs
    assert msgs.index('no newline here') < msgs.index('Results sent to master')


def test_partial_line_is_sent_before_a_crash(disco):
    def fmap(line, params):
        import sys
        sys.stdout.write('last words')
        raise ValueError('after writing')
    job = run(disco, input=['raw://p'], map=fmap)
    text, events = fails(job)
    assert 'MSG: [map:0] last words' in events


def test_util_msg_becomes_an_event(disco):
    def fmap(line, params):
        from discolite import util
        util.msg('a job message')
        yield line, 1
    job = run(disco, input=['raw://m'], map=fmap)
    results(job)
    assert 'MSG: [map:0] a job message' in messages(job)


def test_sys_exit_in_map_is_fatal_with_a_hint(disco):
    def fmap(line, params):
        import sys
        sys.exit(3)
    text, events = fails(run(disco, input=['raw://x'], map=fmap))
    assert 'the task called sys.exit(3)' in text


def test_task_failure_leaves_the_master_healthy(disco):
    def fmap(line, params):
        raise ValueError('x')
    fails(run(disco, input=['raw://1', 'raw://2', 'raw://3'], map=fmap))
    assert run_results(disco, input=['raw://ok'], map=ok_map, reduce=nop_reduce) == [('ok', 1)]


def test_wrong_reduce_record_shape_is_fatal(disco):
    def freduce(iter, params):
        yield 'only-a-key'
    text, events = fails(run(disco, input=['raw://x'], map=ok_map, reduce=freduce))
    assert 'TypeError' in text


def test_map_only_save_results_with_partitions_is_fatal(disco):
    text, events = fails(run(disco, input=['raw://s'], map=ok_map, save_results=True))
    assert 'NotImplementedError: Storing partitioned outputs in DDFS is not yet supported' in text
