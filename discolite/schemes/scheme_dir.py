"""``dir://HOST/PATH``: an index file; opened as a stream it yields the records of its entries."""
import random

from discolite import util
from discolite.schemes import scheme_disco


def _label(task):
    if task is None:
        try:
            from discolite import worker
            task = getattr(worker, 'active_task', None)
        except ImportError:
            task = None
    label = getattr(task, 'group_label', None)
    return label if isinstance(label, int) else None


class DirFile(object):
    """Iterates the ``(key, value)`` records of the index entries (shuffled order)."""

    def __init__(self, url, label=None):
        self.url = url
        self.urls = util.parse_dir(url, label=label)
        random.shuffle(self.urls)
        self._open = None

    def __iter__(self):
        from discolite.worker.task_io import disco_input_stream
        for u in self.urls:
            fd = scheme_disco.open(u)
            self._open = fd
            try:
                for rec in disco_input_stream(fd, getattr(fd, 'size', None), u):
                    yield rec
            finally:
                fd.close()
                self._open = None

    def close(self):
        if self._open is not None:
            self._open.close()


def open(url, task=None):
    """A :class:`DirFile` over the entries of the index matching the task's label (all if none)."""
    return DirFile(url, label=_label(task))


def input_stream(fd, size, url, params):
    """Input stream: ``(DirFile, None, url)``."""
    return open(url), None, url
