"""``raw://DATA``: the text after ``raw://`` taken literally, read as str lines."""
import io


def _data(url):
    return url[len('raw://'):] if url.startswith('raw://') else url


def open(url, task=None):
    """A StringIO over the data of a ``raw://`` URL."""
    return io.StringIO(_data(url))


def input_stream(fd, size, url, params):
    """Input stream: ``(StringIO(DATA), len(DATA), url)``."""
    data = _data(url)
    return io.StringIO(data), len(data), url
