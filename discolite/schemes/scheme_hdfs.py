"""``hdfs://NAMENODE:PORT/PATH``: a file of a Hadoop cluster, read through WebHDFS.

The URL becomes ``http://NAMENODE:PORT/webhdfs/v1/PATH?op=OPEN``; the namenode
redirects to a datanode, and the file is read with ranged GETs (``comm.Connection``).
It needs a reachable HDFS with WebHDFS enabled; a failure says which namenode.
"""
from discolite.error import CommError, DataError


def _webhdfs(url):
    rest = url.split('://', 1)[1] if '://' in url else url
    netloc, _, path = rest.partition('/')
    if not netloc:
        raise DataError("hdfs:// URL without a namenode (expected hdfs://HOST:PORT/PATH)", url)
    return 'http://%s/webhdfs/v1/%s?op=OPEN' % (netloc, path)


def open(url, task=None):
    from discolite.comm import open_remote
    location = _webhdfs(url)
    try:
        return open_remote(location)
    except CommError as e:
        raise CommError("Cannot read %s through WebHDFS at %s (is the HDFS namenode running "
                        "with WebHDFS enabled?): %s" % (url, location, e.msg), url, e.code)


def input_stream(fd, size, url, params):
    """Input stream: ``(connection, size, url)``."""
    conn = open(url)
    return conn, len(conn), url
