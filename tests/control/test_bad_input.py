"""Bad input gets the error type Disco raises, with a clear message: never a hang or a
traceback from inside discolite."""
import json

import pytest

from discolite import Job
from discolite.error import CommError, DiscoError, JobError

from tests.control.common import POLL, run_words

UNKNOWN = 'NoSuchJob@000:00000:00000'
ODD_NAMES = [UNKNOWN, 'with space@1:2:3', '../../etc/passwd', 'a/b', 'q?x=1&name=y', '%41',
             'caf\xe9@1:2:3', '#frag', '']


def _404(call, codes=(404,)):
    with pytest.raises(CommError) as e:
        call()
    assert e.value.code in codes, e.value
    return e.value


@pytest.mark.parametrize('name', ODD_NAMES)
def test_unknown_job_names(disco, name):
    for call in (lambda: disco.jobinfo(name), lambda: disco.rawevents(name),
                 lambda: disco.events(name), lambda: disco.jobpack(name),
                 lambda: disco.stageresults(name, 'map')):
        _404(call)
    for call in (lambda: disco.oob_list(name), lambda: disco.profile_stats(name)):
        # the name is part of the path /ddfs/tag/disco:job:oob:<name>: an HTTP master refuses
        # paths that decode to '..' segments (403) or to '?'/'#' (400)
        _404(call, (400, 403, 404))
    assert disco.results(name) == ('unknown job', [])
    inactive, active = disco.results([name, UNKNOWN], timeout=100)
    assert active == [] and [s for _n, (s, _r) in inactive] == ['unknown job'] * 2
    with pytest.raises(JobError) as e:
        disco.wait(name, poll_interval=POLL)
    assert e.value.message == 'Status unknown job'
    with pytest.raises(DiscoError) as e:
        disco.oob_get(name, 'key')
    assert str(e.value) == 'Unknown key or jobname'
    for call in (disco.kill, disco.clean, disco.purge):
        assert call(name) is None  # accepted silently, as on Disco
    assert Job(name=name, master=disco).results() == ('unknown job', [])


def test_bad_timeouts(disco):
    job = run_words(disco)
    job.wait(poll_interval=POLL)
    for timeout in (-1, 'abc', None, [1], float('nan')):
        with pytest.raises(CommError) as e:  # refused by the master, as on Disco
            disco.results(job.name, timeout=timeout)
        assert e.value.code == 400 and 'expected' in e.value.msg
    assert disco.results(job.name, timeout=1.5)[0] == 'ready'  # floats are sent as integers
    for kwargs in ({'timeout': -1}, {'timeout': 'abc'}, {'poll_interval': -0.5},
                   {'poll_interval': 'x'}, {'poll_interval': float('inf')},
                   {'timeout': float('nan')}):
        kwargs.setdefault('poll_interval', POLL)
        with pytest.raises(DiscoError) as e:
            disco.wait(job.name, **kwargs)
        assert 'must be a non-negative number' in str(e.value)
    assert disco.wait(job.name, poll_interval=0, timeout=0) == job.wait()


def test_bad_event_offsets(disco):
    job = run_words(disco)
    job.wait(poll_interval=POLL)
    url = '/disco/ctrl/rawevents?name=' + job.name
    for offset in (-3, 'x', 1.5, True):
        for call in (lambda: list(disco.events(job.name, offset)),
                     lambda: disco.rawevents(job.name, offset),
                     lambda: disco.request(url, offset=offset)):
            with pytest.raises(DiscoError, match='offset must be a non-negative integer'):
                call()
    with pytest.raises(DiscoError, match='offset must be'):
        list(disco.events(job.name, None))  # Disco's events adds to it: a TypeError there
    assert disco.request(url, offset=None) == disco.rawevents(job.name)  # as on Disco


def test_bad_profile_mode_and_oob_key(disco):
    job = run_words(disco, profile=True)
    job.wait(poll_interval=POLL)
    with pytest.raises(JobError, match='Unknown profile mode'):
        job.profile_stats('mapp')
    assert job.oob_get('bad key!') is None  # no such key (Disco filters the tag by name)


def _400(disco, url, body):
    with pytest.raises(CommError) as e:
        disco.request(url, body)
    assert e.value.code == 400, (url, body, e.value)
    message = json.loads(e.value.msg)
    assert isinstance(message, str) and message and 'Traceback' not in message
    return message


def test_malformed_ctrl_bodies(disco):
    for op in ('kill_job', 'clean_job', 'purge_job', 'blacklist', 'whitelist', 'gc_blacklist',
               'gc_whitelist'):
        url = '/disco/ctrl/' + op
        assert _400(disco, url, '123') == "string expected, '123' received"
        assert _400(disco, url, b'["a"]').startswith('string expected')
        assert _400(disco, url, b'not json')
        assert _400(disco, url, b'\xff\xfe')
        assert _400(disco, url, b'')
    url = '/disco/ctrl/get_results'
    assert _400(disco, url, '[100.0, ["x"]]') == "integer expected, '100.0' received"
    for body in ('"x"', '[1]', '[10, "x"]', '[10, [1]]', '{"a": 1}', '[-5, []]', 'nope', ''):
        _400(disco, url, body)
    for body in ('[]', '"x"', '{"accept_new_jobs": "x"}', '{"no_such": "1"}'):
        _400(disco, '/disco/ctrl/save_settings', body)
    for body in ('"x"', '[["a"]]', '[["a", "1"], ["a", "2"]]', '[["a", "x"]]'):
        _400(disco, '/disco/ctrl/save_config_table', body)
    with pytest.raises(CommError) as e:
        disco.request('/disco/ctrl/jobevents?name=%s&num=x' % run_words(disco).name)
    assert e.value.code == 400


def test_bad_job_packs(disco):
    for body in (b'not a jobpack', b'', b'\xd5\xc0\x00\x01' + b'\0' * 10):
        status, message = json.loads(disco.request('/disco/job/new', body))
        assert status == 'error'
        assert message == 'Job failed to start: "invalid header"'
        with pytest.raises(DiscoError) as e:
            disco.submit(body)
        assert str(e.value) == 'Failed to submit jobpack: Job failed to start: "invalid header"'


def test_unknown_endpoints_and_missing_parameters(disco):
    for url in ('/disco/ctrl/no_such_op', '/disco/ctrl/jobinfo', '/disco/ctrl/rawevents',
                '/disco/ctrl/get_stageresults?stage=map', '/ddfs/tag/not-an-oob-tag',
                '/disco/no/such/file', '/disco/../../etc/passwd'):
        with pytest.raises(CommError) as e:
            disco.request(url)
        assert e.value.code in (403, 404)
