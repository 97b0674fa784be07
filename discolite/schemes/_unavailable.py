"""Scheme modules whose outside service or library discolite does not provide."""
from discolite.error import DiscoError


def needs(scheme, what, module=None):
    """A function raising DiscoError that names what ``scheme`` needs (and, when
    ``module`` is importable after all, that discolite does not implement it)."""
    def unavailable(*args, **kwargs):
        installed = False
        if module:
            import importlib.util
            try:
                installed = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):
                installed = False
        if installed:
            raise DiscoError("The %s:// scheme is not implemented by discolite (it needs %s)"
                             % (scheme, what))
        raise DiscoError("The %s:// scheme needs %s, which is not available here%s"
                         % (scheme, what, " (no module named %r)" % module if module else ''))
    return unavailable


class Unavailable(object):
    """Base of classes that need what is missing: instantiating one raises the error."""
    _error = None

    def __init__(self, *args, **kwargs):
        type(self)._error()
