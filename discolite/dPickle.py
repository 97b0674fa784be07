"""Pickling of job data the way Disco ships it (``disco.dPickle``).

Functions from the standard library and from discolite are pickled by
reference.  Every other function is reduced to its marshalled code and
defaults and rebuilt on the node with :data:`GLOBALS`, one dict shared by all
functions unpickled for a task.  So job functions do **not** see the module
globals of the script that defined them, exactly as on a Disco node.

Closures cannot be rebuilt; discolite refuses them at ``Job.run()`` with a
``DiscoError`` that names the function instead of failing later on the node.
"""
import builtins
import functools
import io
import marshal
import pickle
import sys
import types

from discolite.error import DiscoError

GLOBALS = {'__builtins__': builtins}
_STDLIB = frozenset(getattr(sys, 'stdlib_module_names', ())) | {'builtins', '__builtin__'}
_SHIPPED_PACKAGES = ('discolite', 'disco')

#: When true, functions importable by name keep their real module (and globals).
KEEP_GLOBALS = False


def new_globals():
    """Start a fresh globals dict for the functions of one task."""
    global GLOBALS
    GLOBALS = {'__builtins__': builtins}
    return GLOBALS


def _by_reference(func, keep_globals=None):
    module = getattr(func, '__module__', None) or ''
    top = module.split('.')[0]
    if top in _STDLIB or top == 'discolite':
        return True
    if top in _SHIPPED_PACKAGES:
        # ``disco.*`` is shipped by reference only when it really is discolite (the import
        # alias); functions of any other package called ``disco`` travel as code.
        mod = sys.modules.get(module)
        return getattr(mod, '__name__', '').split('.')[0] == 'discolite'
    keep = KEEP_GLOBALS if keep_globals is None else keep_globals
    if keep and module != '__main__' and '<locals>' not in func.__qualname__:
        mod = sys.modules.get(module)
        return mod is not None and getattr(mod, func.__name__, None) is func
    return False


def rebuild_function(code, defaults, name, qualname=None, module=None):
    func = types.FunctionType(marshal.loads(code), GLOBALS, name, defaults)
    if qualname:
        func.__qualname__ = qualname
    if module:
        func.__module__ = module
    return func


_MARSHALLED = {}  # id(code) -> (code, marshal bytes): a client submits the same functions often


class Pickler(pickle.Pickler):
    keep_globals = None  # None: the module's KEEP_GLOBALS

    def reducer_override(self, obj):
        if isinstance(obj, types.FunctionType) and not _by_reference(obj, self.keep_globals):
            if obj.__closure__:
                free = ', '.join(obj.__code__.co_freevars)
                raise DiscoError(
                    "Cannot ship function %r (%s): it is a closure over %s. Disco rebuilds job "
                    "functions from their code alone; pass the values through params or "
                    "functools.partial instead." % (obj.__qualname__, _where(obj), free))
            known = _MARSHALLED.get(id(obj.__code__))
            if known is None or known[0] is not obj.__code__:
                if len(_MARSHALLED) > 4096:
                    _MARSHALLED.clear()
                known = _MARSHALLED[id(obj.__code__)] = (obj.__code__,
                                                          marshal.dumps(obj.__code__))
            return rebuild_function, (known[1], obj.__defaults__,
                                      obj.__name__, obj.__qualname__, obj.__module__)
        return NotImplemented


def _where(func):
    code = func.__code__
    return '%s:%d' % (code.co_filename, code.co_firstlineno)


class MainModuleError(ImportError):
    pass


class Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == '__main__':
            raise MainModuleError(
                "%s is defined in __main__, the script that submitted the job. A Disco node cannot "
                "import the submitting script, so Job subclasses and other classes must live in an "
                "importable module (move it to its own file, or pass functions to Job().run())."
                % name)
        return super().find_class(module, name)


def dumps(obj, protocol=-1, keep_globals=None):
    """Pickle ``obj``; a value that cannot be pickled raises DiscoError naming it.
    ``keep_globals``: ship functions of importable modules by reference (default:
    :data:`KEEP_GLOBALS`)."""
    buf = io.BytesIO()
    try:
        pickler = Pickler(buf, protocol)
        pickler.keep_globals = keep_globals
        pickler.dump(obj)
    except DiscoError:
        raise
    except Exception as e:
        raise DiscoError("Cannot serialize job data: %s: %s%s"
                         % (type(e).__name__, e, _culprit(obj)))
    return buf.getvalue()


def loads(data):
    return Unpickler(io.BytesIO(data)).load()


def _culprit(obj, depth=0):
    """Find and describe the innermost unpicklable value inside ``obj``."""
    if depth > 6:
        return ''
    items = []
    if isinstance(obj, dict):
        items = list(obj.items())
    elif isinstance(obj, (list, tuple, set)):
        items = list(enumerate(obj))
    elif isinstance(obj, functools.partial):
        items = [('func', obj.func)] + list(enumerate(obj.args)) + list(obj.keywords.items())
    elif hasattr(obj, '__dict__') and not isinstance(obj, type):
        items = list(vars(obj).items())
    for key, value in items:
        try:
            Pickler(io.BytesIO(), -1).dump(value)
        except Exception:
            inner = _culprit(value, depth + 1)
            return inner or " (the value at %r is %r)" % (key, _short(value))
    return ''


def _short(value):
    r = repr(value)
    return r if len(r) < 120 else r[:117] + '...'
