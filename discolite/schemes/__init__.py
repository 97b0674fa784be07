"""``scheme_<name>`` modules open the URLs of scheme ``<name>`` (see task_io.task_input_stream)."""


def active_task():
    """The Task running in this process (``discolite.worker.active_task``), or None."""
    try:
        from discolite import worker
    except ImportError:
        return None
    return getattr(worker, 'active_task', None)


class OneOpenAtATime(object):
    """Base of a file that reads several others in turn: ``close()`` closes the one being read."""

    _open = None

    def _read(self, fd, items):
        """Yield ``items`` (read from ``fd``), then close ``fd``; it is :meth:`close`'s until then."""
        self._open = fd
        try:
            yield from items
        finally:
            fd.close()
            self._open = None

    def close(self):
        if self._open is not None:
            self._open.close()


def import_scheme(url):
    """The ``scheme_<scheme>`` module of ``url`` (``scheme_file`` when it has none)."""
    import importlib
    from discolite.error import DataError
    from discolite.util import schemesplit
    scheme = schemesplit(url)[0] or 'file'
    if not scheme.replace('_', '').isalnum():
        raise DataError("Unsupported URL scheme '{0}'".format(scheme), url)
    name = '%s.scheme_%s' % (__name__, scheme)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name:
            raise
        raise DataError("Unsupported URL scheme '{0}'".format(scheme), url)


def input_stream(stream, size, url, params, globals=None):
    """The scheme module's ``input_stream(stream, size, url, params)``; ``globals``
    (e.g. a job function's) are added to the scheme module's where missing, as Disco does."""
    mod = import_scheme(url)
    if globals:
        for k, v in globals.items():
            vars(mod).setdefault(k, v)
    return mod.input_stream(stream, size, url, params)


def open(url, task=None):
    """The scheme module's ``open(url, task)``: a file-like object over ``url``."""
    return import_scheme(url).open(url, task=task)


def open_chain(url, task=None):
    """The records of ``url`` in Disco's internal format (``chain_reader`` over :func:`open`)."""
    from discolite.worker.task_io import chain_reader
    fd = open(url, task=task)
    size = getattr(fd, 'size', None)
    if size is None:
        try:
            size = len(fd)
        except TypeError:
            size = None
    return chain_reader(fd, size, url)
