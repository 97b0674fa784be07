"""Disco's ``/ddfs/...`` HTTP API on the master port, backed by :mod:`ddfs_store`.

Statuses and bodies follow the captures of a real Disco 0.5.4 master
(``shared/disco-captures/ddfs_*``): JSON answers carry
``Content-Type: application/json``, errors no Content-Type, the file-serving
404 is ``text/plain``.  The put port's role (``PUT /ddfs/<prefix>$<ts>``, 201
with the blob URL) is played by the master port itself: ``new_blob`` answers
upload URLs on the port the request came in on, so Disco's client (whatever its
``DDFS_PUT_PORT``) uploads here.
"""
import base64
import binascii
import json
from urllib.parse import unquote

from discolite.master.ddfs_store import DDFSError
from discolite.transport import Response

PREFIX = '/ddfs/'


def _json(value, status=200):
    return Response(status, json.dumps(value, separators=(',', ':')))


def _error(status, body):
    return Response(status, body, None)


def request_token(request):
    """The token of ``Authorization: Basic base64("token:<T>")``; anything else is None."""
    header = request.headers.get('authorization') or ''
    if not header.startswith('Basic '):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode('utf-8')
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not decoded.startswith('token:'):
        return None
    return decoded[len('token:'):]


def handle(master, request, path):
    """Answer a request for ``path`` (decoded, below ``/ddfs/``)."""
    if '\x00' in path:  # no file or tag name can hold one; the OS would refuse it later
        return _error(400, 'Invalid path: a NUL character')
    try:
        return _dispatch(master, request, path[len(PREFIX):])
    except DDFSError as e:
        return _error(e.status, e.body)


def _dispatch(master, request, rest):
    store = master.ddfs
    method = request.method
    token = request_token(request)
    if rest.startswith('tag/'):
        name, _, attr = rest[len('tag/'):].partition('/')
        return _tag(store, request, method, name, attr, token)
    if rest == 'tags' or rest.startswith('tags/'):
        if method not in ('GET', 'HEAD'):
            return _error(501, 'Method not supported')
        return _json(store.list(rest[len('tags/'):] if rest.startswith('tags/') else ''))
    if rest.startswith('new_blob/'):
        if method not in ('GET', 'HEAD'):
            return _error(501, 'Method not supported')
        return _new_blob(master, request, rest[len('new_blob/'):])
    if rest.startswith('ctrl/'):
        return _ctrl(store, request, rest[len('ctrl/'):])
    if '/' not in rest:  # the put port's path
        # the body: bytes, or a file the store copies in chunks (discolite master's
        # BodyReader on the socket, the in-process client's open file)
        if method != 'PUT':
            return _error(501, 'Method not supported')
        url = store.put_blob(rest, request.body or b'')
        return Response(201, json.dumps(url), None, {'content-type': 'application/json'})
    if method not in ('GET', 'HEAD'):
        return _error(501, 'Method not supported')
    return _file(master, request, rest)


def _tag(store, request, method, name, attr, token):
    if method in ('GET', 'HEAD'):
        if attr:
            return _json(store.get_attr(name, attr, token))
        from discolite.master.endpoints import _serve_bytes
        doc = store.get(name, token)
        return _serve_bytes(request, json.dumps(doc, separators=(',', ':')).encode(),
                            'application/json')
    if method == 'DELETE':
        if attr:
            return _json(store.del_attr(name, attr, token))
        return _json(store.delete(name, token))
    if method not in ('POST', 'PUT'):
        return _error(501, 'Method not supported')
    body = request.body or b''
    if attr:
        if method != 'PUT':
            return _error(501, 'Method not supported')
        return _json(store.set_attr(name, attr, body, token))
    from discolite.master.ddfs_store import check_name
    check_name(name)
    try:
        urls = json.loads(body.decode('utf-8'))
    except (ValueError, UnicodeDecodeError):
        raise DDFSError(403, 'Invalid request body.')
    if method == 'PUT':
        return _json(store.update(name, urls, token, replace=True))
    q = request.query
    return _json(store.update(name, urls, token, update=bool(q.get('update'))))


def _new_blob(master, request, prefix):
    store = master.ddfs
    q = request.query
    try:
        replicas = int(q.get('replicas') or 1)
    except ValueError:
        raise DDFSError(403, 'Invalid tag')
    include = [h for h in (q.get('include') or '').split(',') if h]
    exclude = [h for h in (q.get('exclude') or '').split(',') if h]
    if any(h != store.host for h in include):
        raise DDFSError(403, 'Requested Replica not found.')
    if store.host in exclude:
        raise DDFSError(403, 'Not enough nodes for replicas.')
    blob = store.new_blob(prefix, replicas)
    host = request.headers.get('host')
    base = 'http://%s' % host if host else master.url
    return _json([base + PREFIX + blob] * max(replicas, 1))


def _ctrl(store, request, op):
    if op == 'gc_status':
        return _json('')
    if op == 'gc_start':
        return _json('GC has started')
    if op == 'gc_stats':
        return _json('')
    if op == 'safe_gc_blacklist':
        return _json([])
    if op == 'hosted_tags':
        try:
            host = json.loads((request.body or b'""').decode('utf-8'))
        except (ValueError, UnicodeDecodeError):
            raise DDFSError(403, 'Invalid request body.')
        return _json(store.list() if host == store.host else [])
    return Response(404, b'Not found.', 'text/plain')


def _file(master, request, rest):
    """``/ddfs/<path>``: a file of the node's volume (blobs and stored tag versions)."""
    import os
    from discolite.master.endpoints import _serve_bytes
    store = master.ddfs
    rest = unquote(rest)
    target = store.resolve(rest)
    if target is None:
        full = os.path.realpath(os.path.join(store.root, rest))
        if full.startswith(os.path.realpath(store.root)) and os.path.isdir(full):
            return _error(403, 'Forbidden')
        return Response(404, b'Not found.', 'text/plain')
    with open(target, 'rb') as f:
        return _serve_bytes(request, f.read(), 'application/octet-stream')


class StoreTransport(object):
    """Serves ``/ddfs/...`` of an in-process master's data root from another process (a
    task in a pool process: the master object lives in the master's process)."""

    def __init__(self, url):
        import os
        from discolite.master.ddfs_store import DDFSStore
        root = os.path.join(url[len('local://'):], 'ddfs')
        if not os.path.isdir(root):
            from discolite.error import CommError
            raise CommError("No in-process master at %s (no DDFS data there)" % url, url)
        self.url = url
        self.ddfs = DDFSStore(root)

    def handle(self, request):
        path = unquote(request.path)
        if not path.startswith(PREFIX):
            return Response(404, b'Not found.', 'text/plain')
        return handle(self, request, path)

    def close(self):
        pass
