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
