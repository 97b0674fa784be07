"""``url://ANYTHING``: the whole URL string itself as the input (one line)."""
import io


def open(url, task=None):
    return io.StringIO(url)


def input_stream(fd, size, url, params):
    """Input stream: ``(StringIO(url), len(url), url)``."""
    return io.StringIO(url), len(url), url
