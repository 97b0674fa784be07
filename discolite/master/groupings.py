"""How a stage's grouping cuts the previous stage's outputs into tasks (Disco 0.5.4, spec 7).

The outputs of a stage, and the job inputs (a virtual first stage), are *items*:

* a :class:`DataItem` -- one data set: a label, a size, replica URLs and a host
  (a job input, or an output given as a URL);
* a :class:`DirItem` -- the index file (``dir://``) of one task: the labels it
  holds and the node that wrote it.

:func:`group` turns the items into the groups of the next stage; each group is
one task: its ``(label, host)`` and its inputs ``[(label sent, replicas)]``.
The label sent with a dir item is the group's label, or ``'all'`` for
``group_node`` and ``group_all`` (the worker then reads every line of the index)::

    grouping          tasks                          group        inputs
    split             one per data item, and one     (L, H)       that item / that label of the dir
                      per (dir item, label in it)
    group_label       one per distinct label L       (L, '')      everything with label L
    group_node_label  one per distinct (L, host H)   (L, H)       everything with label L on H
    group_node        one per distinct host H        (0, H)       everything on H ('all')
    group_all         one, if there is any input     (0, '')      everything ('all')
"""
from discolite import util

GROUPINGS = ('split', 'group_label', 'group_node_label', 'group_node', 'group_all')


def host_of(url):
    """The host of a replica URL; for ``raw://`` the payload itself, as on Disco."""
    scheme, rest = util.schemesplit(url)
    if scheme == 'raw':
        return rest
    if not scheme:
        return ''
    return util.netloc.parse(rest.split('/', 1)[0]).host


class DataItem(object):
    __slots__ = ('label', 'size', 'replicas', 'host')

    def __init__(self, label, size, replicas, host=None):
        self.label = label
        self.size = size
        self.replicas = list(replicas)
        self.host = host if host is not None else \
            next((h for h in map(host_of, self.replicas) if h), '')

    def labels(self):
        return [self.label]

    def __repr__(self):
        return 'DataItem(%r, %r, host=%r)' % (self.label, self.replicas, self.host)


class DirItem(object):
    """An index file; ``labels`` None means "read them from the index when needed"."""
    __slots__ = ('url', 'host', '_labels')

    def __init__(self, url, host, labels=None):
        self.url = url
        self.host = host
        self._labels = sorted(set(labels)) if labels is not None else None

    @property
    def replicas(self):
        return [self.url]

    def labels(self):
        if self._labels is None:
            try:
                self._labels = sorted({label for label, _u, _s in util.read_index(self.url)})
            except Exception:  # unreadable: the task reading it reports the error
                self._labels = [0]
        return self._labels

    def __repr__(self):
        return 'DirItem(%r, host=%r)' % (self.url, self.host)


def group(grouping, items):
    """``[((label, host), [(label sent, replicas)])]``: the tasks of a stage, in order."""
    if grouping == 'split':
        groups = []
        for item in items:
            if isinstance(item, DirItem):
                groups.extend(((label, item.host), [(label, item.replicas)])
                              for label in item.labels())
            else:
                groups.append(((item.label, item.host), [(item.label, item.replicas)]))
        return groups
    if grouping == 'group_all':
        return [((0, ''), [_all(item) for item in items])] if items else []
    if grouping == 'group_node':
        byhost = {}
        for item in items:
            byhost.setdefault(item.host, []).append(_all(item))
        return [((0, host), byhost[host]) for host in sorted(byhost)]
    if grouping in ('group_label', 'group_node_label'):
        per_node = grouping == 'group_node_label'
        bykey = {}
        for item in items:
            for label in item.labels():
                key = (label, item.host if per_node else '')
                bykey.setdefault(key, []).append((label, item.replicas))
        return [(key, bykey[key]) for key in sorted(bykey, key=_order)]
    raise ValueError('unknown grouping %r' % (grouping,))


def _all(item):
    return ('all' if isinstance(item, DirItem) else item.label, item.replicas)


def _order(key):
    label, host = key
    return (str(type(label)), label, host)
