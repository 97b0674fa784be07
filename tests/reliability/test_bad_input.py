"""Item 6, bad input at run time: each fails clearly (or works) and the master survives."""
import http.server
import os
import threading

import pytest

from discolite.core import result_iterator
from discolite.error import DiscoError, JobError
from discolite.job import Job
from discolite.worker import Params
from discolite.worker.classic.func import chain_reader
from tests.reliability.helpers import messages
from tests.helpers import serve_http


def line_map(line, params):
    yield line, 1


def dead(job, timeout=60):
    """Wait for ``job`` to die; return (JobError text, all event messages joined)."""
    with pytest.raises(JobError) as exc:
        job.wait(timeout=timeout)
    assert 'Status dead' in str(exc.value)
    events = messages(job)
    assert events[-1] == 'WARN: Job killed'
    return str(exc.value), '\n'.join(events)


def retried_until_dead(job, master):
    text, events = dead(job)
    m = master.scheduler.max_failures
    assert 'ERROR: [map:0] Task map:0 failed %d times. At most %d failures are allowed.' \
        % (m + 1, m) in events
    return text, events


# -- inputs that cannot be read


def test_missing_file_input(disco, master, tmp_path):
    missing = str(tmp_path / 'no-such-file.txt')
    _text, events = retried_until_dead(Job(master=disco).run(input=[missing], map=line_map),
                                       master)
    assert missing in events
    assert 'No such file' in events


def test_missing_file_url_input(disco, master, tmp_path):
    missing = 'file://' + str(tmp_path / 'gone.txt')
    _text, events = retried_until_dead(Job(master=disco).run(input=[missing], map=line_map),
                                       master)
    assert str(tmp_path / 'gone.txt') in events


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == '/ok':
            body = b'hello\nworld\n'
            self.send_response(200)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(404 if self.path == '/missing' else 500)
        self.send_header('Content-Length', '0')
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope='module')
def http_base():
    with serve_http(Handler) as url:
        yield url


def test_http_input_works(disco, http_base):
    job = Job(master=disco).run(input=[http_base + '/ok'], map=line_map)
    keys = sorted(k for k, _v in result_iterator(job.wait(timeout=60)))
    assert [k.strip() for k in keys] in ([b'hello', b'world'], ['hello', 'world'])


@pytest.mark.parametrize('path, code', [('/missing', '404'), ('/broken', '500')])
def test_http_error_inputs(disco, master, http_base, path, code):
    url = http_base + path
    _text, events = retried_until_dead(Job(master=disco).run(input=[url], map=line_map), master)
    assert url in events
    assert code in events


def test_unreachable_http_input(disco, master):
    url = 'http://127.0.0.1:1/nothing-listens-here'
    _text, events = retried_until_dead(Job(master=disco).run(input=[url], map=line_map), master)
    assert url in events


def test_unknown_scheme(disco, tmp_path):
    job = Job(master=disco).run(input=['nosuch://x/y'], map=line_map)
    _text, events = dead(job)
    assert 'nosuch' in events


# -- corrupt data between stages


def make_records(disco, n=200):
    job = Job(master=disco).run(input=['raw://%d' % i for i in range(3)],
                                map=lambda_free_map, params=Params(n=n))
    results = job.wait(timeout=60)
    from discolite import util
    files = [url for [d] in results for _l, url, _s in util.read_index(d)]
    return job, files


def lambda_free_map(entry, params):
    for i in range(params.n):
        yield '%s-%d' % (entry, i), 'x' * 50


def nop_reduce(iter, out, params):
    for k, v in iter:
        out.add(k, v)


def corrupt(path):
    with open(path, 'r+b') as f:
        size = os.path.getsize(path)
        f.seek(size // 2)
        f.write(b'\xde\xad\xbe\xef' * 8)


def truncate(path):
    with open(path, 'r+b') as f:
        f.truncate(os.path.getsize(path) - 7)


@pytest.mark.parametrize('damage', [corrupt, truncate])
def test_corrupt_intermediate_file_is_a_data_error_naming_it(disco, master, damage):
    from discolite import util
    first, files = make_records(disco)
    url = files[0]
    path = util.local_path(url)
    damage(path)
    job = Job(master=disco).run(input=[url], reduce=nop_reduce, reduce_reader=chain_reader,
                                params=None)
    _text, events = dead(job)
    assert 'DataError' in events or 'Unable to access resource' in events
    assert url in events or path in events
    assert 'Corrupted' in events or 'Truncated' in events
    first.purge()


# -- map output that cannot be stored


def lambda_value_map(entry, params):
    yield entry, (lambda: 1)


def socket_value_map(entry, params):
    import socket
    yield entry, socket.socket()


@pytest.mark.parametrize('fmap, what', [(lambda_value_map, 'lambda'),
                                        (socket_value_map, 'socket')])
def test_unserializable_map_output_is_fatal(disco, fmap, what):
    job = Job(master=disco).run(input=['raw://x'], map=fmap)
    _text, events = dead(job)
    fatal = [line for line in events.split('\n') if line.startswith('FATAL: [map:0]')]
    assert fatal, events
    assert 'pickle' in events.lower()
    assert what in events.lower()
    assert events.count('map:0 assigned to localhost') == 1  # not retried


def no_str_key_map(entry, params):
    class NoStr(object):
        def __str__(self):
            raise ValueError('this key has no text')
    yield NoStr(), entry


def test_key_the_partition_function_cannot_hash(disco):
    job = Job(master=disco).run(input=['raw://x'], map=no_str_key_map, partitions=4)
    _text, events = dead(job)
    assert 'this key has no text' in events


def big_value_map(entry, params):
    yield entry, b'v' * (params.mb << 20)


def big_key_map(entry, params):
    yield 'k' * (params.mb << 20), 1


@pytest.mark.heavy
def test_very_large_value_works(disco):
    job = Job(master=disco).run(input=['raw://x'], map=big_value_map, params=Params(mb=50))
    [(key, value)] = list(result_iterator(job.wait(timeout=120)))
    assert key == 'x' and len(value) == 50 << 20 and value[:3] == b'vvv'
    job.purge()


def test_large_key_works(disco):
    job = Job(master=disco).run(input=['raw://x'], map=big_key_map, params=Params(mb=4),
                                partitions=2)
    [(key, value)] = list(result_iterator(job.wait(timeout=120)))
    assert len(key) == 4 << 20 and value == 1
    job.purge()


# -- user code that exits or never returns


def sys_exit_map(entry, params):
    import sys
    sys.exit(2)


def test_sys_exit_is_fatal_with_a_note(disco):
    job = Job(master=disco).run(input=['raw://x'], map=sys_exit_map)
    _text, events = dead(job)
    assert 'FATAL: [map:0]' in events
    assert 'SystemExit' in events
    assert 'sys.exit(2)' in events and 'must return' in events
    assert events.count('map:0 assigned to localhost') == 1


def os_exit_map(entry, params):
    import os
    os._exit(0)


def test_os_exit_is_a_crash_retried_until_dead(disco, master):
    job = Job(master=disco).run(input=['raw://x'], map=os_exit_map)
    _text, events = retried_until_dead(job, master)
    assert events.count('WARNING: [map:0] Worker crashed! (exit code: 0)') == \
        master.scheduler.max_failures + 1


def forever_map(entry, params):
    while True:
        pass


def test_never_returning_task_times_out_and_can_be_killed(disco):
    job = Job(master=disco).run(input=['raw://x'], map=forever_map)
    with pytest.raises(JobError) as exc:
        job.wait(timeout=1, poll_interval=0.2)
    assert 'Timeout' in str(exc.value)
    job.kill()
    assert job.jobinfo()['active'] == 'dead'
    assert messages(job)[-1] == 'WARN: Job killed'


# -- invalid settings


@pytest.mark.parametrize('settings, name', [
    ({'DISCOLITE_WORKERS': 'x'}, 'DISCOLITE_WORKERS'),
    ({'DISCOLITE_WORKERS': '0'}, 'DISCOLITE_WORKERS'),
    ({'DISCOLITE_WORKERS': -2}, 'DISCOLITE_WORKERS'),
    ({'DISCOLITE_WORKERS': 1.5}, 'DISCOLITE_WORKERS'),
    ({'DISCOLITE_START_METHOD': 'bogus'}, 'DISCOLITE_START_METHOD'),
    ({'DISCOLITE_MAX_FAILURES': -1}, 'DISCOLITE_MAX_FAILURES'),
    ({'DISCOLITE_MAX_FAILURES': 'many'}, 'DISCOLITE_MAX_FAILURES'),
    ({'DISCOLITE_RETRY_DELAY': -0.5}, 'DISCOLITE_RETRY_DELAY'),
    ({'DISCOLITE_RETRY_DELAY': 'soon'}, 'DISCOLITE_RETRY_DELAY'),
    ({'DISCOLITE_RETRY_DELAY': 'nan'}, 'DISCOLITE_RETRY_DELAY'),
    ({'DISCOLITE_RETRY_DELAY': 'inf'}, 'DISCOLITE_RETRY_DELAY'),
    ({'DISCOLITE_MSG_LIMIT': -3}, 'DISCOLITE_MSG_LIMIT'),
    ({'DISCOLITE_KEEP_GLOBALS': 'maybe'}, 'DISCOLITE_KEEP_GLOBALS'),
    ({'DISCOLITE_HOST': 'a/b'}, 'DISCOLITE_HOST'),
    ({'DISCO_PORT': 'http'}, 'DISCO_PORT'),
])
def test_invalid_settings(settings, name):
    from discolite.master import Master
    before = threading.active_count()
    with pytest.raises(DiscoError) as exc:
        Master(**settings)
    assert name in str(exc.value)
    assert 'Invalid setting' in str(exc.value)
    assert threading.active_count() == before  # nothing was started


def test_invalid_setting_in_the_environment(monkeypatch):
    from discolite.master import Master
    monkeypatch.setenv('DISCOLITE_WORKERS', 'lots')
    with pytest.raises(DiscoError) as exc:
        Master()
    assert "DISCOLITE_WORKERS='lots'" in str(exc.value)
