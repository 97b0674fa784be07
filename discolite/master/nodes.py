"""The emulated nodes of one master, and where a task runs (Disco's placement, spec 6-7).

``DISCOLITE_NODES=N`` (``discolite master --nodes N``) makes the master emulate N
nodes, each with ``DISCOLITE_WORKERS`` task slots, its own host name in URLs
(``disco://node2/disco/node2/...``) and its own data directory
(``<data>/data/<host>/``), all served by the one process and its one pool.  One
node is named ``DISCOLITE_HOST`` (``localhost``), as before; with N > 1 they are
``node1`` .. ``nodeN``.  Disco's config table (``save_config_table``) replaces the
set of nodes and their slots on a running master; a node left out of it takes
no new tasks.

Placement, as Disco's scheduler does it: a task runs on the first of its
*local* hosts (its group's host, then the hosts of its inputs, most inputs
first) that is a usable node with a free slot; otherwise on the least busy
usable node ("remote").  A node is usable unless it is blacklisted or out of
the config table; a retried task avoids the nodes it already failed on while
another node can take it.

A node can be made to fail (``Nodes.set_failing``, ``DISCOLITE_FAILING_NODES``):
every task started on it fails at once, as when a node's disk or network is
broken, so a job shows Disco's retries on other nodes.  After ``BLACKLIST_AFTER``
failures in a row a node is blacklisted, as an operator would do on Disco
(``whitelist`` brings it back).
"""
import re

BLACKLIST_AFTER = 3
_NAME = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.\-]*$')


def valid_name(host):
    """A node name is a host name: it becomes a directory under the data root."""
    return isinstance(host, str) and bool(_NAME.match(host)) and host not in ('.', '..') \
        and len(host) <= 200


def node_names(count, host):
    return [host] if count == 1 else ['node%d' % i for i in range(1, count + 1)]


class Node(object):
    __slots__ = ('host', 'slots', 'running', 'active', 'failing', 'failures_in_a_row',
                 'stats', 'homes')

    def __init__(self, host, slots):
        self.host = host
        self.slots = slots
        self.running = 0
        self.active = True          # in the config table
        self.failing = False        # every task started here fails (emulated breakage)
        self.failures_in_a_row = 0
        self.stats = {'job_ok': 0, 'data_error': 0, 'error': 0}
        self.homes = set()          # jobs whose job home exists on this node


class Nodes(object):
    """The nodes by host name, in config-table order (called under the scheduler lock)."""

    def __init__(self, hosts, slots, blacklisted, failing=()):
        self.blacklisted = blacklisted   # the scheduler's set (the blacklist endpoints use it)
        self.nodes = {}
        for host in hosts:
            self.nodes[host] = Node(host, slots)
        for host in failing:
            if host in self.nodes:
                self.nodes[host].failing = True

    def __iter__(self):
        return iter(self.nodes.values())

    def get(self, host):
        return self.nodes.get(host)

    @property
    def first(self):
        return next(iter(self.nodes))

    def active(self):
        return [n for n in self.nodes.values() if n.active]

    def capacity(self):
        """Task slots of the nodes in the config table (the pool's size)."""
        return sum(n.slots for n in self.active()) or 1

    def config(self):
        return [[n.host, str(n.slots)] for n in self.active()]

    def set_config(self, table):
        """Apply a config table ``[[host, slots]]`` (validated by the caller)."""
        wanted = dict((host, int(slots)) for host, slots in table)
        for node in self.nodes.values():
            node.active = node.host in wanted
        order = {}
        for host, slots in wanted.items():
            node = self.nodes.get(host) or Node(host, slots)
            node.slots = slots
            node.active = True
            order[host] = node
        for host, node in self.nodes.items():  # out of the table: kept for their data
            order.setdefault(host, node)
        self.nodes = order

    def usable(self, node):
        return node.active and node.host not in self.blacklisted and node.running < node.slots

    def has_free_slot(self):
        return any(self.usable(n) for n in self.nodes.values())

    def place(self, task, force_local=False, force_remote=False):
        """The node ``task`` should start on now, or None when no slot suits it."""
        local = [self.nodes[h] for h in task.hosts if h in self.nodes]
        failed = task.failed_hosts

        def fresh(node):
            return node.host not in failed or all(
                n.host in failed for n in self.nodes.values()
                if n.active and n.host not in self.blacklisted)

        if not force_remote:
            for node in local:
                if self.usable(node) and fresh(node):
                    return node
        if force_local and local:
            return None
        candidates = [n for n in self.nodes.values() if self.usable(n) and fresh(n)
                      and not (force_remote and n in local)]
        if not candidates:
            return None
        return min(candidates, key=lambda n: n.running / float(n.slots))

    def set_failing(self, host, failing=True):
        node = self.nodes.get(host)
        if node is None:
            raise KeyError(host)
        node.failing = failing
        node.failures_in_a_row = 0
