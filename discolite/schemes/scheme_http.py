"""``http://`` and ``https://`` inputs: one streaming GET each (chunked transfer works).

A plain ``http://`` GET goes through :mod:`http.client` on a keep-alive connection that
the process keeps, one idle connection per server, for its next GET there: a job of
many small inputs from one server (Disco's ``test_50k``: 50,000) then costs a TCP
connection per worker process instead of one per input.  A connection goes back only
once its response has been read to the end and the server did not ask to close it; a
kept connection the server has closed in the meantime is replaced by a fresh one
(once, before anything of the response was read).  ``https://``, URLs with a proxy
configured for them, and redirects go through urllib as before.
"""
import http.client
import io
import os
import socket
import sys
import threading
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from discolite.error import CommError

# A body up to this size (with a Content-Length) is read at once: the connection is
# free again before the task reads its first line, and lines come from a BytesIO.
SMALL_BODY = 1 << 20
BUFFER_SIZE = 1024 * 1024
_USER_AGENT = 'Python-urllib/%d.%d' % sys.version_info[:2]   # what urllib sends

_idle = {}            # (host, port) -> (pid, HTTPConnection): the kept connections
_idle_lock = threading.Lock()


class _Raw(io.RawIOBase):
    """Raw reader over an HTTP response, converting failures into CommError."""

    def __init__(self, resp, url):
        super().__init__()
        self._resp = resp
        self.url = url

    def readable(self):
        return True

    def readinto(self, b):
        try:
            return self._resp.readinto(b)
        except Exception as e:
            raise CommError("Read failed: %s" % e, self.url, None)

    def close(self):
        if not self.closed:
            try:
                self._resp.close()
            finally:
                super().close()


class HTTPFile(object):
    """A read-only streaming view of an HTTP GET: ``read(n)``, ``readline()`` and line iteration.

    HTTP error statuses raise CommError with ``.code``; connection failures CommError code None.
    """

    def __init__(self, url, headers=None, timeout=None):
        self.url = url
        self._conn = None   # the kept-alive connection while the body is being read
        self._resp = None
        target = _pooled_target(url)
        resp = None
        if target is not None:
            resp = self._get(target, url, headers, timeout)
        if resp is None:   # not for the pooled client, or a redirect: urllib does it
            resp = _urlopen(url, headers, timeout)
        length = resp.headers.get('Content-Length')
        self.size = int(length) if length and length.isdigit() else None
        self.headers = resp.headers
        if self._conn is not None and self.size is not None and self.size <= SMALL_BODY:
            try:
                body = resp.read()
            except Exception as e:
                self._discard()
                raise CommError("Read failed: %s" % e, url, None)
            self._release()
            self._buf = io.BytesIO(body)
            return
        self._resp = resp
        size = self.size if self.size is not None else BUFFER_SIZE
        self._buf = io.BufferedReader(_Raw(resp, url), max(8192, min(BUFFER_SIZE, size)))

    def _get(self, target, url, headers, timeout):
        """The response to a GET on a kept or new connection; None for a redirect."""
        host, port, path = target
        request_headers = {'User-Agent': _USER_AGENT}
        request_headers.update(headers or {})
        timeout = socket._GLOBAL_DEFAULT_TIMEOUT if timeout is None else timeout
        conn = _take(host, port, timeout)
        while True:
            reused = conn is not None
            if conn is None:
                conn = http.client.HTTPConnection(host, port, timeout=timeout)
            self._conn = conn
            try:
                conn.request('GET', path, headers=request_headers)
                resp = conn.getresponse()
                break
            except (http.client.HTTPException, OSError) as e:
                self._discard()
                # A kept connection may have been closed by the server since its last
                # answer: that is no failure of this GET, which a new connection retries.
                if reused and isinstance(e, (ConnectionError, http.client.BadStatusLine,
                                             http.client.CannotSendRequest)):
                    conn = None
                    continue
                raise CommError(str(e) or type(e).__name__, url, None)
            except BaseException:
                self._discard()
                raise
        if 200 <= resp.status < 300:
            return resp
        self._discard()   # an error or a redirect: its body is not worth keeping the connection
        resp.close()
        if 300 <= resp.status < 400 and resp.getheader('Location'):
            return None
        raise CommError(str(resp.reason or 'HTTP error'), url, resp.status)

    def _release(self):
        """Keep the connection for the next GET (its response has been read to the end)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            if conn.sock is None:   # the server said it closes it
                conn.close()
            else:
                _give(conn)

    def _discard(self):
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    @property
    def closed(self):
        return self._buf.closed

    def read(self, n=-1):
        return self._buf.read(n)

    def read1(self, n=-1):
        return self._buf.read1(n)

    def readline(self, limit=-1):
        return self._buf.readline(limit)

    def readable(self):
        return True

    def __iter__(self):
        return iter(self._buf)  # its lines, read by the buffer itself (no frame per line)

    def close(self):
        resp, self._resp = self._resp, None
        # Read to the end (what is left may still be in our buffer, not in the socket)?
        # Asked before closing the buffer, which closes the response.
        done = resp is not None and resp.isclosed() and not resp.will_close
        self._buf.close()
        if done:
            self._release()
        else:
            self._discard()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _pooled_target(url):
    """``(host, port, path)`` of an ``http://`` URL the kept connections can serve, else
    None: other schemes, credentials in the URL, or a proxy urllib would use."""
    try:
        parts = urlsplit(url)
        if parts.scheme != 'http' or '@' in parts.netloc or not parts.hostname:
            return None
        port = parts.port or 80
    except ValueError:
        return None   # urllib reports it
    if _proxy_variables():
        proxies = urllib.request.getproxies()
        if proxies.get('http') and not urllib.request.proxy_bypass(parts.hostname):
            return None
    path = parts.path or '/'
    if parts.query:
        path += '?' + parts.query
    return parts.hostname, port, path


def _proxy_variables():
    """Whether the environment has a ``*_proxy`` variable (of any case), as urllib reads
    them: a few us, where ``urllib.request.getproxies()`` costs ~130 us for every input."""
    environ = getattr(os, 'environb', None)
    if environ is None:
        return b'_proxy\0' in ('\0'.join(os.environ) + '\0').lower().encode('utf-8', 'replace')
    return b'_proxy\0' in (b'\0'.join(environ) + b'\0').lower()


def _take(host, port, timeout):
    """The connection kept for ``(host, port)`` (removed from the pool), or None."""
    with _idle_lock:
        kept = _idle.pop((host, port), None)
    if kept is None:
        return None
    pid, conn = kept
    if pid != os.getpid():
        # Inherited through fork: closing our copy of the socket leaves the parent's open.
        conn.close()
        return None
    if conn.timeout != timeout:
        conn.timeout = timeout
        conn.sock.settimeout(None if timeout is socket._GLOBAL_DEFAULT_TIMEOUT
                             else timeout)
    return conn


def _give(conn):
    """Keep ``conn`` (its response fully read) for the next GET to its server."""
    with _idle_lock:
        old = _idle.get((conn.host, conn.port))
        _idle[(conn.host, conn.port)] = (os.getpid(), conn)
    if old is not None and old[0] == os.getpid():
        old[1].close()


def close_idle():
    """Close the connections kept for later GETs (e.g. before a process exits)."""
    with _idle_lock:
        kept = list(_idle.values())
        _idle.clear()
    for pid, conn in kept:
        if pid == os.getpid():
            conn.close()


def _urlopen(url, headers, timeout):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        if timeout is None:
            return urllib.request.urlopen(req)
        return urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        try:
            e.close()
        except Exception:
            pass
        raise CommError(str(e.reason or 'HTTP error'), url, e.code)
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as e:
        raise CommError(str(getattr(e, 'reason', e)), url, None)


def open(url, task=None):
    """GET ``url`` and return an :class:`HTTPFile`."""
    return HTTPFile(url)


def input_stream(fd, size, url, params):
    """Input stream: ``(HTTPFile, content_length_or_None, url)``."""
    f = HTTPFile(url)
    return f, f.size, url
