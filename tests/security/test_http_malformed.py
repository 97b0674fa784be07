"""Bad input at the HTTP level (issue 12 item 5): slow-header clients cannot lock the master
out, and malformed request lines and headers get an HTTP/1.1 status line with one line of
text/plain, against a real ``discolite master`` on loopback with short timeouts and a small
connection limit."""
import collections
import socket
import threading
import time

import pytest

from discolite import Disco

READ_TIMEOUT = 1.0
MAX_CONNECTIONS = 4
ENV = {'DISCOLITE_SERVER_IDLE_TIMEOUT': '5', 'DISCOLITE_SERVER_READ_TIMEOUT': str(READ_TIMEOUT),
       'DISCOLITE_SERVER_MAX_CONNECTIONS': str(MAX_CONNECTIONS)}


@pytest.fixture(scope='module')
def addr(tmp_path_factory):
    from tests.helpers import env, http_master
    with env(**ENV), http_master(tmp_path_factory.mktemp('malformed'), workers=1) as url:
        host, port = url.split('//')[1].split(':')
        yield host, int(port)


def exchange(addr, data, wait=10):
    """Send raw bytes; everything the master answers until it closes the connection."""
    with socket.create_connection(addr, timeout=wait) as s:
        s.sendall(data)
        return read_all(s)


def read_all(s):
    out = b''
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except socket.timeout:
        out += b'<no end>'
    return out


def split(answer):
    """(status line, headers dict with lower-case names, body) of one answer."""
    head, _, body = answer.partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    headers = dict(line.split(': ', 1) for line in lines[1:])
    return lines[0], {k.lower(): v for k, v in headers.items()}, body


def assert_one_line_answer(answer, status):
    """An HTTP/1.1 status line, ``Connection: close`` and one line of text/plain as the body."""
    line, headers, body = split(answer)
    assert line.startswith('HTTP/1.1 %d ' % status), answer[:300]
    assert headers['content-type'] == 'text/plain', headers
    assert headers['connection'] == 'close', headers
    assert int(headers['content-length']) == len(body), answer[:300]
    text = body.decode('utf-8')
    assert text and '\n' not in text and '<' not in text and len(text) < 400, text
    return text


def assert_healthy(addr):
    """A normal request on a new connection gets the normal answer."""
    answer = exchange(addr, b'GET /disco/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    line, _, body = split(answer)
    assert line == 'HTTP/1.1 200 OK' and body == b'"0.5.4"', answer[:300]
    host, port = addr
    assert isinstance(Disco('http://%s:%d' % (host, port)).joblist(), list)


MALFORMED = [
    ('garbage', b'GARBAGE\r\n\r\n', 400, 'Bad request syntax'),
    ('binary', b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n', 400, 'Bad request'),
    ('empty line', b'\r\n', 400, 'Empty request line'),
    ('four words', b'GET /disco/version HTTP/1.1 x\r\n\r\n', 400, 'Bad request version'),
    ('HTTP/0.9', b'GET /disco/version\r\n', 400, 'HTTP/0.9 is not supported'),
    ('HTTP/2.0', b'GET /disco/version HTTP/2.0\r\n\r\n', 505, 'Invalid HTTP version (2.0)'),
    ('HTTP/1.x', b'GET /disco/version HTTP/1.x\r\n\r\n', 400, 'Bad request version'),
    ('no colon', b'GET /disco/version HTTP/1.1\r\nNoColonHeader\r\nHost: x\r\n\r\n', 400,
     'Bad header line'),
    ('space before colon', b'POST /disco/ctrl/kill_job HTTP/1.1\r\nContent-Length : 5\r\n\r\n'
                           b'"abc"', 400, 'Bad header line'),
    ('folded', b'GET /disco/version HTTP/1.1\r\nX-A: b\r\n c\r\n\r\n', 400, 'Bad header line'),
    ('too many headers', b'GET /disco/version HTTP/1.1\r\n' +
     b''.join(b'X%d: y\r\n' % i for i in range(150)) + b'\r\n', 431, 'more than 100 headers'),
    ('long header line', b'GET /disco/version HTTP/1.1\r\nX: ' + b'y' * 70000 + b'\r\n\r\n', 431,
     'more than 65536 bytes'),
    ('long header block', b'GET /disco/version HTTP/1.1\r\n' +
     b''.join(b'X%d: %s\r\n' % (i, b'y' * 30000) for i in range(6)) + b'\r\n', 431,
     'over 131072 bytes'),
    ('long request line', b'GET /ddfs/tag/' + b'a' * 70000 + b' HTTP/1.1\r\n\r\n', 414,
     'Request line too long'),
]


@pytest.mark.parametrize('data, code, reason', [m[1:] for m in MALFORMED],
                         ids=[m[0] for m in MALFORMED])
def test_malformed_requests_get_a_status_line_and_one_line_of_text(addr, data, code, reason):
    text = assert_one_line_answer(exchange(addr, data), code)
    assert reason in text
    assert_healthy(addr)


def test_malformed_head_request_gets_the_status_line_without_a_body(addr):
    answer = exchange(addr, b'HEAD /disco/version HTTP/1.1\r\nBad Header\r\n\r\n')
    line, headers, body = split(answer)
    assert line == 'HTTP/1.1 400 Bad Request' and headers['connection'] == 'close'
    assert body == b''
    assert_healthy(addr)


def test_an_error_after_a_good_request_on_the_same_connection(addr):
    """Keep-alive: the first answer is normal, the malformed second one is answered and
    the connection closed."""
    answer = exchange(addr, b'GET /disco/version HTTP/1.1\r\nHost: x\r\n\r\n'
                            b'GET /disco/version HTTP/9.9\r\n\r\n')
    first, _, second = answer.partition(b'"0.5.4"')
    assert first.startswith(b'HTTP/1.1 200 OK\r\n')
    assert_one_line_answer(second, 505)
    assert_healthy(addr)


def test_headers_sent_in_pieces_within_the_deadline_are_served(addr):
    with socket.create_connection(addr, timeout=10) as s:
        for piece in (b'GET /disco/version HTTP/1.1\r\n', b'Host: x\r\n',
                      b'Connection: close\r\n', b'\r\n'):
            s.sendall(piece)
            time.sleep(READ_TIMEOUT / 8)
        assert split(read_all(s))[2] == b'"0.5.4"'


def test_a_request_line_that_never_ends_gets_408(addr):
    with socket.create_connection(addr, timeout=10) as s:
        start = time.monotonic()
        s.sendall(b'GET /disco/vers')
        text = assert_one_line_answer(read_all(s), 408)
        assert 'not received within 1 s' in text
        assert time.monotonic() - start < READ_TIMEOUT + 5
    assert_healthy(addr)


def test_slow_header_clients_cannot_lock_the_master_out(addr):
    """Clients at the connection limit trickle header bytes (each within the read timeout)
    and reconnect as soon as they are closed: a newcomer is still served, after the slowest
    of them has been sending its headers for 3/4 of the read timeout (then closed with 408),
    and at the latest after the header deadline."""
    stop = threading.Event()
    answers = []

    def loris():
        while not stop.is_set():
            with socket.create_connection(addr, timeout=30) as s:
                s.sendall(b'GET /disco/version HTTP/1.1\r\nX-Slow: ')
                s.setblocking(False)
                out = b''
                while not stop.wait(READ_TIMEOUT / 4):
                    try:
                        s.sendall(b'x')
                    except OSError:
                        pass
                    try:
                        data = s.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError:  # reset by the master
                        answers.append(out)
                        break
                    if not data:
                        answers.append(out)  # closed by the master
                        break
                    out += data

    threads = [threading.Thread(target=loris, daemon=True) for i in range(MAX_CONNECTIONS)]
    try:
        for t in threads:
            t.start()
        time.sleep(READ_TIMEOUT / 4)
        for attempt in range(3):
            start = time.monotonic()
            refused = 0
            while True:
                answer = exchange(addr, b'GET /disco/version HTTP/1.1\r\n'
                                        b'Connection: close\r\n\r\n')
                if split(answer)[0] != 'HTTP/1.1 503 Service Unavailable':
                    break
                assert 'retry later' in assert_one_line_answer(answer, 503)
                refused += 1
                assert time.monotonic() - start < READ_TIMEOUT + 5, 'locked out'
                time.sleep(0.05)
            waited = time.monotonic() - start
            assert split(answer)[2] == b'"0.5.4"', answer[:300]
            print('newcomer %d served after %.2f s (%d answers 503)' % (attempt, waited, refused))
            time.sleep(READ_TIMEOUT / 2)  # the slow clients take the freed slots again
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    print(len(answers), 'slow clients closed:', collections.Counter(
        split(a)[0] if a else 'reset' for a in answers))
    closed = [a for a in answers if not a.startswith(b'HTTP/1.1 503 ')]  # 503: at the limit
    assert closed, 'the slow clients were never closed'
    for answer in closed:
        if answer:  # else reset: the master closed it with the client's bytes unread
            text = assert_one_line_answer(answer, 408)
            assert 'not received within' in text or 'to make room' in text, text
    assert_healthy(addr)
