"""The HTTP transport: talks to a ``discolite master`` or a real Disco master.

As Disco's ``Disco.request``: the request goes to ``master + path`` (through
``DISCO_PROXY`` when one is set, with ``util.proxy_url``'s rules: only for
``http`` URLs without a ``.``), redirects are followed, HTTP 503 and connection
failures are retried with a growing random sleep, and a connection failure
that persists raises ``CommError`` (code ``None``) whose message ends with
`` (is disco master running at <master>?)``.  Other statuses are returned as
they are; ``core.Disco.request`` raises ``CommError`` with the status.

Retries are configurable (tests keep them short):

* ``DISCOLITE_HTTP_RETRIES`` (default 10): retries of a 503 answer;
* ``DISCOLITE_HTTP_CONNECT_RETRIES`` (default 3): retries when nothing answers.
  Disco retries those 10 times with sleeps of up to ``2**n`` seconds, which
  makes a typo in the master URL hang for many minutes; discolite gives up
  sooner.  A POST is retried only when the connection was refused, so a
  job pack is never submitted twice;
* ``DISCOLITE_HTTP_RETRY_SLEEP`` (default 0.5 s): the first sleep; it doubles
  per attempt (randomised, at most 10 s).

Timeouts (Disco's client sets none, so a dead or silent master hangs it):

* ``DISCOLITE_HTTP_CONNECT_TIMEOUT`` (default 10 s) to open a connection;
* ``DISCOLITE_HTTP_READ_TIMEOUT`` (default 120 s) for each read of the answer; a
  ``get_results`` poll adds the wait it asks the master for, so long polls work.
"""
import http.client
import json
import os
import random
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import quote, urlsplit

from discolite.error import CommError
from discolite.transport import Response, Transport


def _setting(settings, key, default, cast):
    value = None
    if settings is not None:
        try:
            value = settings.get(key)
        except Exception:
            value = None
    if value in (None, ''):
        return default
    try:
        return cast(value)
    except (TypeError, ValueError):
        return default


_URL_UNSAFE = re.compile(r'[^\x21-\x7e]+')


class _NoProxyHandler(urllib.request.ProxyHandler):
    """Ignore http_proxy & co: DISCO_PROXY is the only proxy a Disco client uses."""

    def __init__(self):
        urllib.request.ProxyHandler.__init__(self, {})


class _Timeouts(object):
    """Connections that connect within ``connect_timeout`` seconds, then read with the
    request's own timeout (urllib has a single timeout for both)."""

    def __init__(self, *args, connect_timeout=None, **kwargs):
        self.connect_timeout = connect_timeout
        super().__init__(*args, **kwargs)

    def connect(self):
        read_timeout = self.timeout
        if self.connect_timeout is not None:
            self.timeout = self.connect_timeout
        try:
            super().connect()
        finally:
            self.timeout = read_timeout
        self.sock.settimeout(read_timeout)


class _HTTPConnection(_Timeouts, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_Timeouts, http.client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_HTTPConnection, req,
                            connect_timeout=getattr(req, 'connect_timeout', None))


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_HTTPSConnection, req, context=self._context,
                            connect_timeout=getattr(req, 'connect_timeout', None))


_opener = urllib.request.build_opener(_NoProxyHandler(), _HTTPHandler(), _HTTPSHandler())


_KEPT = threading.local()


def _kept_connections():
    """This thread's kept-alive connections, ``{netloc: HTTPConnection}``, shared by every
    transport (the DDFS client makes one per request); a forked child starts afresh
    rather than talk on its parent's sockets."""
    pid = os.getpid()
    if getattr(_KEPT, 'pid', None) != pid:
        _KEPT.pid = pid
        _KEPT.conns = {}
    return _KEPT.conns


def _early_answer(conn, method):
    """The answer a server sent before it closed a connection we were still sending a
    body on (the master's 503 for a big body it will not read now), or None: without
    it the client would report a broken pipe instead of retrying the 503."""
    if conn.sock is None:
        return None
    try:
        resp = http.client.HTTPResponse(conn.sock, method=method)
        resp.begin()
        return resp
    except (OSError, http.client.HTTPException):
        return None


class HTTPTransport(Transport):
    RETRIES = 10
    CONNECT_RETRIES = 3
    RETRY_SLEEP = 0.5
    MAX_SLEEP = 10.0
    CONNECT_TIMEOUT = 10.0
    READ_TIMEOUT = 120.0

    def __init__(self, master, settings=None, proxy=None, timeout=None, retries=None,
                 connect_retries=None, retry_sleep=None, connect_timeout=None):
        self.master = master.rstrip('/')
        self.proxy = proxy or None
        self.timeout = timeout if timeout is not None else \
            _setting(settings, 'DISCOLITE_HTTP_READ_TIMEOUT', self.READ_TIMEOUT, float)
        self.connect_timeout = connect_timeout if connect_timeout is not None else \
            _setting(settings, 'DISCOLITE_HTTP_CONNECT_TIMEOUT', self.CONNECT_TIMEOUT, float)
        self.retries = retries if retries is not None else \
            _setting(settings, 'DISCOLITE_HTTP_RETRIES', self.RETRIES, int)
        self.connect_retries = connect_retries if connect_retries is not None else \
            _setting(settings, 'DISCOLITE_HTTP_CONNECT_RETRIES', self.CONNECT_RETRIES, int)
        self.retry_sleep = retry_sleep if retry_sleep is not None else \
            _setting(settings, 'DISCOLITE_HTTP_RETRY_SLEEP', self.RETRY_SLEEP, float)

    def __repr__(self):
        return '<HTTPTransport %s%s>' % (self.master,
                                         ' via %s' % self.proxy if self.proxy else '')

    def _kept(self, url, method, headers, body, timeout):
        """Send the request over this thread's kept-alive connection to the URL's host (a
        connection costs the client ~0.5 ms and the server a thread); None when no
        connection can be made, for urllib's way to retry and report.

        A kept connection the server has closed meanwhile (its idle timeout) fails before
        the server reads anything: the request goes once more on a new connection."""
        conns = _kept_connections()
        parts = urlsplit(url)
        netloc = parts.netloc
        path = url[len('http://') + len(netloc):] or '/'
        conn = conns.get(netloc)
        reused = conn is not None
        if conn is None:
            try:
                conn = http.client.HTTPConnection(parts.hostname, parts.port or 80,
                                                  timeout=self.connect_timeout)
                conn.connect()
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except (OSError, ValueError, http.client.HTTPException):
                conn.close() if conn is not None else None
                return None
            conns[netloc] = conn
        try:
            conn.sock.settimeout(timeout)
            try:
                conn.request(method, path, body=body,  # names written as urllib writes them
                             headers={k.title(): v for k, v in headers.items()})
            except (BrokenPipeError, ConnectionResetError):
                resp = _early_answer(conn, method)
                if resp is None:
                    raise
            else:
                resp = conn.getresponse()
            data = resp.read()
        except BaseException as e:
            conn.close()
            conns.pop(netloc, None)
            if reused and isinstance(e, (http.client.RemoteDisconnected, ConnectionResetError,
                                         BrokenPipeError, ConnectionAbortedError)):
                return self._kept(url, method, headers, body, timeout)
            if isinstance(e, (socket.timeout, TimeoutError)):
                raise CommError("no answer within %g s (setting DISCOLITE_HTTP_READ_TIMEOUT) "
                                "(is disco master running at %s?)" % (timeout, self.master),
                                url, None)
            if isinstance(e, (http.client.HTTPException, OSError)):
                raise CommError("%s (is disco master running at %s?)" % (e, self.master),
                                url, None)
            raise
        if resp.will_close:
            conn.close()
            conns.pop(netloc, None)
        return Response(resp.status, data, resp.headers.get('Content-Type', ''),
                        dict(resp.headers))

    def close(self):
        """Close this thread's kept connection to the master."""
        conn = _kept_connections().pop(urlsplit(self.master).netloc, None)
        if conn is not None:
            conn.close()

    def url_for(self, request):
        """The URL a request goes to: ``master + path``, rewritten for DISCO_PROXY.  Characters
        HTTP cannot carry in a request line (non-ASCII, spaces, controls) are %-encoded, so a
        name the master must refuse reaches it and gets its 4xx."""
        url = _URL_UNSAFE.sub(lambda m: quote(m.group(0), safe=''), self.master + request.url)
        if self.proxy:
            from discolite.util import proxy_url
            url = proxy_url(url, proxy=self.proxy, meth=request.method, to_master=True)
        return url

    def _sleep(self, attempt):
        delay = min(self.retry_sleep * (2 ** attempt), self.MAX_SLEEP)
        time.sleep(random.uniform(delay / 2, delay) if delay > 0 else 0)

    def _read_timeout(self, request):
        """The read timeout, plus the wait a ``get_results`` poll asks the master for."""
        timeout = self.timeout
        if timeout and request.url.startswith('/disco/ctrl/get_results') and request.body:
            try:
                wait = json.loads(request.body)[0]
                if isinstance(wait, (int, float)) and 0 < wait < 1e10:
                    timeout += wait / 1000.0
            except (ValueError, TypeError, IndexError, KeyError):
                pass
        return timeout

    def handle(self, request):
        url = self.url_for(request)
        headers = dict(request.headers)
        body = request.body
        if body is not None and 'content-type' not in headers:
            headers['content-type'] = 'application/json'
        timeout = self._read_timeout(request)
        attempt = 0
        if url.startswith('http://'):
            while True:
                answer = self._kept(url, request.method, headers, body, timeout)
                if answer is None:
                    break  # no connection: urllib's way below retries and words the error
                status = answer.status
                if status == 503 and attempt < self.retries:
                    self._sleep(attempt)
                    attempt += 1
                    continue
                if status in (301, 302, 303, 307, 308) and 'location' in \
                        {k.lower() for k in answer.headers}:
                    break  # urllib follows redirects as Disco's client did
                return answer
        while True:
            req = urllib.request.Request(url, data=body, headers=headers,
                                         method=request.method)
            req.connect_timeout = self.connect_timeout
            try:
                with _opener.open(req, timeout=timeout) as resp:
                    return Response(resp.status, resp.read(),
                                    resp.headers.get('Content-Type', ''), dict(resp.headers))
            except urllib.error.HTTPError as e:
                try:
                    data = e.read() or b''
                except Exception:
                    data = b''
                finally:
                    e.close()
                if e.code == 503 and attempt < self.retries:
                    self._sleep(attempt)
                    attempt += 1
                    continue
                return Response(e.code, data, (e.headers or {}).get('Content-Type', ''),
                                dict(e.headers or {}))
            except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
                reason = getattr(e, 'reason', e)
                refused = isinstance(reason, ConnectionRefusedError)
                if isinstance(reason, (socket.timeout, TimeoutError)):
                    # a master that does not answer in time is not retried: that would
                    # multiply the wait; say which timeout it was
                    reason = 'no answer within %g s (setting %s)' % (
                        (self.connect_timeout, 'DISCOLITE_HTTP_CONNECT_TIMEOUT')
                        if isinstance(e, urllib.error.URLError)  # raised while connecting
                        else (timeout, 'DISCOLITE_HTTP_READ_TIMEOUT'))
                    raise CommError("%s (is disco master running at %s?)"
                                    % (reason, self.master), url, None)
                retryable = refused or (request.method in ('GET', 'HEAD') and
                                        not isinstance(reason, socket.gaierror))
                if retryable and attempt < self.connect_retries:
                    self._sleep(attempt)
                    attempt += 1
                    continue
                raise CommError("%s (is disco master running at %s?)" % (reason, self.master),
                                url, None)
