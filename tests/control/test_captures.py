"""Endpoint replies compared with the captures of a real Disco 0.5.4 master
(/work/shared/disco-captures): status, content type, exact bodies where they do not
depend on the job, and the JSON shape (field names and types) everywhere else."""
import json
import os
import re

import pytest

from discolite.transport import Request

from tests.control.common import POLL, count_reduce, words_map

CAPTURES = os.environ.get('DISCO_CAPTURES', '/work/shared/disco-captures')
pytestmark = pytest.mark.skipif(not os.path.isdir(CAPTURES),
                                reason='no Disco captures at %s' % CAPTURES)


class Capture(object):
    def __init__(self, name):
        with open(os.path.join(CAPTURES, name + '.http'), 'rb') as f:
            raw = f.read()
        head, _, self.body = raw.partition(b'\r\n\r\n')
        lines = head.decode('latin-1').split('\r\n')
        self.status = int(lines[0].split()[1])
        self.headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(':')
            self.headers[k.strip().lower()] = v.strip()
        with open(os.path.join(CAPTURES, name + '.request'), 'rb') as f:
            request = f.read()
        rhead, _, self.request_body = request.partition(b'\r\n\r\n')
        self.method, self.url = rhead.decode().split('\r\n')[0].split()[:2]
        self.request_headers = dict(
            (k.strip(), v.strip()) for k, _, v in
            (l.partition(':') for l in rhead.decode().split('\r\n')[1:]))

    @property
    def content_type(self):
        return self.headers.get('content-type')

    def json(self):
        return json.loads(self.body.decode())


def shape(value):
    """The JSON type structure of ``value``: dict keys and element types, not the values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        shapes = []
        for v in value:
            s = shape(v)
            if s not in shapes:
                shapes.append(s)
        return ['list'] + shapes
    if isinstance(value, bool):
        return 'bool'
    if isinstance(value, int):
        return 'int'
    return type(value).__name__


def call(disco, method, url, body=None, headers=None):
    response = disco.transport.handle(Request(method, url, body, headers))
    return response.status, response.headers.get('Content-Type'), response.body


def check(disco, capture_name, url=None, body=None, exact=False, json_shape=True):
    cap = Capture(capture_name)
    headers = {k: v for k, v in cap.request_headers.items()
               if k.lower() in ('range', 'authorization')}
    status, ctype, got = call(disco, cap.method, url or cap.url,
                              cap.request_body if body is None else body, headers)
    assert status == cap.status, (capture_name, got)
    if cap.content_type:
        assert ctype == cap.content_type, capture_name
    if exact:
        assert got == cap.body, capture_name
    elif json_shape and cap.content_type == 'application/json':
        assert shape(json.loads(got)) == shape(cap.json()), capture_name
    return got


@pytest.fixture(scope='module')
def ready_job(master_url):
    from discolite import Disco, Job
    disco = Disco(master_url)
    job = Job(name='WordCount', master=disco).run(
        input=['raw://hello', 'raw://world', 'raw://hello'], map=words_map, reduce=count_reduce)
    job.wait(poll_interval=POLL)
    return job.name


def test_job_queries(disco, ready_job):
    tiny = Capture('jobinfo').url.split('name=')[1]
    for name in ('joblist', 'jobinfo', 'get_stageresults_map', 'load_config_table',
                 'get_settings', 'get_blacklist'):
        url = Capture(name).url.replace(tiny, ready_job)
        check(disco, name, url)
    # nodeinfo has a 'tasks' list only while the node runs something, and the session
    # master may still be running a job of an earlier test (nodeinfo_with_active has it)
    node = json.loads(check(disco, 'nodeinfo', json_shape=False))
    for info in node.values():
        tasks = info.pop('tasks', None)
        assert tasks is None or (tasks and all(isinstance(t, str) for t in tasks))
    assert shape(node) == shape(Capture('nodeinfo').json())
    info = json.loads(check(disco, 'jobinfo', '/disco/ctrl/jobinfo?name=' + ready_job))
    assert list(info) == list(Capture('jobinfo').json())  # same fields, same order
    assert [s[0] for s in info['pipeline']] == [s[0] for s in Capture('jobinfo').json()['pipeline']]
    assert json.loads(check(disco, 'version'))  # a version string
    body = json.dumps([100, [ready_job]]).encode()
    check(disco, 'get_results', body=body)
    multi = json.dumps([100, [ready_job, 'NoSuchJob@000:00000:00000']]).encode()
    check(disco, 'get_results_multi', body=multi)
    check(disco, 'unknown_get_results', exact=True)
    check(disco, 'get_results_float_timeout', exact=True,
          body=json.dumps([100.0, [ready_job]]).encode())


def test_events(disco, ready_job):
    url = '/disco/ctrl/rawevents?name=' + ready_job
    whole = check(disco, 'rawevents', url)
    part = check(disco, 'rawevents_offset', url)
    assert part == whole[100:]
    status, _ctype, _body = call(disco, 'GET', url)
    cap = Capture('rawevents_offset')
    size = len(whole)
    response = disco.transport.handle(Request('GET', url, None, {'Range': 'bytes=100-'}))
    assert response.headers['Content-Range'] == 'bytes 100-%d/%d' % (size - 1, size)
    assert re.match(r'^bytes 100-\d+/\d+$', cap.headers['content-range'])
    got = check(disco, 'jobevents', '/disco/ctrl/jobevents?name=%s&num=5' % ready_job)
    expected = Capture('jobevents').body.decode()
    assert got.decode().count('\n,') == expected.count('\n,') == 4
    assert got.startswith(b'[[') and got.endswith(b'\n]') and expected.endswith('\n]')
    events = json.loads(got)
    assert events[0][2].startswith('READY: Job done in')  # newest first
    assert [shape(e) for e in events] == [shape(e) for e in json.loads(expected)]


def test_errors_and_control(disco):
    for name in ('unknown_jobinfo', 'unknown_rawevents', 'unknown_parameters',
                 'unknown_get_stageresults', 'unknown_ctrl_op', 'oob_list_ctrl'):
        check(disco, name, exact=True)
    for name in ('unknown_kill', 'unknown_clean', 'unknown_purge', 'bad_payload_kill',
                 'job_submit_bad'):
        check(disco, name, exact=True)


def oob_map(e, params):
    put('0-' + e, ('oob:%s' % e).encode())
    yield e, 1


def test_oob_tag_and_blob(disco):
    from discolite import Job
    job = Job(name='WordCountOOB', master=disco).run(input=['raw://alpha', 'raw://beta'],
                                                     map=oob_map)
    job.wait(poll_interval=POLL)
    tag = json.loads(check(disco, 'oob_ddfs_tag', '/ddfs/tag/disco:job:oob:' + job.name))
    assert list(tag) == list(Capture('oob_ddfs_tag').json())
    assert tag['id'].startswith('disco:job:oob:%s$' % job.name)
    assert re.match(r'^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d$', tag['last-modified'])
    assert sorted(u[0].rsplit('/', 1)[1].split('$')[0] for u in tag['urls']) == \
        ['0-alpha', '0-beta']
    url = tag['urls'][0][0]
    status, _ctype, value = call(disco, 'GET', '/' + url.split('://', 1)[1].split('/', 1)[1])
    assert status == 200 and value in (b'oob:alpha', b'oob:beta')
    assert sorted(job.oob_list()) == ['0-alpha', '0-beta']


def test_kill_clean_purge_replies(disco, gate):
    g = gate(inputs=['raw://slow1', 'raw://slow2'])
    g.wait_running(2)
    check(disco, 'jobinfo_active', '/disco/ctrl/jobinfo?name=' + g.name)
    check(disco, 'nodeinfo_with_active')
    check(disco, 'joblist_with_active')
    check(disco, 'get_results_active', body=json.dumps([100, [g.name]]).encode())
    check(disco, 'kill_job', body=json.dumps(g.name).encode(), exact=True)
    info = json.loads(check(disco, 'jobinfo_killed', '/disco/ctrl/jobinfo?name=' + g.name))
    assert info['pipeline'] == Capture('jobinfo_killed').json()['pipeline']
    assert info['active'] == 'dead' and info['hosts'] == []
    got = check(disco, 'get_results_killed', body=json.dumps([100, [g.name]]).encode())
    assert json.loads(got) == [[g.name, ['dead', []]]]
    check(disco, 'rawevents_killed', '/disco/ctrl/rawevents?name=' + g.name)
    check(disco, 'clean_job', body=json.dumps(g.name).encode(), exact=True)
    check(disco, 'jobinfo_after_clean', '/disco/ctrl/jobinfo?name=' + g.name, exact=True)
    check(disco, 'joblist_after_clean')
    assert g.name not in check(disco, 'joblist').decode()


def test_purge_replies(disco, ready_job):
    check(disco, 'purge_job', body=json.dumps(ready_job).encode(), exact=True)
    check(disco, 'jobinfo_after_purge', '/disco/ctrl/jobinfo?name=' + ready_job, exact=True)
    check(disco, 'rawevents_after_purge', '/disco/ctrl/rawevents?name=' + ready_job, exact=True)
    got = check(disco, 'get_results_after_purge', body=json.dumps([100, [ready_job]]).encode())
    assert json.loads(got) == [[ready_job, ['unknown job', []]]]
    check(disco, 'joblist_after_purge')
