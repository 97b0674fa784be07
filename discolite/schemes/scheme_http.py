"""``http://`` and ``https://`` inputs, streamed with urllib (chunked transfer works)."""
import io
import urllib.error
import urllib.request

from discolite.error import CommError


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
        req = urllib.request.Request(url, headers=headers or {})
        try:
            if timeout is None:
                resp = urllib.request.urlopen(req)
            else:
                resp = urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as e:
            try:
                e.close()
            except Exception:
                pass
            raise CommError(str(e.reason or 'HTTP error'), url, e.code)
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise CommError(str(getattr(e, 'reason', e)), url, None)
        length = resp.headers.get('Content-Length')
        self.size = int(length) if length and length.isdigit() else None
        self.headers = resp.headers
        self._buf = io.BufferedReader(_Raw(resp, url), 1024 * 1024)

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
        self._buf.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open(url, task=None):
    """GET ``url`` and return an :class:`HTTPFile`."""
    return HTTPFile(url)


def input_stream(fd, size, url, params):
    """Input stream: ``(HTTPFile, content_length_or_None, url)``."""
    f = HTTPFile(url)
    return f, f.size, url
