"""The HTTP transport against small fake masters (real sockets on 127.0.0.1).

Each fake answers like the captures of a real Disco master; the tests check the
endpoint and payload every client method sends, retries on 503, the Range
quirk (a 200 answer to a ranged request is sliced by the client), DISCO_PROXY,
``disco://host`` resolution and error reporting.
"""
import json

import pytest

from discolite import Disco
from discolite.error import CommError, DiscoError
from discolite.settings import DiscoSettings
from discolite.transport import Request
from discolite.transport.http import HTTPTransport
from tests.http.common import FakeServer, env, json_reply

JOB = 'WordCount@703:6de16:8392e'
RESULTS = [['dir://localhost/disco/localhost/fe/%s/.disco/reduce-4-1.results' % JOB]]
EVENTS = ''.join(json.dumps(['2026/11/23 16:07:50', 'master', 'event %d' % n]) + '\n'
                 for n in range(5))


def routes():
    return {
        '/disco/version': json_reply('0.5.4'),
        '/disco/ctrl/joblist': json_reply([[1795450071, 'ready', JOB]]),
        '/disco/ctrl/jobinfo': json_reply({'active': 'ready', 'results': RESULTS[0]}),
        '/disco/ctrl/nodeinfo': json_reply({'localhost': {'max_workers': 2}}),
        '/disco/ctrl/load_config_table': json_reply([['localhost', '2']]),
        '/disco/ctrl/save_config_table': json_reply('table saved!'),
        '/disco/ctrl/get_results': json_reply([[JOB, ['ready', RESULTS]]]),
        '/disco/ctrl/get_stageresults': json_reply(RESULTS),
        '/disco/ctrl/kill_job': json_reply(''),
        '/disco/ctrl/clean_job': json_reply(''),
        '/disco/ctrl/purge_job': json_reply(''),
        '/disco/ctrl/blacklist': json_reply(''),
        '/disco/ctrl/whitelist': json_reply(''),
        '/disco/job/new': json_reply(['ok', JOB]),
        '/disco/ctrl/rawevents': (200, EVENTS, {'Content-Type': 'text/plain'}),
    }


def test_every_client_method_maps_to_its_endpoint_and_payload():
    with FakeServer(routes()) as fake:
        d = Disco(fake.url)
        assert d.master_version() == '0.5.4'
        assert d.joblist() == [[1795450071, 'ready', JOB]]
        assert d.jobinfo(JOB)['active'] == 'ready'
        assert d.nodeinfo() == {'localhost': {'max_workers': 2}}
        assert d.get_config() == [['localhost', '2']]
        d.set_config([['localhost', '2']])
        assert d.results(JOB, timeout=100) == ('ready', RESULTS)
        assert d.stageresults(JOB, 'map') == RESULTS
        assert d.kill(JOB) is None and d.clean(JOB) is None and d.purge(JOB) is None
        d.blacklist('node1')
        d.whitelist('node1')
        assert d.submit(b'\xd5\xc0\x00\x01pack') == JOB
        assert d.rawevents(JOB) == EVENTS
        sent = [(m, p, b) for m, p, b, _h in fake.requests]
    assert sent == [
        ('GET', '/disco/version', None),
        ('GET', '/disco/ctrl/joblist', None),
        ('GET', '/disco/ctrl/jobinfo?name=%s' % JOB, None),
        ('GET', '/disco/ctrl/nodeinfo', None),
        ('GET', '/disco/ctrl/load_config_table', None),
        ('POST', '/disco/ctrl/save_config_table', b'[["localhost", "2"]]'),
        ('POST', '/disco/ctrl/get_results', b'[100, ["%s"]]' % JOB.encode()),
        ('GET', '/disco/ctrl/get_stageresults?name=%s&stage=map' % JOB, None),
        ('POST', '/disco/ctrl/kill_job', b'"%s"' % JOB.encode()),
        ('POST', '/disco/ctrl/clean_job', b'"%s"' % JOB.encode()),
        ('POST', '/disco/ctrl/purge_job', b'"%s"' % JOB.encode()),
        ('POST', '/disco/ctrl/blacklist', b'"node1"'),
        ('POST', '/disco/ctrl/whitelist', b'"node1"'),
        ('POST', '/disco/job/new', b'\xd5\xc0\x00\x01pack'),
        ('GET', '/disco/ctrl/rawevents?name=%s' % JOB, None),
    ]


def test_errors_carry_the_http_status_and_body():
    with FakeServer({'/disco/ctrl/kill_job':
                     (400, '"string expected, \'123\' received"', {}),
                     '/disco/job/new':
                     json_reply(['error', 'Job failed to start: "invalid header"'])}) as fake:
        d = Disco(fake.url)
        with pytest.raises(CommError) as e:
            d.jobinfo(JOB)
        assert e.value.code == 404 and 'Not found.' in str(e.value)
        with pytest.raises(CommError) as e:
            d.request('/disco/ctrl/kill_job', '123')
        assert e.value.code == 400 and "string expected, '123' received" in str(e.value)
        with pytest.raises(DiscoError, match='Failed to submit jobpack: Job failed to start: '
                                             '"invalid header"'):
            d.submit(b'not a jobpack')


def test_503_is_retried_then_answered():
    answers = [503, 503]

    def flaky(handler, body):
        if answers:
            return answers.pop(0), b'busy', {}
        return json_reply('0.5.4')

    with FakeServer({'/disco/version': flaky}) as fake:
        d = Disco(fake.url)
        d.transport.retry_sleep = 0.01
        assert d.master_version() == '0.5.4'
        assert len(fake.requests) == 3


def test_503_too_often_is_a_comm_error():
    with FakeServer({'/disco/version': (503, b'busy', {})}) as fake:
        with env(DISCOLITE_HTTP_RETRIES='2', DISCOLITE_HTTP_RETRY_SLEEP='0.01'):
            d = Disco(fake.url)
            with pytest.raises(CommError) as e:
                d.master_version()
        assert e.value.code == 503
        assert len(fake.requests) == 3


def test_ranged_request_answered_200_is_sliced_by_the_client():
    """A real master answers 206 for a satisfiable range but 200 + the whole file for one
    at/after the end; a server ignoring Range altogether must not duplicate events either."""
    def ignores_range(handler, body):
        return 200, EVENTS, {'Content-Type': 'text/plain'}

    def honours_range(handler, body):
        data = EVENTS.encode()
        if not handler.headers.get('Range'):
            return 200, data, {'Content-Type': 'text/plain'}
        start = int(handler.headers['Range'][len('bytes='):].rstrip('-'))
        if start >= len(data):
            return 200, data, {'Content-Type': 'text/plain'}
        return 206, data[start:], {'Content-Range': 'bytes %d-%d/%d'
                                   % (start, len(data) - 1, len(data))}

    for route in (ignores_range, honours_range):
        with FakeServer({'/disco/ctrl/rawevents': route}) as fake:
            d = Disco(fake.url)
            offset = len(EVENTS.split('\n')[0]) + 1
            assert d.rawevents(JOB, offset=offset) == EVENTS[offset:]
            assert fake.requests[-1][3]['Range'] == 'bytes=%d-' % offset
            events = list(d.events(JOB))
            assert [e[1][2] for e in events] == ['event %d' % n for n in range(5)]
            resumed = list(d.events(JOB, offset=events[2][0]))
            assert resumed == events[3:]
            assert list(d.events(JOB, offset=events[-1][0])) == []


def test_disco_scheme_resolves_to_disco_port():
    with FakeServer(routes()) as fake:
        with env(DISCO_PORT=str(fake.port)):
            d = Disco('disco://127.0.0.1')
            assert d.master == 'http://127.0.0.1:%d' % fake.port
            assert d.master_version() == '0.5.4'
            d2 = Disco(settings=DiscoSettings(DISCO_MASTER='disco://127.0.0.1'))
            assert d2.master == 'http://127.0.0.1:%d' % fake.port
        with env(DISCO_MASTER=fake.url):
            assert Disco().master_version() == '0.5.4'


def test_disco_proxy_is_honoured_for_dotless_master_urls():
    with FakeServer(routes()) as proxy:
        # proxy_url rule: only http URLs without a '.' go through the proxy
        d = Disco('http://discomaster:8989', proxy=proxy.url)
        assert d.master_version() == '0.5.4'
        assert d.jobinfo(JOB)['active'] == 'ready'
        assert [p for _m, p, _b, _h in proxy.requests] == ['/disco/version',
                                                            '/disco/ctrl/jobinfo?name=%s' % JOB]
        with env(DISCO_PROXY=proxy.url):
            d = Disco('http://othermaster:8989')
            assert d.proxy == proxy.url
            d.kill(JOB)
        assert proxy.requests[-1][:3] == ('POST', '/disco/ctrl/kill_job', b'"%s"' % JOB.encode())
        with FakeServer(routes()) as direct:
            # a dotted master URL is not proxied
            d = Disco(direct.url, proxy=proxy.url)
            assert d.master_version() == '0.5.4'
            assert len(direct.requests) == 1
        assert len(proxy.requests) == 3


def test_redirects_are_followed():
    with FakeServer(routes()) as target:
        moved = {'*': (302, b'', {'Location': target.url + '/disco/version'})}
        with FakeServer(moved) as fake:
            assert Disco(fake.url).master_version() == '0.5.4'


def test_transport_returns_statuses_as_they_are():
    with FakeServer({'/x': (418, b'teapot', {'Content-Type': 'text/plain'})}) as fake:
        t = HTTPTransport(fake.url, retries=0)
        r = t.handle(Request('GET', '/x'))
        assert (r.status, r.body, r.headers['Content-Type']) == (418, b'teapot', 'text/plain')
        r = t.handle(Request('POST', '/disco/ctrl/kill_job', b'"x"'))
        assert r.status == 404
        assert fake.requests[-1][3]['Content-Type'] == 'application/json'
