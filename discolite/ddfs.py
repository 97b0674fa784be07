"""A small slice of ``disco.ddfs``: name helpers and read-only tag access over HTTP."""
import json
import re

from discolite.error import CommError
from discolite.settings import DiscoSettings

_UNSAFE = re.compile(r'[^A-Za-z0-9_\-@:]')


class InvalidTag(Exception):
    """A value that cannot be turned into a ``tag://`` URL."""


def canonizetag(tag):
    """``tag://x`` stays; a bare name (no ``://``, no ``/``, not ``-``) becomes ``tag://name``;
    for a list the first element decides; anything else raises InvalidTag."""
    if isinstance(tag, (list, tuple)):
        if not tag:
            raise InvalidTag(tag)
        tag = tag[0]
    if isinstance(tag, str):
        if tag.startswith('tag://'):
            return tag
        if '://' not in tag and '/' not in tag and tag != '-' and tag:
            return 'tag://{0}'.format(tag)
    raise InvalidTag(tag)


def istag(tag):
    """True when :func:`canonizetag` accepts ``tag`` and it is a ``tag://`` URL string."""
    return isinstance(tag, str) and tag.startswith('tag://')


def tagname(tag):
    """The name part of a tag URL (without host or token)."""
    if isinstance(tag, (list, tuple)):
        tag = tag[0]
    rest = canonizetag(tag)[len('tag://'):]
    return rest.split('/', 1)[1] if '/' in rest else rest


class DDFS(object):
    """Read-only DDFS client: ``get``/``urls``/``blobs`` of a tag from ``<master>/ddfs/tag/<name>``."""

    def __init__(self, master=None, proxy=None, settings=None):
        self.settings = settings if settings is not None else DiscoSettings()
        self.proxy = proxy or self.settings['DISCO_PROXY']
        self.master = self.proxy or master or self.settings['DISCO_MASTER']
        self.settings['DISCO_MASTER'] = self.master

    @classmethod
    def safe_name(cls, name):
        """Replace characters outside ``[A-Za-z0-9_\\-@:]`` with ``_``."""
        return _UNSAFE.sub('_', name)

    @classmethod
    def blob_name(cls, url):
        """``url.split('/')[-1].split('$')[0]``."""
        return url.split('/')[-1].split('$')[0]

    @classmethod
    def job_oob(cls, jobname):
        return 'disco:job:oob:{0}'.format(jobname)

    @classmethod
    def job_tag(cls, jobname):
        return 'disco:job:results:{0}'.format(jobname)

    def _get_json(self, url):
        import urllib.error
        import urllib.request
        try:
            with urllib.request.urlopen(url) as resp:
                return json.loads(resp.read().decode('utf-8'))
        except urllib.error.HTTPError as e:
            raise CommError(str(e.reason or 'HTTP error'), url, e.code)
        except (urllib.error.URLError, OSError) as e:
            raise CommError(str(getattr(e, 'reason', e)), url, None)

    def get(self, tag):
        """The tag object: ``{"id","version","last-modified","urls","user-data"}``."""
        master = str(self.master).rstrip('/')
        if not master.startswith(('http://', 'https://')):
            raise CommError("DDFS needs an HTTP master", master, None)
        return self._get_json('{0}/ddfs/tag/{1}'.format(master, tagname(tag)))

    def urls(self, tag):
        """The tag's list of replica lists (tags in it are not followed)."""
        return self.get(tag).get('urls', [])

    def blobs(self, tag, ignore_missing=True):
        """Replica lists of every blob reachable from ``tag`` (tag links followed once each;
        missing tags are ignored, as in Disco's ``findtags``)."""
        seen = set()
        out = []

        def walk(t):
            name = tagname(t)
            if name in seen:
                return
            seen.add(name)
            try:
                urls = self.urls(t)
            except CommError as e:
                if ignore_missing and e.code == 404:
                    return
                raise
            for replicas in urls:
                if replicas and istag(replicas[0]):
                    walk(replicas[0])
                elif replicas:
                    out.append(list(replicas))

        walk(tag)
        return out
