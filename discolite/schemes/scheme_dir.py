"""``dir://HOST/PATH``: an index file; opened as a stream it yields the records of its entries."""
import random

from discolite import util
from discolite.schemes import OneOpenAtATime, active_task, scheme_disco


def _label(task):
    label = getattr(task if task is not None else active_task(), 'group_label', None)
    return label if isinstance(label, int) else None


class DirFile(OneOpenAtATime):
    """Iterates the ``(key, value)`` records of the index entries (shuffled order)."""

    def __init__(self, url, label=None):
        self.url = url
        self.urls = util.parse_dir(url, label=label)
        random.shuffle(self.urls)

    def __iter__(self):
        from discolite.worker.task_io import disco_input_stream
        for u in self.urls:
            fd = scheme_disco.open(u)
            yield from self._read(fd, disco_input_stream(fd, getattr(fd, 'size', None), u))


def open(url, task=None):
    """A :class:`DirFile` over the entries of the index matching the task's label (all if none)."""
    return DirFile(url, label=_label(task))


def input_stream(fd, size, url, params):
    """Input stream: ``(DirFile, None, url)``."""
    return open(url), None, url
