"""A Job subclass whose params are a mutable class attribute changed by map_init."""
from discolite import Job


class InitParamsJob(Job):
    params = {'x': 10, 'seen': []}
    partitions = None

    @staticmethod
    def map_init(iter, params):
        params['x'] += 100
        params['seen'].append(1)

    @staticmethod
    def map(e, params):
        yield e, (params['x'], len(params['seen']))


class ResolvedJob(Job):
    """Job parameters found in each of the places ``Worker.getitem`` looks, in a node task."""
    partitions = None
    sort = False

    @property
    def map_init(self):  # a property of the class: read through the instance
        def init(iter, params):
            params['from_property'] = True
        return init

    @staticmethod
    def map(e, params):
        yield e, sorted(params.items())


class GetattrJob(Job):
    """A Job subclass with its own ``__getattr__``: it is asked for every missing name."""
    partitions = None

    def __getattr__(self, attr):
        if attr == 'params':
            return {'via': '__getattr__'}
        return super().__getattr__(attr)

    @staticmethod
    def map(e, params):
        yield e, sorted(params.items())
