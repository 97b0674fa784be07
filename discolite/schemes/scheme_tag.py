"""``tag://NAME``: the blobs of a DDFS tag (and of the tags it links to), read in turn."""
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
    """Resolve a tag through the DDFS of the task's master (or DISCO_MASTER)."""
    from discolite.ddfs import DDFS
    from discolite.error import CommError
    settings = settings or DiscoSettings()
    master = getattr(task, 'master', None) or settings['DISCO_MASTER'] or None
    try:
        return TagFile(url, list(DDFS(master, settings=settings).blobs(url)))
    except CommError as e:
        raise DataError("Cannot read tag %s: %s" % (url, e), url, e.code)


def input_stream(fd, size, url, params):
    """Input stream: ``(TagFile, None, url)``."""
    return open(url), None, url
