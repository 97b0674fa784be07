"""Make the ``disco`` package name resolve to discolite.

``install()`` puts a finder at the front of ``sys.meta_path`` that answers
imports of ``disco`` and ``disco.<sub>`` with the *same module objects* as
``discolite`` and ``discolite.<sub>``, so ``disco.core.Job is discolite.core.Job``
and code written against Disco's API runs unchanged::

    from discolite import alias
    alias.install()
    from disco.core import Job, result_iterator   # discolite's
    from disco.util import kvgroup

Modules keep their real names (``discolite.core.__name__ == 'discolite.core'``)
and their real ``__spec__``, so pickling by reference and ``importlib.reload``
behave as without the alias.  ``uninstall()`` removes the finder and the
``disco.*`` entries it added to ``sys.modules``.

discolite's task processes install the alias too (as on a Disco node, where
``disco`` is importable), so job functions may ``from disco.util import kvgroup``.
"""
import importlib
import importlib.abc
import importlib.util
import sys

ALIAS = 'disco'
TARGET = 'discolite'


def _target_name(fullname):
    if fullname == ALIAS:
        return TARGET
    if fullname.startswith(ALIAS + '.'):
        return TARGET + fullname[len(ALIAS):]
    return None


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target):
        self.target = target
        self.real_spec = None

    def create_module(self, spec):
        module = importlib.import_module(self.target)
        self.real_spec = getattr(module, '__spec__', None)
        return module

    def exec_module(self, module):
        # The import system stamped the alias spec on the shared module; put the real one back.
        if self.real_spec is not None:
            module.__spec__ = self.real_spec


class AliasFinder(importlib.abc.MetaPathFinder):
    """Finds ``disco`` and ``disco.*`` as ``discolite`` and ``discolite.*``."""

    def find_spec(self, fullname, path=None, target=None):
        real = _target_name(fullname)
        if real is None:
            return None
        module = sys.modules.get(real)
        if module is not None:
            spec = getattr(module, '__spec__', None)
        else:
            try:
                spec = importlib.util.find_spec(real)
            except (ImportError, ValueError):
                return None
            if spec is None:
                return None
        is_package = spec is not None and spec.submodule_search_locations is not None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(real),
                                               is_package=is_package)

    def __repr__(self):
        return '<discolite.alias.AliasFinder disco -> discolite>'


_finder = None


def is_alias_module(module):
    """True when ``module`` is one of discolite's modules (so ``disco`` already means us)."""
    name = getattr(module, '__name__', '') or ''
    return name == TARGET or name.startswith(TARGET + '.')


def installed():
    """True while the alias is in effect (``install()`` called and not undone)."""
    return _finder is not None and _finder in sys.meta_path


def install():
    """Alias ``disco`` to discolite for this process.  Idempotent.

    Raises ImportError when a different ``disco`` package is already imported,
    rather than mixing two libraries under one name.
    """
    global _finder
    foreign = sys.modules.get(ALIAS)
    if foreign is not None and not is_alias_module(foreign):
        raise ImportError(
            "cannot alias 'disco' to discolite: a different 'disco' package is already imported "
            "from %s" % (getattr(foreign, '__file__', None) or foreign))
    if _finder is None:
        _finder = AliasFinder()
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    sys.meta_path.insert(0, _finder)
    return _finder


def uninstall():
    """Remove the alias and forget the ``disco.*`` modules it provided."""
    if _finder is not None:
        while _finder in sys.meta_path:
            sys.meta_path.remove(_finder)
    prefix = ALIAS + '.'  # (what _target_name accepts, without a call per module)
    for name in [n for n in list(sys.modules) if n == ALIAS or n.startswith(prefix)]:
        if is_alias_module(sys.modules.get(name)):
            del sys.modules[name]
    importlib.invalidate_caches()
