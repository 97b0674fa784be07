"""DDFS on disk: the tags and blobs of one master, laid out as on a Disco node's volume.

Layout under ``<data root>/ddfs`` (the node's ``DDFS_DATA``)::

    vol0/blob/<hh(blob)>/<prefix>$<ts>     blob bytes (written once, never changed)
    vol0/tag/<hh(tagid)>/<name>$<ts>       every tag version, JSON with its tokens (mode 0400)
    tags/<hh(name)>/<name>                 the current version of each live tag: its tag id
    .lock  .clock                          inter-process lock, last timestamp handed out

``hh(x)`` is the first two hex digits of ``md5(x)``; ``<ts>`` Disco's timestamp (§2.3 of
DISCO-SPEC-DDFS.md).  Every file is written to a temporary name, fsynced and renamed, and
the current-version pointer only moves after the new version is on disk, so a crash or a
full disk leaves the previous state, never a half-written tag or blob.  Tag operations run
under one lock (a thread lock plus ``flock``), because pool processes write OOB values
while the master serves requests.  Deleted names are listed in the ``+deleted`` tag as on
Disco.  Standard library only: tasks (OOB ``put``/``get``) use it directly.

:class:`DDFSError` carries Disco's status and body for every refusal.
"""
import fcntl
import hashlib
import json
import os
import re
import threading
import time

MAX_NAME = 511
MAX_PREFIX = 200
MAX_ATTR_NAME = 1024
MAX_ATTR_VALUE = 4096
MAX_ATTRS = 1000
DELETED = '+deleted'
RESERVED = ('ddfs:urls', 'ddfs:read-token', 'ddfs:write-token')
_NAME = re.compile(r'^[A-Za-z0-9_\-@:]+$')
_BLOB = re.compile(r'^([A-Za-z0-9_\-@:]+)\$([0-9a-f]+-[0-9a-f]+-[0-9a-f]+)$')
_DDFS_URL = re.compile(r'^[a-z]+://[^/]*/ddfs/vol[^/]*/blob/[0-9a-f]{2}/([^$/]+)\$')


class DDFSError(Exception):
    """A refused DDFS request: ``status`` and ``body`` are what Disco answers."""

    def __init__(self, status, body):
        Exception.__init__(self, body)
        self.status = status
        self.body = body


def hh(name):
    return hashlib.md5(name.encode('utf-8')).hexdigest()[:2]


def valid_name(name):
    return isinstance(name, str) and 0 < len(name) <= MAX_NAME and bool(_NAME.match(name))


def check_name(name):
    if not valid_name(name):
        raise DDFSError(403, 'Invalid tag')


def format_ts(us):
    """Erlang ``now()`` of ``us`` microseconds as Disco writes it: ``704-15e99-9afeb``."""
    parts = (us // 10 ** 12, (us // 10 ** 6) % 10 ** 6, us % 10 ** 6)
    return '-'.join('%x' % p if p else '00' for p in parts)


def entry_name(entry):
    """The name an entry counts as for set updates: ``X`` of ``tag://X``, the blob prefix of a
    DDFS blob URL, else None (such entries are always added)."""
    url = entry[0] if entry else ''
    if url.startswith('tag://'):
        return url[len('tag://'):]
    m = _DDFS_URL.match(url)
    return m.group(1) if m else None


def valid_urls(urls):
    return isinstance(urls, list) and all(
        isinstance(e, list) and all(isinstance(u, str) for u in e) for e in urls)


def _passes(token, required):
    return required is None or token == required


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path, data, mode=0o644, exclusive=False):
    """Write ``data`` (bytes or a readable file) to ``path`` via a ``!partial`` file, fsync
    and rename; on any error nothing is left behind.  ``exclusive``: refuse an existing file
    (EEXIST), as Disco's put port does."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, '!partial-%d-%d.%s' % (os.getpid(), threading.get_ident(),
                                                         os.path.basename(path)[:120]))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'wb') as f:
            if isinstance(data, (bytes, bytearray, memoryview)):
                f.write(data)
            else:
                while True:
                    chunk = data.read(1 << 20)
                    if not chunk:
                        break
                    f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        if exclusive:
            os.link(tmp, path)  # atomic and fails with EEXIST
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
        _fsync_dir(directory)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class DDFSStore(object):
    """The DDFS of one data root; ``host`` is the node name in the URLs it hands out (the
    master records it in ``.host``; tasks open the store without knowing it)."""

    def __init__(self, root, host=None):
        self.root = os.path.abspath(root)
        self.vol = os.path.join(self.root, 'vol0')
        self.index = os.path.join(self.root, 'tags')
        for d in (os.path.join(self.vol, 'blob'), os.path.join(self.vol, 'tag'), self.index):
            os.makedirs(d, exist_ok=True)
        self._tlock = threading.RLock()
        self._lockfile = os.path.join(self.root, '.lock')
        self._depth = 0
        self._fd = None
        hostfile = os.path.join(self.root, '.host')
        try:
            with open(hostfile) as f:
                recorded = f.read().strip()
        except OSError:
            recorded = None
        if host is not None and host != recorded:
            atomic_write(hostfile, host.encode('utf-8'))
        self.host = host or recorded or 'localhost'

    # ------------------------------------------------------------------ locking and clock

    def __enter__(self):
        self._tlock.acquire()
        if self._depth == 0:
            try:
                self._fd = os.open(self._lockfile, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            except BaseException:
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None
                self._tlock.release()
                raise
        self._depth += 1
        return self

    def __exit__(self, *exc):
        self._depth -= 1
        if self._depth == 0:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None
        self._tlock.release()

    def timestamp(self):
        """A Disco timestamp unique within this DDFS (also across processes)."""
        with self:
            path = os.path.join(self.root, '.clock')
            try:
                with open(path) as f:
                    last = int(f.read().strip() or 0)
            except (OSError, ValueError):
                last = 0
            us = max(int(time.time() * 1e6), last + 1)
            with open(path, 'w') as f:
                f.write(str(us))
            return format_ts(us)

    # ------------------------------------------------------------------ blobs

    def blob_path(self, blobname):
        return os.path.join(self.vol, 'blob', hh(blobname), blobname)

    def blob_url(self, blobname):
        return 'disco://%s/ddfs/vol0/blob/%s/%s' % (self.host, hh(blobname), blobname)

    def new_blob(self, prefix, replicas=1):
        """``<prefix>$<ts>`` for a new blob (a prefix over 200 characters becomes its md5)."""
        if not valid_name(prefix):
            raise DDFSError(403, 'Invalid tag')
        if replicas > 1:
            raise DDFSError(403, 'Not enough nodes for replicas.')
        if len(prefix) > MAX_PREFIX:
            prefix = hashlib.md5(prefix.encode('utf-8')).hexdigest()
        return '%s$%s' % (prefix, self.timestamp())

    def put_blob(self, blobname, data):
        """Store a blob (``data``: bytes or a readable file); returns its ``disco://`` URL."""
        if not isinstance(blobname, str) or not _BLOB.match(blobname) or \
                len(blobname.split('$')[0]) > MAX_NAME:
            raise DDFSError(403, 'Invalid blob name')
        path = self.blob_path(blobname)
        try:
            atomic_write(path, data, exclusive=True)
        except OSError as e:
            raise DDFSError(500, '%s (path: %s): "%s"' % (e.strerror or e, path, path))
        return self.blob_url(blobname)

    def blob_file(self, url):
        """Local path of a blob URL of this DDFS, or None."""
        m = re.match(r'^[a-z]+://[^/]*/ddfs/(vol[^/]*/blob/[0-9a-f]{2}/[^/]+)$', url or '')
        if not m:
            return None
        path = self.resolve(m.group(1))
        return path

    def remove_partials(self):
        """Delete the ``!partial-<pid>-...`` files of writers that are gone: an upload is
        copied to one as it arrives, so a master stopped in the middle of one leaves it
        behind (up to 1 GiB, and never a blob).  Returns how many were removed."""
        removed = 0
        for directory, _dirs, files in os.walk(self.root):
            for filename in files:
                m = re.match(r'!partial-(\d+)-', filename)
                if not m or int(m.group(1)) == os.getpid():
                    continue
                try:
                    os.kill(int(m.group(1)), 0)
                    continue  # its writer (a task of an old master, finishing) still runs
                except ProcessLookupError:
                    pass
                except OSError:
                    continue
                try:
                    os.unlink(os.path.join(directory, filename))
                    removed += 1
                except OSError:
                    pass
        return removed

    def resolve(self, relpath):
        """Map ``/ddfs/<relpath>`` to a file below the DDFS root; None if outside or absent."""
        target = os.path.realpath(os.path.join(self.root, relpath))
        base = os.path.realpath(self.root)
        if not target.startswith(base + os.sep) or not os.path.isfile(target):
            return None
        return target

    # ------------------------------------------------------------------ tag files

    def _index_path(self, name):
        filename = name if len(name.encode('utf-8')) <= 200 else \
            '=' + hashlib.md5(name.encode('utf-8')).hexdigest()
        return os.path.join(self.index, hh(name), filename)

    def _version_file(self, tagid):
        name, ts = tagid.rsplit('$', 1)
        if len(tagid.encode('utf-8')) > 250:  # file names stop at 255 bytes
            tagid = '=%s$%s' % (hashlib.md5(name.encode('utf-8')).hexdigest(), ts)
        return 'vol0/tag/%s/%s' % (hh(tagid), tagid)

    def _load(self, name):
        """The stored document of live tag ``name`` (tokens included), or None."""
        try:
            with open(self._index_path(name), 'rb') as f:
                pointer = json.loads(f.read().decode('utf-8'))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, UnicodeDecodeError) as e:
            raise DDFSError(500, 'Corrupt tag index of %s on disk: %s' % (name, e))
        if not isinstance(pointer, dict) or pointer.get('name') != name:
            if isinstance(pointer, dict) and pointer.get('name') is not None:
                return None  # another long name with the same md5: not this tag
            raise DDFSError(500, 'Corrupt tag index of %s on disk' % name)
        path = os.path.join(self.root, pointer.get('file', ''))
        try:
            with open(path, 'rb') as f:
                doc = json.loads(f.read().decode('utf-8'))
            if not isinstance(doc, dict) or not valid_urls(doc.get('urls')) or \
                    not isinstance(doc.get('user-data'), dict):
                raise ValueError('not a tag document')
        except (OSError, ValueError, UnicodeDecodeError) as e:
            raise DDFSError(500, 'Corrupt tag data of %s on disk (%s): %s'
                            % (name, pointer.get('file'), e))
        return doc

    def _store(self, name, doc):
        """Write a new version of ``name`` and make it current; returns its locations."""
        tagid = '%s$%s' % (name, self.timestamp())
        doc = {'version': 1, 'id': tagid,
               'last-modified': time.strftime('%Y/%m/%d %H:%M:%S'),
               'read-token': doc.get('read-token'), 'write-token': doc.get('write-token'),
               'urls': doc.get('urls', []), 'user-data': doc.get('user-data', {})}
        rel = self._version_file(tagid)
        data = json.dumps(doc, separators=(',', ':')).encode('utf-8')
        try:
            atomic_write(os.path.join(self.root, rel), data, mode=0o400)
            pointer = json.dumps({'name': name, 'id': tagid, 'file': rel}).encode('utf-8')
            atomic_write(self._index_path(name), pointer)
        except OSError as e:
            raise DDFSError(500, 'Could not write tag %s (%s)' % (name, e.strerror or e))
        return doc

    def locations(self, doc):
        return ['disco://%s/ddfs/%s' % (self.host, self._version_file(doc['id']))]

    # ------------------------------------------------------------------ authorization

    @staticmethod
    def _read_privilege(doc, token):
        """'write' or 'read' when ``token`` may read ``doc``; raise 401 otherwise."""
        r, w = doc.get('read-token'), doc.get('write-token')
        if _passes(token, r):
            return 'write' if w is None or w == r else 'read'
        if w is not None and token == w:
            return 'write'
        raise DDFSError(401, 'Incorrect or missing token.')

    @staticmethod
    def _check_write(doc, token):
        if not _passes(token, doc.get('write-token')):
            raise DDFSError(401, 'Incorrect or missing token.')

    def _new_doc(self, name, token):
        return {'read-token': token, 'write-token': token, 'urls': [], 'user-data': {}}

    def _writable(self, name, token):
        """The current document for a write by ``token`` (a fresh one for a new tag)."""
        doc = self._load(name)
        if doc is None:
            self._undelete(name)
            return self._new_doc(name, token), True
        self._check_write(doc, token)
        return doc, False

    def _undelete(self, name):
        if name == DELETED:
            return
        deleted = self._load(DELETED)
        if deleted is not None and ['tag://' + name] in deleted['urls']:
            deleted['urls'] = [e for e in deleted['urls'] if e != ['tag://' + name]]
            self._store(DELETED, deleted)

    # ------------------------------------------------------------------ tag operations

    def get(self, name, token=None):
        """The tag document as served (no tokens)."""
        check_name(name)
        with self:
            doc = self._load(name)
            if doc is None:
                raise DDFSError(404, 'Tag not found.')
            self._read_privilege(doc, token)
            return public(doc)

    def update(self, name, urls, token=None, update=False, replace=False):
        """POST (``update``: set semantics) or PUT (``replace``) of the tag's entries;
        returns the tag locations."""
        check_name(name)
        if not valid_urls(urls):
            raise DDFSError(403, 'Invalid url object')
        with self:
            doc, new = self._writable(name, token)
            if replace:
                doc['urls'] = [list(e) for e in urls]
            else:
                if update:
                    seen = set(n for n in map(entry_name, doc['urls']) if n is not None)
                    added = []
                    for entry in urls:
                        n = entry_name(entry)
                        if n is not None:
                            if n in seen:
                                continue
                            seen.add(n)
                        added.append(list(entry))
                    added.reverse()
                else:
                    added = [list(e) for e in urls]
                if not added and not new:
                    return self.locations(doc)
                doc['urls'] = added + doc['urls']
            return self.locations(self._store(name, doc))

    def get_attr(self, name, attr, token=None):
        check_name(name)
        _check_attr(attr)
        with self:
            doc = self._load(name)
            if doc is None:
                raise DDFSError(404, 'Tag not found.')
            privilege = self._read_privilege(doc, token)
            if attr == 'ddfs:urls':
                return doc['urls']
            if attr == 'ddfs:read-token':
                return doc.get('read-token')
            if attr == 'ddfs:write-token':
                if privilege != 'write':
                    raise DDFSError(401, 'Incorrect or missing token.')
                return doc.get('write-token')
            if attr not in doc['user-data']:
                raise DDFSError(404, 'Tag attribute not found.')
            return doc['user-data'][attr]

    def set_attr(self, name, attr, body, token=None):
        """``body``: the raw JSON request body."""
        check_name(name)
        _check_attr(attr)
        if len(body) > MAX_ATTR_VALUE:
            raise DDFSError(403, 'Attribute value too big.')
        try:
            value = json.loads(body.decode('utf-8') if isinstance(body, bytes) else body)
        except (ValueError, UnicodeDecodeError):
            raise DDFSError(403, 'Invalid attribute key or value')
        if attr == 'ddfs:urls':
            if not valid_urls(value):
                raise DDFSError(403, 'Invalid attribute key or value')
        elif not isinstance(value, str):
            raise DDFSError(403, 'Invalid attribute key or value')
        with self:
            doc, _new = self._writable(name, token)
            if attr == 'ddfs:urls':
                doc['urls'] = value
            elif attr in ('ddfs:read-token', 'ddfs:write-token'):
                doc[attr[len('ddfs:'):]] = value
            else:
                if attr not in doc['user-data'] and len(doc['user-data']) >= MAX_ATTRS:
                    raise DDFSError(403, 'Too many attributes')
                doc['user-data'][attr] = value
            return self.locations(self._store(name, doc))

    def del_attr(self, name, attr, token=None):
        check_name(name)
        _check_attr(attr)
        with self:
            doc = self._load(name)
            if doc is None:
                raise DDFSError(404, 'Tag attribute not found.')
            self._check_write(doc, token)
            if attr == 'ddfs:urls':
                doc['urls'] = []
            elif attr in ('ddfs:read-token', 'ddfs:write-token'):
                doc[attr[len('ddfs:'):]] = None
            elif attr in doc['user-data']:
                del doc['user-data'][attr]
            else:
                return 'deleted'
            self._store(name, doc)
            return 'deleted'

    def delete(self, name, token=None, internal=False):
        """Delete a tag (a missing one too); its blobs stay (no GC here)."""
        check_name(name)
        with self:
            try:
                doc = self._load(name)
            except DDFSError:  # corrupt on disk: deleting it is the way to recover
                doc = {}
            if doc is None:
                return 'deleted'
            if not internal:
                self._check_write(doc, token)
            deleted = self._load(DELETED) or self._new_doc(DELETED, None)
            if ['tag://' + name] not in deleted['urls']:
                deleted['urls'] = [['tag://' + name]] + deleted['urls']
                self._store(DELETED, deleted)
            try:
                os.unlink(self._index_path(name))
            except FileNotFoundError:
                pass
            _fsync_dir(os.path.dirname(self._index_path(name)))
            return 'deleted'

    def list(self, prefix=''):
        """Names of the live tags starting with ``prefix``, sorted (``+deleted`` excluded)."""
        names = []
        for d in os.listdir(self.index):
            sub = os.path.join(self.index, d)
            try:
                files = os.listdir(sub)
            except OSError:
                continue
            for filename in files:
                if filename.startswith('!partial'):
                    continue
                name = filename
                if filename.startswith('='):
                    try:
                        with open(os.path.join(sub, filename), 'rb') as f:
                            name = json.loads(f.read().decode('utf-8'))['name']
                    except (OSError, ValueError, KeyError, UnicodeDecodeError):
                        continue
                if name != DELETED and name.startswith(prefix):
                    names.append(name)
        return sorted(names)

    # ------------------------------------------------------------------ OOB helpers

    def oob_put(self, job, key, value):
        """Store an OOB value as Disco's worker does: a blob ``<key>$<ts>`` linked from the
        tag ``disco:job:oob:<job>`` (token ``job``)."""
        url = self.put_blob(self.new_blob(key), value)
        self.update('disco:job:oob:%s' % job, [[url]], token='job')
        return url

    def oob_get(self, job, key):
        """The newest value of ``key`` (bytes), None if the job has OOB values but not this
        key; DDFSError 404 when the job has none."""
        doc = self.get('disco:job:oob:%s' % job, token='job')
        for entry in doc['urls']:
            if entry and entry[0].split('/')[-1].split('$')[0] == key:
                path = self.blob_file(entry[0])
                if path is None:
                    raise DDFSError(404, 'Not found.')
                with open(path, 'rb') as f:
                    return f.read()
        return None


def _check_attr(attr):
    if len(attr.encode('utf-8')) > MAX_ATTR_NAME:
        raise DDFSError(403, 'Attribute name too big.')
    if attr.startswith('ddfs:') and attr not in RESERVED:
        raise DDFSError(404, 'Tag attribute not found.')


def public(doc):
    """The tag document as ``GET /ddfs/tag/<name>`` serves it (tokens left out)."""
    return {'version': 1, 'id': doc['id'], 'last-modified': doc['last-modified'],
            'urls': doc['urls'], 'user-data': doc['user-data']}
