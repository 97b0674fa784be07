"""``file://PATH`` or a bare ``PATH``: a local file opened in binary mode, as an
``io.FileIO`` (``disco.compat.file``) like on Disco."""

from discolite.comm import File
from discolite.error import DataError


def path_of(url):
    """The local path of a ``file://`` URL or a bare path."""
    return url[len('file://'):] if url.startswith('file://') else url


def open(url, task=None):
    """Open the file for reading bytes; a missing file raises DataError naming the path."""
    path = path_of(url)
    try:
        fd = File(path)
    except OSError as e:
        raise DataError("Cannot open file: %s" % (e.strerror or e), path)
    fd.url = url
    fd.size = len(fd)
    return fd


def input_stream(fd, size, url, params):
    """Input stream: ``(file, size, url)``; iterating the file gives bytes lines."""
    f = open(url)
    return f, getattr(f, 'size', None), url
