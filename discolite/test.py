"""Disco's test harness (``disco.test``): run Disco-style test modules unchanged.

A test module written for Disco 0.5.4::

    from disco.test import TestCase, TestJob

    class MyJob(TestJob):
        @staticmethod
        def map(e, params):
            yield e, 1

    class MyTestCase(TestCase):
        def serve(self, path):          # the test's input data server
            return path

        def runTest(self):
            self.job = MyJob().run(input=self.test_server.urls(['a', 'b']))
            self.assertResults(self.job, [(b'a', 1), (b'b', 1)])

runs under pytest or unittest, against the in-process master (no ``DISCO_MASTER``)
or the master ``DISCO_MASTER`` names.  When the class has a ``serve`` method,
``setUp`` starts a threading HTTP server on ``DISCO_TEST_HOST:DISCO_TEST_PORT``
whose GET replies are ``serve(path)``; ``test_server.urls(inputs)`` gives its URLs.
``tearDown`` stops it and purges ``self.job`` unless ``DISCO_TEST_PURGE`` is empty.

``python -m discolite.test test_module ...`` runs such modules with plain unittest, as
Disco's ``disco test`` does (verbosity from ``DISCO_DEBUG``: off, log, trace).
"""
import io
import os
import re
import signal
import socket
import threading
import unittest
import warnings
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn
from threading import Thread

from discolite import compat
from discolite.compat import http_server, httplib, socket_server, str_to_bytes  # noqa: F401
from discolite.core import Disco, result_iterator
from discolite.ddfs import DDFS
from discolite.error import CommError
from discolite.job import Job
from discolite.settings import DiscoSettings
from discolite.util import iterify

__all__ = ['SkipTest', 'InterruptTest', 'TestCase', 'TestJob', 'TestPipe', 'TestLoader',
           'TestRunner', 'TestServer', 'FailedReply', 'handler', 'OK',
           'INTERNAL_SERVER_ERROR']

OK = 200
INTERNAL_SERVER_ERROR = 500

SkipTest = unittest.SkipTest


class InterruptTest(SkipTest):
    """SIGINT handler installed while a test runs: a Ctrl-C skips the running test
    (its clean-up may not have finished) instead of killing the whole run."""

    def __init__(self, test):
        super(InterruptTest, self).__init__(
            'Test interrupted: May not have finished cleaning up')
        self.test = test

    def __call__(self, signum, frame):
        if getattr(self.test, 'is_running', False):
            self.test.is_running = False
            raise self


class FailedReply(Exception):
    """Raise from ``serve()`` to make the test server answer the request with HTTP 500."""


def _body(data):
    if data is None:
        return b''
    if isinstance(data, (bytes, str)):
        return str_to_bytes(data)
    return str(data).encode('utf-8')


def handler(data_generator):
    """The request handler class of a :class:`TestServer` serving ``data_generator(path)``.

    It speaks HTTP/1.1 with keep-alive (every reply has its length), so a task process
    fetching input after input opens one connection, not one per input: with Disco's
    ``test_50k`` (50,000 inputs) a connection, a thread and a Nagle delay per GET cost
    more than the rest of the server.  Replies go out in one write, without Nagle's delay.
    """

    class Handler(BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'
        disable_nagle_algorithm = True
        wbufsize = -1   # headers and body in one send (handle_one_request flushes)

        def setup(self):
            super().setup()
            track = getattr(self.server, '_track', None)
            if track is not None:
                track(self.connection, True)

        def finish(self):
            try:
                super().finish()
            finally:
                track = getattr(self.server, '_track', None)
                if track is not None:
                    track(self.connection, False)

        def parse_request(self):
            """``BaseHTTPRequestHandler.parse_request``, without the email parser for
            the usual ``GET <path> HTTP/1.1`` with plain ``Name: value`` headers
            (the same ``headers``, ``path`` and connection handling; a third of the
            server's time per request went into that parser)."""
            words = self.raw_requestline.split()
            if len(words) != 3 or words[0] != b'GET' or words[2] != b'HTTP/1.1':
                return super().parse_request()
            lines = _header_lines(self.rfile)
            fields = _plain_fields(lines)
            if fields is None:   # anything else: the standard parser reads the same lines
                rfile, self.rfile = self.rfile, io.BytesIO(b''.join(lines))
                try:
                    return super().parse_request()
                finally:
                    self.rfile = rfile
            self.requestline = str(self.raw_requestline, 'iso-8859-1').rstrip('\r\n')
            self.command, self.request_version = 'GET', 'HTTP/1.1'
            path = words[1].decode('iso-8859-1')
            if path.startswith('//'):
                path = '/' + path.lstrip('/')   # as the standard parse_request does
            self.path = path
            headers = self.headers = self.MessageClass()
            for name, value in fields:
                headers[name] = value
            headers.set_payload('')
            self.close_connection = headers.get('Connection', '').lower() == 'close'
            return True

        def do_GET(self):
            # The path without its leading and trailing '/'; a query string stays.
            path = self.path.strip('/')
            try:
                body = _body(data_generator(path))
            except FailedReply as e:
                self.send_error(INTERNAL_SERVER_ERROR, str(e))
                return
            self.send_response(OK)
            self.send_header('Content-length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_request(self, *args, **kwargs):
            pass   # one line per input fetched would drown the test output

    return Handler


_MAXLINE = 65536    # http.client's limits on header lines
_MAXHEADERS = 100
_FIELD_NAME = re.compile(rb'[\x21-\x39\x3b-\x7e]+:')


def _header_lines(rfile):
    """The header lines of a request, read as ``http.client.parse_headers`` reads them
    (up to the blank line, the end, a line too long or one line too many)."""
    lines = []
    while True:
        line = rfile.readline(_MAXLINE + 1)
        lines.append(line)
        if len(line) > _MAXLINE or len(lines) > _MAXHEADERS or line in (b'\r\n', b'\n', b''):
            return lines


def _plain_fields(lines):
    """``[(name, value)]`` as the email parser gives them, for lines that are all plain
    ``Name: value`` fields ending with a blank line and without ``Expect``; else None."""
    if not lines or lines[-1] not in (b'\r\n', b'\n'):
        return None
    fields = []
    for line in lines[:-1]:
        m = _FIELD_NAME.match(line)
        if m is None or line.count(b'\r') != line.endswith(b'\r\n'):
            return None   # a continuation line, no name, a CR the email parser splits at...
        name = line[:m.end() - 1].decode('iso-8859-1')
        if name.lower() == 'expect':
            return None
        fields.append((name, line[m.end():].decode('iso-8859-1').lstrip(' \t').rstrip('\r\n')))
    return fields


class TestServer(ThreadingMixIn, HTTPServer):
    """The input data server of a :class:`TestCase` (GET only)."""
    __test__ = False
    allow_reuse_address = True
    daemon_threads = True

    @classmethod
    def create(cls, server_address, data_generator):
        return cls(server_address, handler(data_generator))

    def __init__(self, *args, **kwargs):
        self._connections = set()
        self._connections_lock = threading.Lock()
        super(TestServer, self).__init__(*args, **kwargs)

    def _track(self, connection, is_open):
        """Keep the open connections, for :meth:`stop` to close the idle keep-alive ones."""
        with self._connections_lock:
            if is_open:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def start(self):
        # A daemon thread (Disco's is not): a test whose setUp failed before tearDown
        # could stop the server must not keep the test process alive.
        self._thread = Thread(target=self.serve_forever, name='disco-test-server')
        self._thread.daemon = True
        self._thread.start()

    def stop(self):
        self.shutdown()
        self.server_close()
        # Connections kept alive by clients end with the server: their threads wake up
        # from waiting for the next request and exit, and nothing is served after stop().
        with self._connections_lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        thread = getattr(self, '_thread', None)
        if thread is not None:
            thread.join(10)

    @property
    def address(self):
        host, port = self.server_address[:2]
        return 'http://%s:%d' % (host, port)

    def urls(self, inputs):
        """A list of replica lists: ``urls([3, 5])`` -> ``[['http://h:p/3'], ['http://h:p/5']]``."""
        return [['%s/%s' % (self.address, item) for item in iterify(input)]
                for input in inputs]


class TestCase(unittest.TestCase):
    """``unittest.TestCase`` with Disco's helpers (see the module docstring)."""
    settings = DiscoSettings()

    # Python 3.12 removed these aliases; Disco's tests use them throughout.
    assertEquals = unittest.TestCase.assertEqual
    assert_ = unittest.TestCase.assertTrue

    @property
    def ddfs(self):
        return DDFS(settings=self.settings)

    @property
    def disco(self):
        return Disco(settings=self.settings)

    @property
    def nodes(self):
        """``{host: max_workers}`` of the master's hosts that are not blacklisted."""
        return {host: info['max_workers'] for host, info in self.disco.nodeinfo().items()
                if not info.get('blacklisted')}

    @property
    def num_workers(self):
        """The slots of all the master's hosts (blacklisted ones included)."""
        return sum(info['max_workers'] for info in self.disco.nodeinfo().values())

    @property
    def test_server_address(self):
        return (str(self.settings['DISCO_TEST_HOST']), int(self.settings['DISCO_TEST_PORT']))

    def assertAllEqual(self, results, answers):
        """Compare two iterables item by item, in order, to the end of the longer one."""
        for result, answer in compat.zip_longest(results, answers):
            self.assertEquals(result, answer)

    def assertCommErrorCode(self, code, callable):
        try:
            ret = callable()
        except CommError as e:
            return self.assertEquals(code, e.code)
        except Exception as e:
            raise AssertionError('CommError not raised, got %s' % e)
        raise AssertionError('CommError not raised (expected %d), returned %s' % (code, ret))

    def assertResults(self, job, answers):
        self.assertAllEqual(self.results(job), answers)

    def results(self, job, **kwargs):
        """The records of ``job``'s results, once it has finished."""
        return result_iterator(job.wait(), **kwargs)

    def run(self, result=None):
        self.is_running = True
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, InterruptTest(self))
        try:
            with warnings.catch_warnings():
                # Once per code location, not once per call: Disco-era tests make a
                # deprecated call (e.g. randint with floats) a million times, and a test
                # runner recording every one of them runs out of time and memory.
                warnings.simplefilter('default', DeprecationWarning)
                return super(TestCase, self).run(result)
        finally:
            self.is_running = False

    def setUp(self):
        if hasattr(self, 'serve'):
            self.test_server = TestServer.create(self.test_server_address, self.serve)
            self.test_server.start()

    def tearDown(self):
        if hasattr(self, 'serve') and getattr(self, 'test_server', None) is not None:
            self.test_server.stop()
        if getattr(self, 'job', None) is not None and self.settings['DISCO_TEST_PURGE']:
            self.job.purge()


class TestJob(Job):
    """A ``Job`` profiled when ``DISCO_TEST_PROFILE`` is set (workers read job attributes)."""
    __test__ = False   # not a pytest test class, despite its name

    @property
    def profile(self):
        return bool(self.settings['DISCO_TEST_PROFILE'])


class TestPipe(TestJob):
    """A ``TestJob`` for the pipeline worker; subclasses set the class attribute ``pipeline``."""

    def __init__(self):
        try:
            from discolite.worker.pipeline.worker import Worker
        except ImportError as e:
            raise ImportError('TestPipe needs the pipeline worker (discolite.worker.pipeline), '
                              'which could not be imported: %s' % e)
        super(TestPipe, self).__init__(worker=Worker())


class TestLoader(unittest.TestLoader):
    """Gives every ``TestCase`` class it loads these settings."""
    __test__ = False

    def __init__(self, settings):
        super(TestLoader, self).__init__()
        self.settings = settings

    def loadTestsFromTestCase(self, testCaseClass):
        if issubclass(testCaseClass, TestCase):
            testCaseClass.settings = self.settings
        return super(TestLoader, self).loadTestsFromTestCase(testCaseClass)


class TestRunner(unittest.TextTestRunner):
    """Runs tests by dotted name, verbosity from ``DISCO_DEBUG`` (off, log, trace)."""
    __test__ = False

    def __init__(self, settings):
        debug_levels = {'off': 0, 'log': 1, 'trace': 2}
        super(TestRunner, self).__init__(verbosity=debug_levels[settings['DISCO_DEBUG']])
        self.settings = settings

    def run(self, *names):
        suite = TestLoader(self.settings).loadTestsFromNames(names)
        return super(TestRunner, self).run(suite)



def main(argv=None):
    """``python -m discolite.test NAME...``: Disco's ``disco test`` for test modules (dotted
    names, found from the current directory) with ``disco`` aliased to discolite."""
    import sys
    from discolite import alias
    names = list(sys.argv[1:] if argv is None else argv)
    if not names:
        sys.stderr.write('usage: python -m discolite.test TEST_MODULE[.Class[.method]]...\n')
        return 2
    alias.install()
    sys.path.insert(0, os.getcwd())
    # The test modules import discolite.test, not this __main__ copy of it.
    from discolite import test as harness
    result = harness.TestRunner(DiscoSettings()).run(*names)
    return 0 if result.wasSuccessful() else 1


if __name__ == '__main__':
    raise SystemExit(main())
