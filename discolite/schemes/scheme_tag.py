"""``tag://NAME``: DDFS tags. Readable only when ``DISCO_MASTER`` is an HTTP master with DDFS."""
from discolite.error import DataError
from discolite.schemes import OneOpenAtATime
from discolite.settings import DiscoSettings


class TagFile(OneOpenAtATime):
    """Concatenates the blobs of a tag (first readable replica of each), iterated by lines."""

    def __init__(self, url, blobs):
        self.url = url
        self.blobs = blobs

    def __iter__(self):
        from discolite.schemes import scheme_disco, scheme_http
        for replicas in self.blobs:
            last = None
            for u in replicas:
                try:
                    fd = scheme_disco.open(u) if u.startswith('disco://') else scheme_http.open(u)
                    break
                except DataError as e:
                    last = e
            else:
                raise last or DataError("Tag blob has no replicas", self.url)
            yield from self._read(fd, fd)


def open(url, task=None, settings=None):
    """Resolve a tag over HTTP DDFS; raise DataError when no HTTP master is configured."""
    settings = settings or DiscoSettings()
    master = getattr(task, 'master', None) or settings['DISCO_MASTER']
    if not master or not str(master).startswith(('http://', 'https://')):
        raise DataError("tag:// inputs need DDFS, which discolite does not provide", url)
    from discolite.ddfs import DDFS
    return TagFile(url, DDFS(master, settings=settings).blobs(url))


def input_stream(fd, size, url, params):
    """Input stream: ``(TagFile, None, url)``."""
    return open(url), None, url
