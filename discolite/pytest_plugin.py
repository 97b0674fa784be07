"""pytest plugin: a ``disco`` fixture bound to a fresh in-process master per test."""
import pytest


@pytest.fixture
def disco():
    from discolite import Disco
    from discolite.master import Master
    master = Master()
    try:
        yield Disco(master.url)
    finally:
        master.close()
