"""``disco://HOST/PATH``: a local file when HOST's data root is registered, else HTTP."""
import os

from discolite import util
from discolite.schemes import active_task, scheme_file, scheme_http


def _task_local(url, task):
    host = getattr(task, 'host', None)
    disco_data = getattr(task, 'disco_data', None)
    if not host or not disco_data:
        return None
    scheme, loc, path = util.urlsplit(url, localhost=host, disco_data=disco_data,
                                      ddfs_data=getattr(task, 'ddfs_data', '') or disco_data)
    if scheme == 'file' and os.path.exists(path):
        return path
    return None


def open(url, task=None):
    """Open a ``disco://`` URL: local path via util.local_path (or the task's data dir), else
    ``http://HOST:DISCO_PORT/PATH``."""
    path = util.local_path(url)
    if path is None:
        path = _task_local(url, task if task is not None else active_task())
    if path is not None:
        fd = scheme_file.open(path)
        try:
            fd.url = url
        except AttributeError:
            pass
        return fd
    return scheme_http.open(util.urlresolve(url))


def input_stream(fd, size, url, params):
    """Input stream: ``(file_or_http, size, url)``."""
    f = open(url)
    return f, getattr(f, 'size', None), url
