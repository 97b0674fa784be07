import pytest

from tests.control.common import Gate


@pytest.fixture
def gate(disco, tmp_path_factory):
    """``gate(inputs=..., **jobargs)`` starts a job whose maps block until ``.open()``."""
    gates = []

    def start(inputs=('raw://one',), **jobargs):
        g = Gate(disco, tmp_path_factory.mktemp('gate'), inputs, **jobargs)
        gates.append(g)
        return g
    yield start
    for g in gates:
        g.close()
