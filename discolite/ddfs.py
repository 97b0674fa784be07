"""``disco.ddfs``: the DDFS client of Disco 0.5.4 (spec: DISCO-SPEC-DDFS.md §5.3, §6-§8).

Works against discolite's in-process master (``local://``), ``discolite master``
and a real Disco master alike: every call is an HTTP-shaped request through
the transport of the master URL, with Disco's token choice (argument, then the
token in the tag URL, then ``DDFS_READ_TOKEN``/``DDFS_WRITE_TOKEN``).  Non-2xx
answers raise :class:`CommError` with the status in ``.code``.
"""
import base64
import json
import os
import random
import re
from io import BytesIO
from urllib.parse import quote, urlencode

from discolite.error import CommError, DiscoError
from discolite.settings import DiscoSettings

_UNSAFE = re.compile(r'[^A-Za-z0-9_\-@:]')
RANGE = 'bytes=0-10485759'  # what Disco's ranged reader asks for first


class InvalidTag(DiscoError):
    """A value that cannot be turned into a ``tag://`` URL (a DiscoError here; Exception on Disco)."""


def canonizetag(tag):
    """``tag://x`` stays; a bare name (no ``://``, no ``/``, not ``-``) becomes ``tag://name``;
    for a list the first element decides; anything else raises InvalidTag."""
    if isinstance(tag, (list, tuple)):
        if not tag:
            raise InvalidTag("Invalid tag: %s" % (tag,))
        return canonizetag(tag[0])
    if isinstance(tag, str):
        if tag.startswith('tag://'):
            return tag
        if '://' not in tag and '/' not in tag and tag != '-' and tag:
            return 'tag://{0}'.format(tag)
    raise InvalidTag("Invalid tag: %s" % (tag,))


def canonizetags(tags):
    from discolite.util import iterify
    return [canonizetag(tag) for tag in iterify(tags)]


def istag(tag):
    """The canonical ``tag://`` form of ``tag``, or None (never raises)."""
    try:
        return canonizetag(tag)
    except InvalidTag:
        return None


def _split(tag):
    """``(auth, host, name)`` of a canonical tag URL ``tag://[auth@][host/]name``."""
    rest = canonizetag(tag)[len('tag://'):]
    if '/' in rest:
        netloc, name = rest.split('/', 1)
    else:
        netloc, name = '', rest
    auth, host = '', netloc
    if '@' in netloc:
        auth, host = netloc.split('@', 1)
    return auth, host, name


def tagname(tag):
    """The name part of a tag URL (without token or host)."""
    return _split(tag)[2]


def relativizetag(tag, parent):
    """``tag://<netloc of tag, else of parent>/<name>`` (an empty netloc still counts, as in
    Disco under Python 3: ``tag:///name``)."""
    rest = canonizetag(tag)[len('tag://'):]
    if '/' in rest:
        return canonizetag(tag)
    prest = canonizetag(parent)[len('tag://'):]
    netloc = prest.split('/', 1)[0] if '/' in prest else ''
    return 'tag://{0}/{1}'.format(netloc, tagname(tag))


def urltoken(url):
    """The token Disco derives from a URL: in ``scheme://auth@...`` (up to the first ``/``),
    the part of ``auth`` after its first ``:`` up to the next ``:`` (all of it without ``:``).
    A canonical ``tag://NAME`` has no ``/``, so a name with ``@`` yields a token too
    (``disco:job:oob:Job@1:2:3`` -> ``job``)."""
    if not isinstance(url, str) or '://' not in url:
        return None
    netloc = url.split('://', 1)[1].split('/', 1)[0]
    if '@' not in netloc:
        return None
    auth = netloc.split('@', 1)[0]
    return auth.split(':')[1] if ':' in auth else auth


def _q(name):
    """A name as it goes into a URL path: valid DDFS names unchanged, anything else
    percent-encoded, so the master (not the HTTP library) refuses it."""
    return quote(name, safe='@:')


class BlobReader(object):
    """An open blob (``pull``): ``read()``, ``len()``, ``url``."""

    def __init__(self, url, data):
        self.url = url
        self._data = BytesIO(data)
        self.size = len(data)

    def read(self, n=-1):
        return self._data.read(n)

    def __len__(self):
        return self.size

    def __iter__(self):
        return iter(self._data)

    def close(self):
        self._data.close()


class DDFS(object):
    """A client of the DDFS of one master (``DDFS()``, ``DDFS('http://host:8989')``)."""

    def __init__(self, master=None, proxy=None, settings=None):
        self.settings = settings if settings is not None else DiscoSettings()
        self.proxy = proxy or self.settings['DISCO_PROXY']
        master = self.proxy or master or self.settings['DISCO_MASTER']
        if hasattr(master, 'master'):  # a Disco client
            master = master.master
        if master and str(master).startswith('disco://'):
            host = str(master)[len('disco://'):].rstrip('/')
            master = 'http://%s:%s' % (host, self.settings['DISCO_PORT'])
        if not master:
            from discolite.schemes import active_task
            task = active_task()  # in a task: its master, as DISCO_MASTER on a Disco node
            if task is not None and getattr(task, 'master', None):
                master = task.master
            else:
                from discolite.master import default_master
                master = default_master().url
        self.master = str(master).rstrip('/')
        self.settings['DISCO_MASTER'] = self.master

    def __repr__(self):
        return 'DDFS master at {0}'.format(self.master)

    # ------------------------------------------------------------------ names

    @classmethod
    def safe_name(cls, name):
        """Replace characters outside ``[A-Za-z0-9_\\-@:]`` with ``_``."""
        return _UNSAFE.sub('_', name)

    @classmethod
    def blob_name(cls, url):
        """The blob prefix of a blob URL: last path segment up to the first ``$``."""
        return url.split('/')[-1].split('$')[0]

    @classmethod
    def job_oob(cls, jobname):
        return 'disco:job:oob:{0}'.format(jobname)

    @classmethod
    def job_tag(cls, jobname):
        return 'disco:job:results:{0}'.format(jobname)

    @classmethod
    def job_blob(cls, jobname, filename):
        return 'disco:blob:{0}:{1}'.format(jobname, os.path.basename(filename))

    # ------------------------------------------------------------------ plumbing

    def _transport(self, url):
        """``(transport, path)`` for an absolute URL."""
        if url.startswith(self.master + '/') and self.master.startswith('local://'):
            from discolite.master import get_master
            if get_master(self.master) is None:  # e.g. in a task: the store on disk
                from discolite.master.ddfs_endpoints import StoreTransport
                return StoreTransport(self.master), url[len(self.master):]
            from discolite.transport.local import LocalTransport
            return LocalTransport.for_url(self.master), url[len(self.master):]
        if url.startswith('local://'):
            raise CommError("Not a URL of this master (%s)" % self.master, url)
        from discolite.transport.http import HTTPTransport
        scheme, rest = url.split('://', 1)
        netloc, _, path = rest.partition('/')
        return HTTPTransport('%s://%s' % (scheme, netloc), self.settings,
                             proxy=self.proxy or None), '/' + path

    def _request(self, method, url, body=None, token=None, ranged=False):
        """Send one request; return the body bytes of a 2xx answer, else raise CommError."""
        from discolite.transport import Request
        headers = {}
        if token is not None:
            headers['Authorization'] = 'Basic ' + base64.b64encode(
                ('token:' + token).encode('utf-8')).decode('ascii')
        if ranged:
            headers['Range'] = RANGE
        if isinstance(body, str):
            body = body.encode('utf-8')
        transport, path = self._transport(url)
        response = transport.handle(Request(method, path, body, headers))
        if not 200 <= response.status < 300:
            raise CommError(repr(response.body), url, response.status)
        return response.body

    def _token(self, url, token, method):
        if token is not None:
            return token
        derived = urltoken(url)
        if derived is not None:
            return derived
        return self.settings['DDFS_READ_TOKEN' if method == 'GET' else 'DDFS_WRITE_TOKEN']

    def _resolve(self, tag):
        """``<master>/ddfs/tag/<name>`` (or the tag URL's own host)."""
        _auth, host, name = _split(tag)
        name = _q(name)
        if host:
            if ':' not in host:
                host = '%s:%s' % (host, self.settings['DISCO_PORT'])
            return 'http://%s/ddfs/tag/%s' % (host, name)
        return '%s/ddfs/tag/%s' % (self.master, name)

    def _tag_request(self, method, tag, suffix='', body=None, token=None, token_method=None,
                     ranged=False):
        canonical = canonizetag(tag)
        url = self._resolve(canonical) + suffix
        token = self._token(canonical, token, token_method or method)
        return self._request(method, url, body, token, ranged)

    def _json(self, *args, **kwargs):
        return json.loads(self._tag_request(*args, **kwargs).decode('utf-8'))

    # ------------------------------------------------------------------ tags

    def get(self, tag, token=None):
        """The tag document: ``version``, ``id``, ``last-modified``, ``urls``, ``user-data``."""
        return self._json('GET', tag, token=token)

    def urls(self, tag, token=None):
        return self.get(tag, token=token)['urls']

    def attrs(self, tag, token=None):
        return self.get(tag, token=token)['user-data']

    def getattr(self, tag, attr, token=None):
        return self._json('GET', tag, '/' + _q(attr), token=token)

    def setattr(self, tag, attr, val, token=None):
        """Set an attribute (a string; a list of entries for ``ddfs:urls``); returns
        ``[raw answer bytes]`` as Disco's client does."""
        return [self._tag_request('PUT', tag, '/' + _q(attr), json.dumps(val), token=token)]

    def delattr(self, tag, attr, token=None):
        return self._json('DELETE', tag, '/' + _q(attr), token=token)

    def delete(self, tag, token=None):
        """Delete the tag (a missing one too): ``'deleted'``."""
        return self._json('DELETE', tag, token=token)

    def exists(self, tag):
        """True when the tag exists (also when it is protected: 401), False for 403/404."""
        url = self._resolve(canonizetag(tag))
        try:
            self._request('GET', url, ranged=True)
        except CommError as e:
            if e.code == 401:
                return True
            if e.code in (403, 404):
                return False
            raise
        return True

    def list(self, prefix=''):
        """Names of the live tags starting with ``prefix``, sorted."""
        body = self._request('GET', '%s/ddfs/tags/%s' % (self.master, _q(prefix)),
                             token=self.settings['DDFS_READ_TOKEN'])
        return json.loads(body.decode('utf-8'))

    def tag(self, tag, urls, token=None, delayed=False, update=False, **kwargs):
        """Add entries (lists of replica URLs); ``update``: skip names already in the tag.
        As on Disco the token defaults to ``DDFS_READ_TOKEN`` (its POST goes through the
        client's read path)."""
        if kwargs:
            raise TypeError("tag() got unexpected keyword arguments: %s" % ', '.join(kwargs))
        query = '?' + urlencode([('delayed', '1' if delayed else ''),
                                 ('update', '1' if update else '')])
        return self._json('POST', tag, query, json.dumps(urls), token=token, token_method='GET')

    def put(self, tag, urls, token=None):
        """Replace the tag's entries; returns ``[raw answer bytes]`` as Disco's client does."""
        return [self._tag_request('PUT', tag, body=json.dumps(urls), token=token)]

    # ------------------------------------------------------------------ graph walks

    def _entries(self, tag, token):
        tags, blobs = [], []
        for entry in self.urls(tag, token=token):
            (tags if istag(entry) else blobs).append(entry)
        return [entry[0] if isinstance(entry, list) else entry for entry in tags], blobs

    def walk(self, tag, ignore_missing=True, tagpath=(), token=None):
        """Depth first: ``(tagpath, tags, blobs)`` for ``tag`` and every tag it links to
        (``((tagpath), (), ())`` for a missing one)."""
        tagpath = tuple(tagpath) + (canonizetag(tag),)
        try:
            tags, blobs = self._entries(tag, token)
        except CommError as e:
            if ignore_missing and e.code == 404:
                yield tagpath, (), ()
                return
            yield tagpath, None, None
            raise
        yield tagpath, [canonizetag(t) for t in tags], blobs
        visited = set(tagname(t) for t in tagpath)
        for child in tags:
            if tagname(child) not in visited:  # no cycles (a tag may link to itself)
                yield from self.walk(relativizetag(child, tag), ignore_missing, tagpath, token)

    def findtags(self, tags=(), ignore_missing=True, token=None):
        """Breadth first, each tag once: ``(tag, tags, blobs)``; missing tags are skipped."""
        from collections import deque
        queue = deque(canonizetags(tags))
        seen = set()
        while queue:
            tag = queue.popleft()
            name = tagname(tag)
            if name in seen:
                continue
            seen.add(name)
            try:
                children, blobs = self._entries(tag, token)
            except CommError as e:
                if ignore_missing and e.code == 404:
                    continue
                raise
            yield tag, [canonizetag(t) for t in children], blobs
            queue.extend(relativizetag(t, tag) for t in children)

    def blobs(self, tag, ignore_missing=True, token=None):
        """Every blob entry (replica list) of ``tag`` and the tags it links to (as walk)."""
        for _tagpath, _tags, blobs in self.walk(tag, ignore_missing=ignore_missing,
                                                token=token):
            if blobs:
                for blob in blobs:
                    yield blob

    # ------------------------------------------------------------------ blob data

    def read_blob(self, replicas):
        """The bytes of a blob, from the first replica that answers (shuffled, as Disco)."""
        replicas = list(replicas)
        random.shuffle(replicas)
        last = None
        for url in replicas:
            try:
                return self._read_url(url)
            except (CommError, DiscoError, OSError) as e:
                last = e
        if isinstance(last, CommError):
            raise last
        raise CommError("No replica of the blob could be read: %s" % (last,),
                        replicas[0] if replicas else '')

    def _read_url(self, url):
        from discolite import util
        local = self.master.startswith('local://')  # an HTTP master's nodes are read by HTTP
        path = util.local_path(url) if local else None
        if path is not None:
            with open(path, 'rb') as f:
                return f.read()
        scheme, rest = util.schemesplit(url)
        if local and scheme == 'disco' and '/ddfs/' in rest and \
                util.local_roots(util.netloc.parse(rest.split('/', 1)[0]).host, ddfs=True):
            # a blob of the in-process master's DDFS that is not there (any more)
            raise CommError("b'Not found.'", url, 404)
        if url.startswith(('disco://', 'dir://')):
            url = util.urlresolve(url)
        if not url.startswith(('http://', 'https://', 'local://')):
            raise CommError("Cannot read blob URL %s" % url, url)
        return self._request('GET', url, ranged=True)

    def pull(self, tag, blobfilter=lambda name: True, token=None):
        """Yield an open reader (``.read()``, ``len()``, ``.url``) for every blob of the tag
        whose name passes ``blobfilter``."""
        for replicas in self.urls(tag, token=token):
            if istag(replicas) or not replicas:
                continue
            if blobfilter(self.blob_name(replicas[0])):
                shuffled = list(replicas)
                random.shuffle(shuffled)
                last = None
                for url in shuffled:
                    try:
                        yield BlobReader(url, self._read_url(url))
                        break
                    except CommError as e:
                        last = e
                else:
                    raise last

    # ------------------------------------------------------------------ writing blobs

    def _upload(self, target, source):
        if not hasattr(source, 'read') and target.startswith('local://'):
            # the in-process master copies the open file to disk as discolite master copies
            # the socket: neither holds the blob whole in memory
            with open(source, 'rb') as f:
                return json.loads(self._request('PUT', target, f).decode('utf-8'))
        if hasattr(source, 'read'):
            data = source.read()
            if hasattr(source, 'seek'):
                try:
                    source.seek(0)  # the same file object may be pushed again
                except Exception:
                    pass
        else:
            with open(source, 'rb') as f:
                data = f.read()
        if isinstance(data, str):
            data = data.encode('utf-8')
        return json.loads(self._request('PUT', target, data).decode('utf-8'))

    def _push(self, source, target, replicas=None, forceon=(), exclude=()):
        """Upload one blob (retrying elsewhere when an upload fails, as Disco); its URLs."""
        exclude = list(exclude)
        while True:
            qs = urlencode([(k, v) for k, v in (('exclude', ','.join(exclude)),
                                                ('include', ','.join(forceon)),
                                                ('replicas', replicas)) if v])
            targets = json.loads(self._request(
                'GET', '%s/ddfs/new_blob/%s?%s' % (self.master, _q(target), qs)).decode('utf-8'))
            try:
                return [self._upload(t, source) for t in targets]
            except CommError as e:
                host = (e.url or '').split('://', 1)[-1].split('/', 1)[0].split(':')[0]
                if not host or host in exclude:
                    raise
                exclude.append(host)

    def push(self, tag, files, replicas=None, forceon=[], retries=10, delayed=False,
             update=False, token=None):
        """Upload ``files`` (paths, ``(path, name)`` or ``(fileobj, name)`` pairs) as blobs and
        tag them: ``(tag locations, [[blob url, ...], ...])``."""
        urls = []
        for item in files:
            if isinstance(item, (str, bytes, os.PathLike)):
                source = os.fspath(item)
                target = self.safe_name(os.path.basename(source))
            else:
                source, target = item
            urls.append(self._push(source, target, replicas, forceon))
        return self.tag(tag, urls, token=token, delayed=delayed, update=update), urls

    def chunk(self, tag, urls, replicas=None, forceon=[], retries=10, delayed=False,
              update=False, token=None, chunk_size=64 * 1024 * 1024,
              max_record_size=1024 * 1024, **kwargs):
        """Read the records of ``urls`` (lines as bytes for plain files), pack them into
        Disco output stream chunks of about ``chunk_size`` bytes, push each as
        ``<basename>-<n>`` and tag them all: ``(tag locations, [[blob url], ...])``."""
        from discolite.core import result_iterator
        from discolite.util import iterify
        from discolite.worker.task_io import DiscoOutputStream
        blobs = []
        for input in urls:
            replicas_of_input = list(iterify(input))
            base = os.path.basename(replicas_of_input[0].rstrip('/')) or 'chunk'
            kwargs.setdefault('reader', None)
            records = result_iterator([replicas_of_input], **kwargs)
            n = 0
            buf = BytesIO()
            out = DiscoOutputStream(buf, max_record_size=max_record_size)
            pending = False
            for record in records:
                if pending and out.size > chunk_size:
                    out.close()
                    blobs.append(self._push(BytesIO(buf.getvalue()),
                                            self.safe_name('%s-%d' % (base, n)),
                                            replicas, forceon))
                    n += 1
                    buf = BytesIO()
                    out = DiscoOutputStream(buf, max_record_size=max_record_size)
                out.append(record)
                pending = True
            out.close()
            blobs.append(self._push(BytesIO(buf.getvalue()), self.safe_name('%s-%d' % (base, n)),
                                    replicas, forceon))
        return self.tag(tag, blobs, token=token, delayed=delayed, update=update), blobs

    def save(self, jobname, paths, retries=600):
        """Legacy: push ``paths`` to ``disco:job:results:<job>`` (delayed, update)."""
        tag = self.job_tag(jobname)
        self.push(tag, [(path, self.job_blob(jobname, path)) for path in paths],
                  retries=retries, delayed=True, update=True)
        return tag

    def tarblobs(self, tarball, compress=True, include=None, exclude=None):
        """``(name, fileobj, size)`` for each regular file of a tar archive (``ddfs push -x``)."""
        import tarfile
        tar = tarfile.open(tarball, 'r:gz' if compress else 'r')
        for member in tar:
            if not member.isfile():
                continue
            if include and include not in member.name:
                continue
            if exclude and exclude in member.name:
                continue
            yield self.safe_name(member.name), tar.extractfile(member), member.size
