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
