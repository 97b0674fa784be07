"""Pipeline jobs end to end: results, events, job info, errors and the stage options."""
import json
import re

import pytest

from discolite import Job, result_iterator
from discolite.error import DiscoError, JobError
from discolite.job import JobPack
from discolite.worker.pipeline.worker import Stage, Worker
from tests.pipeline import pipejobs

POLL = 0.05
WORDS = [['raw://a_cat_sat'], ['raw://on_the_mat'], ['raw://the_cat_ran']]


def messages(job):
    return [event[2] for _offset, event in job.disco.events(job.name)]


def dead(job):
    with pytest.raises(JobError):
        job.wait(poll_interval=POLL)
    assert job.jobinfo()['active'] == 'dead'
    return '\n'.join(messages(job))


def test_word_count(disco):
    job = pipejobs.WordCount(master=disco).run(input=WORDS)
    results = job.wait(poll_interval=POLL)
    assert sorted(result_iterator(results)) == [('a', 1), ('cat', 2), ('mat', 1), ('on', 1),
                                                ('ran', 1), ('sat', 1), ('the', 2)]
    assert len(results) == 2 and all(r[0].startswith('dir://') for r in results)
    assert re.search(r'/\.disco/reduce-[34]-\d+\.results$', results[0][0])
    info = job.jobinfo()
    assert info['pipeline'] == [['map', 0, 0, 0, 3, 0], ['reduce', 0, 0, 0, 2, 0]]
    assert info['inputs'] == [u for i in WORDS for u in i]
    assert info['worker'] == 'lib/discolite/worker/pipeline/worker.py'
    assert job.jobpack().jobdict['pipeline'] == [['map', 'split', False],
                                                 ['reduce', 'group_label', False]]
    events = messages(job)
    assert events[:3] == ['New job initialized!', 'Created job "%s"' % job.name,
                          'Stage map scheduled with 3 tasks']
    assert 'Stage reduce scheduled with 2 tasks' in events
    assert events[-1].startswith('READY: Job done in ')
    msgs = [e for e in events if e.startswith('MSG:')]
    assert sorted(msgs) == sorted('MSG: [%s] Results sent to master' % t
                                  for t in ('map:0', 'map:1', 'map:2', 'reduce:3', 'reduce:4'))
    for stage in ('map', 'reduce'):
        assert any(e.startswith('Stage %s finished in ' % stage) for e in events)


def test_jobdict_as_disco_builds_it(disco):
    pack = pipejobs.WordCount(master=disco).pack(input=WORDS)
    assert pack.version == 2
    assert list(pack.jobdict) == ['prefix', 'save_results', 'save_info', 'scheduler', 'owner',
                                  'worker', 'pipeline', 'inputs']
    assert pack.jobdict['inputs'] == [[0, 0, i] for i in WORDS]
    assert pack.jobdict['prefix'] == 'WordCount'


@pytest.mark.parametrize('jobargs, message', [
    (dict(pipeline=[('split',)]), "Bad Stage ('split',)"),
    (dict(pipeline=[('group_foo', Stage('a'))]), 'Unknown grouping group_foo'),
    (dict(pipeline=[('split', Stage('a')), ('group_all', Stage('a'))]), 'Repeated stage a'),
    (dict(pipeline=[('split', 'notastage')]), 'Bad Stage'),
    (dict(pipeline=[], input='raw://a'),
     "Job 'input' is not a list of input locations,or a list of such lists: raw://a"),
])
def test_client_refuses_malformed_pipelines(disco, jobargs, message):
    jobargs.setdefault('input', [['raw://a']])
    with pytest.raises(DiscoError) as info:
        Job(master=disco, worker=Worker()).run(**jobargs)
    assert message in str(info.value)


def _pack(disco, **changes):
    pack = Job(master=disco, worker=Worker()).pack(
        pipeline=[('split', Stage('map', process=pipejobs.emit))], input=[['raw://a']])
    jobdict = dict(pack.jobdict)
    for key, value in changes.items():
        if value is None:
            del jobdict[key]
        else:
            jobdict[key] = value
    return JobPack(2, jobdict, pack.jobenvs, pack.jobhome, pack.jobdata).dumps()


# the reasons exactly as a real Disco 0.5.4 master gives them (pipeline_submit_* captures)
BAD_PIPELINE = (
    '"FORMAT ERROR: \\"Invalid job pipeline: ~s\\" [108,105,115,116,32,111,102,32,108,101,110,'
    '103,116,104,32,51,32,101,120,112,101,99,116,101,100,44,32,39,[91,[[60,60,\\"\\\\\\"map'
    '\\\\\\"\\",62,62],44,[60,60,\\"\\\\\\"split\\\\\\"\\",62,62]],93],39,32,114,101,99,101,'
    '105,118,101,100]"')


@pytest.mark.parametrize('changes, reason', [
    (dict(inputs=None), '"jobpack missing key \'inputs\'"'),
    (dict(pipeline=None), '"jobpack missing key \'pipeline\'"'),
    (dict(scheduler=None), '"jobpack missing key \'scheduler\'"'),
    (dict(pipeline=[['map', 'split']]), BAD_PIPELINE),
    (dict(pipeline=[['map', 'group_foo', False]]), '"invalid grouping \'<<\\"group_foo\\">>\'"'),
    (dict(pipeline=[['a', 'split', False], ['a', 'group_all', False]]),
     'repeated_pipeline_stages'),
    (dict(inputs=[[0, 0, 'raw://a']]), 'invalid_job_inputs'),
    (dict(inputs=['raw://a']), 'invalid_job_inputs'),
    (dict(inputs=[[0, 0, []]]), 'invalid_job_inputs'),
])
def test_master_refuses_malformed_v2_packs(disco, changes, reason):
    data = _pack(disco, **changes)
    reply = json.loads(disco.request('/disco/job/new', data))
    assert reply == ['error', 'Job failed to start: ' + reason]
    with pytest.raises(DiscoError) as info:
        disco.submit(data)
    assert str(info.value) == 'Failed to submit jobpack: Job failed to start: ' + reason


def test_string_inputs_refused_at_submission(disco):
    """Plain strings stay strings in a v2 jobdict; the master refuses them (capture
    pipeline_string_inputs)."""
    with pytest.raises(DiscoError) as info:
        Job(master=disco, worker=Worker()).run(
            pipeline=[('split', Stage('map', process=pipejobs.emit))], input=['raw://a'])
    assert str(info.value).endswith('Job failed to start: invalid_job_inputs')


def test_a_raising_stage_kills_the_job_with_its_traceback(disco):
    job = pipejobs.FailJob(master=disco).run(input=[['raw://a'], ['raw://b']])
    text = dead(job)
    assert re.search(r'FATAL: \[map:\d\] Traceback', text)
    assert 'ZeroDivisionError: stage function failed on purpose' in text
    assert 'in fail_process' in text
    assert text.endswith('WARN: Job killed')
    # as Disco: the FATAL task counts as failed and, with the job's others, as waiting
    assert job.jobinfo()['pipeline'] == [['map', 0, 2, 0, 0, 1]]


def test_output_label_must_be_an_int(disco):
    job = pipejobs.StrLabelJob(master=disco).run(input=[['raw://a']])
    text = dead(job)
    assert job.jobinfo()['pipeline'] == [['map', 0, 1, 0, 0, 1]]  # capture pipeline_str_label
    assert "ValueError: Output label (x : <class 'str'>) must be an integer or None" in text


def test_concurrent_stage_fails_as_in_disco_0_5_4(disco):
    text = dead(pipejobs.ConcurrentJob(master=disco).run(input=[['raw://a']]))
    assert 'ValueError: too many values to unpack (expected 2)' in text


def test_sort_with_combine_orders_keys_bytewise(disco):
    job = pipejobs.SortJob(master=disco).run(
        input=[['raw://pear_apple_Zebra'], ['raw://b_apple_\u00e9t\u00e9']])
    records = list(result_iterator(job.wait(poll_interval=POLL)))
    keys = [k for k, _v in records]
    assert keys == sorted(keys) and isinstance(keys[0], bytes)
    assert keys[0] == b'Zebra' and keys.count(b'apple') == 2


def test_sort_without_combine_does_nothing(disco):
    job = pipejobs.SortNoCombineJob(master=disco).run(input=[['raw://b_a'], ['raw://d_c']])
    records = list(result_iterator(job.wait(poll_interval=POLL)))
    assert records.count((b'--call--', 0)) == 2  # one call per input
    chunks = [k for k, _v in records]
    assert chunks in ([b'd', b'c', b'--call--', b'b', b'a', b'--call--'],
                      [b'b', b'a', b'--call--', b'd', b'c', b'--call--'])


def test_sort_needs_bytes_keys(disco):
    text = dead(pipejobs.SortStrKeysJob(master=disco).run(input=[['raw://a']]))
    assert "ValueError: ('Keys must be bytes for external sort', 'a->0')" in text


def test_params_given_and_default(disco):
    from discolite.worker import Params
    job = pipejobs.ParamsJob(master=disco).run(input=[['raw://a']], params=Params(n=3))
    assert list(result_iterator(job.wait(poll_interval=POLL))) == \
        [('params', ('Params', [('n', 3)]))]
    job = pipejobs.ParamsJob(master=disco).run(input=[['raw://a']])
    assert list(result_iterator(job.wait(poll_interval=POLL))) == [('params', ('Params', []))]


def test_input_hook_orders_labels(disco):
    job = pipejobs.HookJob(master=disco).run(input=[['raw://a'], ['raw://b'], ['raw://c']])
    [(_task, calls)] = list(result_iterator(job.wait(poll_interval=POLL)))
    assert [label for label, _src, _recs in calls] == [0, 1, 1, 2, 2]


def test_empty_outputs_are_listed_and_grouped(disco):
    job = pipejobs.MultiLabelJob(master=disco).run(input=[['raw://x']])
    [[index]] = job.wait(poll_interval=POLL)
    from discolite import util
    lines = list(util.read_index(index))
    assert [(label, size) for label, _url, size in lines] == \
        [(0, lines[0][2]), (2, lines[1][2]), (7, 22)]
    job = pipejobs.MultiLabelNextJob(master=disco).run(input=[['raw://x']])
    tasks = list(result_iterator(job.wait(poll_interval=POLL)))
    assert [group for (_t, group, _h), _calls in tasks] == ['0-', '2-', '7-']
    assert [calls[0][2] for _task, calls in tasks] == [[('x', 0)], [('x', 2)], []]


def test_empty_pipeline_returns_the_inputs_reversed(disco):
    job = Job(master=disco, worker=Worker()).run(pipeline=[], input=[['raw://a'], ['raw://b']])
    assert job.wait(poll_interval=POLL) == [['raw://b'], ['raw://a']]
    assert job.jobinfo()['pipeline'] == []
    events = messages(job)
    assert events[:2] == ['New job initialized!', 'Created job "%s"' % job.name]
    assert events[2].startswith('READY: Job done in ') and len(events) == 3


def test_functions_given_as_jobargs_run_without_module_globals(disco):
    def first(interface, state, label, inp):
        for line in inp:
            interface.output(0).add(line, len(line))

    def second(interface, state, label, inp):
        out = interface.output(0)
        for key, value in inp:
            out.add(key.upper(), value)

    job = Job(master=disco, worker=Worker()).run(
        input=[['raw://ab'], ['raw://c']],
        pipeline=[('split', Stage('first', process=first)),
                  ('group_all', Stage('second', process=second, combine=True))])
    assert sorted(result_iterator(job.wait(poll_interval=POLL))) == [('AB', 2), ('C', 1)]


def test_output_chain_plain_text(disco):
    from discolite.worker.task_io import plain_output_stream, task_output_stream

    def text(interface, state, label, inp):
        for line in inp:
            interface.output(0).add(line, 1)

    job = Job(master=disco, worker=Worker()).run(
        input=[['raw://hello']],
        pipeline=[('split', Stage('text', process=text,
                                  output_chain=[task_output_stream, plain_output_stream]))])
    [[index]] = job.wait(poll_interval=POLL)
    from discolite import util
    [(_label, url, size)] = list(util.read_index(index))
    with util._open_url(url) as f:
        assert f.read() == b'5 hello 1 1\n'


def test_kill_and_purge_a_pipeline_job(disco, tmp_path):
    import time

    def slow(interface, state, label, inp):
        import time
        time.sleep(30)

    job = Job(master=disco, worker=Worker()).run(
        input=[['raw://a']], pipeline=[('split', Stage('slow', process=slow))])
    deadline = time.time() + 10
    while job.jobinfo()['pipeline'][0][3] == 0 and time.time() < deadline:
        time.sleep(0.05)
    job.kill()
    assert job.jobinfo()['active'] == 'dead'
    assert messages(job)[-1] == 'WARN: Job killed'
    job.purge()
    assert job.results()[0] == 'unknown job'


def test_save_results_to_ddfs(disco):
    """Capture pipeline_save_results: the results are the tag, the last stage's stage
    results the DDFS blobs (one per output), named <job>:<taskid>:<runid>:<file>."""
    job = pipejobs.SECOND['group_label'](master=disco).run(
        input=[['raw://a'], ['raw://b'], ['raw://c']], save_results=True)
    results = job.wait(poll_interval=POLL)
    assert results == ['tag://disco:results:%s' % job.name]
    tasks = list(result_iterator(results, ddfs=disco.master))
    assert [group for (_t, group, _h), _calls in tasks] == ['0-', '1-', '2-']
    blobs = job.stageresults('collect')
    assert len(blobs) == 3 and all(len(b) == 1 and '/ddfs/' in b[0] for b in blobs)
    assert re.search(r'/%s:3:3:collect-0--0\$' % re.escape(job.name), blobs[0][0])
    assert all(r[0].startswith('dir://') for r in job.stageresults('emit'))
    job.purge()


def test_chaining_a_previous_jobs_results(disco):
    """Captures pipeline_chain / pipeline_chain_reader: dir:// results are expanded on the
    client into one label-0 input per data file; the first stage reads raw bytes unless
    its input chain has chain_reader."""
    from discolite.worker.task_io import chain_reader, task_input_stream
    first = pipejobs.WordCount(master=disco).run(input=[['raw://a_b'], ['raw://b']])
    results = first.wait(poll_interval=POLL)

    def pairs(interface, state, label, inp):
        for key, value in inp:
            interface.output(0).add(key, value)

    def lines(interface, state, label, inp):
        for line in inp:
            interface.output(0).add(type(line).__name__, label)

    pack = Job(master=disco, worker=Worker()).pack(
        input=results, pipeline=[('split', Stage('raw', process=lines))])
    assert all(label == 0 and isinstance(urls, list) and urls[0].startswith('disco://')
               for label, _size, urls in pack.jobdict['inputs'])
    raw = Job(master=disco, worker=Worker()).run(
        input=results, pipeline=[('split', Stage('raw', process=lines))])
    assert {k for k, _v in result_iterator(raw.wait(poll_interval=POLL))} == {'bytes'}
    read = Job(master=disco, worker=Worker()).run(
        input=results, pipeline=[('group_all', Stage(
            'read', process=pairs, input_chain=[task_input_stream, chain_reader]))])
    assert sorted(result_iterator(read.wait(poll_interval=POLL))) == [('a', 1), ('b', 2)]
