"""``disco.func``: the old name of :mod:`discolite.worker.classic.func`."""
from discolite.worker.classic.func import *  # noqa: F401,F403
