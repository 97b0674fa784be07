"""The HTTP transport: talks to a ``discolite master`` or a real Disco master."""
import http.client
import random
import time
import urllib.error
import urllib.request

from discolite.error import CommError
from discolite.transport import Response, Transport


class HTTPTransport(Transport):
    RETRIES = 10

    def __init__(self, master, settings=None, proxy=None, timeout=None, retries=None):
        self.master = master.rstrip('/')
        self.proxy = proxy
        self.timeout = timeout
        self.retries = self.RETRIES if retries is None else retries

    def handle(self, request):
        base = self.proxy.rstrip('/') if self.proxy else self.master
        url = base + request.url
        headers = dict(request.headers)
        body = request.body
        if body is not None and 'content-type' not in headers:
            headers['content-type'] = 'application/json'
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(url, data=body, headers=headers, method=request.method)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return Response(resp.status, resp.read(),
                                    resp.headers.get('Content-Type', ''), dict(resp.headers))
            except urllib.error.HTTPError as e:
                if e.code == 503 and attempt < self.retries:
                    time.sleep(min(random.uniform(0.1, 2 ** attempt * 0.1), 5))
                    continue
                return Response(e.code, e.read() or b'', e.headers.get('Content-Type', ''),
                                dict(e.headers or {}))
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError,
                    TimeoutError, OSError) as e:
                if attempt < min(self.retries, 2):
                    time.sleep(0.05 * (attempt + 1))
                    continue
                reason = getattr(e, 'reason', e)
                raise CommError("%s (is disco master running at %s?)" % (reason, self.master),
                                url, None)
