"""How a ``Disco`` client reaches a master.

A :class:`Transport` turns a :class:`Request` into a :class:`Response`.
:class:`~discolite.transport.local.LocalTransport` hands it straight to an
in-process master's endpoint table; :class:`~discolite.transport.http.HTTPTransport`
sends it over HTTP to a ``discolite master`` or a real Disco master, which
serve the same table.  Both paths therefore run the same master code.
"""
from urllib.parse import parse_qsl, urlsplit


class Request(object):
    """A request to a master: ``url`` is the path and query (``/disco/...?name=...``)."""

    def __init__(self, method, url, body=None, headers=None):
        self.method = method
        self.url = url
        self.body = body
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        parts = urlsplit(url)
        self.path = parts.path
        self.query = dict(parse_qsl(parts.query, keep_blank_values=True))

    def __repr__(self):
        return '<Request %s %s>' % (self.method, self.url)


class Response(object):
    """A master's answer; ``body`` is always bytes (a str is UTF-8 encoded)."""

    def __init__(self, status=200, body=b'', content_type='application/json', headers=None):
        self.status = status
        self.body = body if isinstance(body, bytes) else body.encode('utf-8')
        self.headers = dict(headers or {})
        if content_type is not None:  # None: no Content-Type (Disco's DDFS error answers)
            self.headers.setdefault('Content-Type', content_type)

    def __repr__(self):
        return '<Response %d %d bytes>' % (self.status, len(self.body))


class Transport(object):
    """Turns a :class:`Request` into a :class:`Response`."""

    def handle(self, request):
        raise NotImplementedError

    def close(self):
        pass


def transport_for(master, settings=None):
    """The transport for a master URL: ``local://`` in process, ``http(s)://`` over HTTP."""
    if master.startswith('local://'):
        from discolite.transport.local import LocalTransport
        return LocalTransport.for_url(master)
    from discolite.transport.http import HTTPTransport
    return HTTPTransport(master, settings=settings)
