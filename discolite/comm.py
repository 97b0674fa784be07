"""HTTP and local file access for clients and tasks (``disco.comm``).

``download(url)`` fetches a body, ``upload(urls, source)`` PUTs one body to several
URLs, ``open_url(url)`` opens a local path or ``file://`` URL as a :class:`File`
(an ``io.FileIO``) and any other URL as a :class:`Connection`, a file-like object
that reads the resource with ranged GETs.  Statuses other than 2xx raise
``CommError(body, url, status)``; 3xx are followed; 503 answers and connection
failures are retried with a growing random sleep, as in Disco (how often follows
discolite's ``DISCOLITE_HTTP_RETRIES`` / ``DISCOLITE_HTTP_CONNECT_RETRIES`` /
``DISCOLITE_HTTP_RETRY_SLEEP`` settings, see ``transport.http``).

pycurl is never used (``nocurl`` is always true): ``disco.comm_pycurl`` has no
discolite counterpart.  Standard library only: tasks import this module.
"""
import base64
import http.client
import io
import os
import random
import time
from urllib.parse import urljoin as _urljoin
from urllib.parse import urlsplit as _urlsplit

from discolite.compat import BytesIO, basestring, file, httplib, str_to_bytes  # noqa: F401
from discolite.error import CommError
from discolite.settings import DiscoSettings
from discolite.util import iterify  # noqa: F401

BUFFER_SIZE = 1024 * 1024
CHUNK_SIZE = 10 * 1024 * 1024
TIMEOUT = 120   # seconds without progress on one connection

settings = DiscoSettings()
nocurl = True
HTTPConnection = http.client.HTTPConnection


def isredirection(status):
    return 300 <= int(status) < 400


def issuccessful(status):
    return 200 <= int(status) < 300


def isunavailable(status):
    return int(status) == 503


def range_header(offset):
    """``{'Range': 'bytes=a-b'}`` from ``a`` or ``(a, b)``; ``{}`` for no offset."""
    def httprange(start='', end=''):
        return '%s-%s' % (start, end)
    if offset:
        if isinstance(offset, (tuple, list)):
            return {'Range': 'bytes=%s' % httprange(*offset)}
        return {'Range': 'bytes=%s' % httprange(offset)}
    return {}


def auth_header(token):
    """Basic authentication with user ``token`` and the token as password, or ``{}``."""
    if token:
        return {'Authorization': b'Basic ' + base64.b64encode(str_to_bytes('token:%s' % token))}
    return {}


def resolveuri(baseuri, uri):
    """A redirect location resolved against the URL of the request."""
    return _urljoin(baseuri, uri)


def _retries(key, default):
    try:
        value = settings.get(key)
        return default if value in (None, '') else type(default)(value)
    except (TypeError, ValueError, KeyError):
        return default


def _connection(url):
    parts = _urlsplit(url)
    if parts.scheme not in ('http', 'https'):
        raise CommError("Unsupported URL scheme %r (disco.comm speaks HTTP)" % parts.scheme,
                        url)
    cls = http.client.HTTPSConnection if parts.scheme == 'https' else HTTPConnection
    path = parts.path or '/'
    if parts.query:
        path += '?' + parts.query
    return cls(parts.netloc, timeout=TIMEOUT), path


def _body(data):
    if data is None:
        return None
    if isinstance(data, str):
        return data.encode('utf-8')
    return data


def request(method, url, data=None, headers={}, sleep=0):
    """One HTTP request, returning the (unread) response of a 2xx answer."""
    retries = _retries('DISCOLITE_HTTP_RETRIES', 10)
    connect_retries = _retries('DISCOLITE_HTTP_CONNECT_RETRIES', 3)
    first_sleep = _retries('DISCOLITE_HTTP_RETRY_SLEEP', 0.5)
    redirects = 0
    attempt = 0
    while True:
        conn, path = _connection(url)
        try:
            if hasattr(data, 'seek'):
                data.seek(0)
            conn.request(method, path, body=_body(data), headers=dict(headers))
            response = conn.getresponse()
            status = response.status
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            attempt += 1
            refused = isinstance(e, ConnectionRefusedError)
            if attempt > connect_retries or (method == 'POST' and not refused):
                raise CommError("%s: %s" % (type(e).__name__, e), url)
            time.sleep(min(10, random.uniform(0.5, 1.0) * first_sleep * 2 ** attempt))
            continue
        if isunavailable(status) and attempt < retries:
            response.read()
            conn.close()
            attempt += 1
            time.sleep(min(10, random.uniform(0.5, 1.0) * first_sleep * 2 ** attempt))
            continue
        if isredirection(status) and response.getheader('location') and redirects < 10:
            response.read()
            conn.close()
            redirects += 1
            url = resolveuri(url, response.getheader('location'))
            continue
        if not issuccessful(status):
            body = response.read()
            conn.close()
            raise CommError(body.decode('utf-8', 'replace'), url, status)
        return response


def download(url, method='GET', data=None, offset=(), token=None, sleep=0):
    """The body of ``url`` (bytes); a POST when ``data`` is given."""
    method = 'POST' if data is not None else method
    headers = dict(range_header(offset))
    headers.update(auth_header(token))
    return request(method, url, data=data, headers=headers, sleep=sleep).read()


def upload(urls, source, token=None, **kwargs):
    """PUT the body ``source`` (a path or a file object) to every URL; the answers' bodies."""
    source = FileSource(source)
    headers = dict(auth_header(token))
    bodies = []
    for url in iterify(urls):
        data = source.makefile()
        headers['Content-Length'] = str(len(source))
        bodies.append(request('PUT', url, data=data, headers=headers).read())
    return bodies


def open_url(url, *args, **kwargs):
    """A local path or ``file://`` URL as a :class:`File`, anything else as a :class:`Connection`."""
    if '://' not in url or url.startswith('file://'):
        return open_local(url[len('file://'):] if url.startswith('file://') else url)
    return open_remote(url, *args, **kwargs)


def open_local(path):
    return File(path)


def open_remote(url, token=None):
    return Connection(url, token)


class FileSource(object):
    """A request body from a path or a file object: ``len()`` and ``read``."""

    def __init__(self, source):
        self.source = source
        if isinstance(source, (str, bytes, os.PathLike)):
            self.size = os.path.getsize(source)
        else:
            pos = source.tell()
            source.seek(0, os.SEEK_END)
            self.size = source.tell() - pos
            source.seek(pos)
        self.start = None if isinstance(source, (str, bytes, os.PathLike)) else source.tell()

    def __len__(self):
        return self.size

    def makefile(self):
        """The body, rewound, for one request."""
        if self.start is None:
            with open(self.source, 'rb') as f:
                return BytesIO(f.read())
        self.source.seek(self.start)
        return BytesIO(self.source.read())

    def read(self, size=-1):
        if self.start is None:
            self.source = open(self.source, 'rb')
            self.start = 0
        return self.source.read(size)


class File(io.FileIO):
    """A local file opened for binary reading, with ``len()`` (its size) and ``url``.

    An ``io.FileIO`` (``isinstance(f, disco.compat.file)`` holds, as on Disco); line
    iteration and ``readline`` read ahead in large blocks instead of FileIO's byte
    at a time, and ``read``/``tell``/``seek`` take that read-ahead into account.
    """
    READ_AHEAD = 1024 * 1024

    def __init__(self, name, mode='r', **kwargs):
        super(File, self).__init__(name, mode, **kwargs)
        self.url = 'file://%s' % os.path.abspath(name)
        self._ahead = b''

    def __len__(self):
        return os.fstat(self.fileno()).st_size

    def read(self, size=-1):
        ahead = self._ahead
        if not ahead:
            return io.FileIO.read(self, size)
        if size is None or size < 0:
            self._ahead = b''
            return ahead + (io.FileIO.read(self) or b'')
        if size <= len(ahead):
            self._ahead = ahead[size:]
            return ahead[:size]
        self._ahead = b''
        return ahead + (io.FileIO.read(self, size - len(ahead)) or b'')

    def readline(self, size=-1):
        while True:
            ahead = self._ahead
            nl = ahead.find(b'\n')
            if nl >= 0 and (size is None or size < 0 or nl < size):
                self._ahead = ahead[nl + 1:]
                return ahead[:nl + 1]
            if size is not None and 0 <= size <= len(ahead):
                self._ahead = ahead[size:]
                return ahead[:size]
            chunk = io.FileIO.read(self, self.READ_AHEAD)
            if not chunk:
                self._ahead = b''
                return ahead
            self._ahead = ahead + chunk

    def __iter__(self):
        return self._lines()

    def _lines(self):
        while True:
            ahead = self._ahead
            nl = ahead.rfind(b'\n')
            if nl < 0:
                chunk = io.FileIO.read(self, self.READ_AHEAD)
                if not chunk:
                    self._ahead = b''
                    if ahead:
                        yield ahead
                    return
                self._ahead = ahead + chunk
                continue
            self._ahead = ahead[nl + 1:]
            for line in ahead[:nl].split(b'\n'):
                yield line + b'\n'

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def readlines(self, hint=-1):
        return list(self._lines())

    def tell(self):
        return io.FileIO.tell(self) - len(self._ahead)

    def seek(self, pos, whence=0):
        if whence == 1:
            pos -= len(self._ahead)
        self._ahead = b''
        return io.FileIO.seek(self, pos, whence)


class Connection(object):
    """A remote resource read as a file, ``CHUNK_SIZE`` bytes per ranged GET.

    The first chunk is fetched when the object is made (so a missing resource fails
    here, and ``len()`` is known).  A server that ignores ``Range`` answers with the
    whole body, which is then read from memory.
    """

    def __init__(self, url, token=None):
        self.url = url
        self.token = token
        self.pos = 0
        self.buf = b''
        self.buf_start = 0
        self.length = None
        self._fetch(0)

    def _fetch(self, start):
        headers = dict(range_header((start, start + CHUNK_SIZE - 1)))
        headers.update(auth_header(self.token))
        try:
            response = request('GET', self.url, headers=headers)
        except CommError as e:
            if e.code == 416:    # nothing at start: an empty resource (or past the end)
                self.buf, self.buf_start = b'', start
                if self.length is None:
                    self.length = start
                return
            raise
        body = response.read()
        if response.status == 206:
            content_range = response.getheader('content-range') or ''
            total = content_range.rsplit('/', 1)[-1]
            self.length = int(total) if total.isdigit() else None
            self.buf, self.buf_start = body, start
            if self.length is None and len(body) < CHUNK_SIZE:
                self.length = start + len(body)
        else:
            self.buf, self.buf_start = body, 0
            self.length = len(body)

    def _available(self):
        if not self.buf_start <= self.pos < self.buf_start + len(self.buf):
            if self.length is not None and self.pos >= self.length:
                return b''
            self._fetch(self.pos)
        return self.buf[self.pos - self.buf_start:]

    def __len__(self):
        return self.length or 0

    def read(self, size=-1):
        parts = []
        while size is None or size < 0 or size > 0:
            data = self._available()
            if not data:
                break
            if size is not None and size >= 0:
                data = data[:size]
                size -= len(data)
            parts.append(data)
            self.pos += len(data)
        return b''.join(parts)

    def __iter__(self):
        line = b''
        while True:
            data = self._available()
            if not data:
                break
            pieces = (line + data).split(b'\n')
            line = pieces.pop()
            self.pos += len(data)
            for piece in pieces:
                yield piece + b'\n'
        if line:
            yield line

    def tell(self):
        return self.pos

    def seek(self, pos, mode=0):
        if mode == 0:
            self.pos = pos
        elif mode == 1:
            self.pos += pos
        else:
            self.pos = len(self) + pos

    def close(self):
        pass

