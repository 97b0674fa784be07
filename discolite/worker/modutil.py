"""Finding the modules job functions use (``disco.modutil``).

Job functions run on the node without the module globals of the script that
defined them (see :mod:`discolite.dPickle`).  Disco makes the common case work
anyway: a function that uses ``math.ceil(x)`` or ``mod1.plusceil(x)`` where
``math``/``mod1`` are modules imported at the top of its script gets those
modules imported on the node and injected under their names.  This is
``required_modules=None`` (the default): :func:`find_modules` is called on the
client with every job function and its result is shipped with the job.

Detection looks for ``x.attr`` uses, i.e. names in the code's ``co_names``
(recursively through nested code objects) that are bound to a module in the
function's **original** ``__globals__``.  The result is a list whose items are

* a module name (``'math'``, ``'os.path'``) for the standard library, installed
  packages and discolite itself: the node imports it by name;
* a ``(name, path)`` pair for a user module with a source file: the file is
  shipped in the job home under ``lib/`` and imported from there.
"""
import builtins
import dis
import functools
import importlib
import importlib.util
import modulefinder
import os
import sys
import sysconfig
import types

from discolite.error import DiscoError


class ModUtilImportError(DiscoError, ImportError):
    """A module named in ``required_modules`` / ``find_modules`` cannot be imported."""

    def __init__(self, error, function=None):
        self.error = error
        self.function = function
        DiscoError.__init__(self, error, function)

    def __str__(self):
        where = ''
        if self.function is not None:
            where = ' (used by %s)' % _describe(self.function)
        return "%s%s. Install the module or remove it from required_modules." % (
            self.error, where)


_SHIPPED = ('discolite', 'disco')


def _system_dirs():
    dirs = set()
    for key in ('stdlib', 'platstdlib', 'purelib', 'platlib'):
        try:
            path = sysconfig.get_paths()[key]
        except KeyError:
            continue
        dirs.add(os.path.realpath(path))
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        dirs.add(os.path.realpath(os.path.join(prefix, 'lib')))
        dirs.add(os.path.realpath(os.path.join(prefix, 'lib64')))
    try:
        import site
        for path in site.getsitepackages() + [site.getusersitepackages()]:
            dirs.add(os.path.realpath(path))
    except Exception:
        pass
    return tuple(sorted(d + os.sep for d in dirs))


_SYSTEM_DIRS = None


def is_user_module(module):
    """True for a module with a source file outside the standard library and site-packages."""
    global _SYSTEM_DIRS
    name = getattr(module, '__name__', '') or ''
    if name.split('.')[0] in _SHIPPED or name in sys.builtin_module_names:
        return False
    path = getattr(module, '__file__', None)
    if not path or not path.endswith('.py'):
        return False
    if _SYSTEM_DIRS is None:
        _SYSTEM_DIRS = _system_dirs()
    real = os.path.realpath(path)
    return not real.startswith(_SYSTEM_DIRS)


def _code_names(code):
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _plain_functions(obj):
    """The Python functions behind ``obj`` (partials, bound methods, staticmethods)."""
    if isinstance(obj, types.FunctionType):
        yield obj
    elif isinstance(obj, functools.partial):
        yield from _plain_functions(obj.func)
        for arg in list(obj.args) + list((obj.keywords or {}).values()):
            yield from _plain_functions(arg)
    elif isinstance(obj, (types.MethodType, staticmethod, classmethod)):
        yield from _plain_functions(obj.__func__)
    elif callable(obj) and not isinstance(obj, type) and \
            isinstance(getattr(type(obj), '__call__', None), types.FunctionType):
        yield type(obj).__call__


# Opcodes of the ``name.attr`` pattern (Disco exports these names).
LOAD_CONST = dis.opmap['LOAD_CONST']
LOAD_GLOBAL = dis.opmap['LOAD_GLOBAL']
LOAD_ATTR = dis.opmap['LOAD_ATTR']
IMPORT_NAME = dis.opmap['IMPORT_NAME']
HAVE_ARGUMENT = dis.HAVE_ARGUMENT
_ATTR_OPS = ('LOAD_ATTR', 'LOAD_METHOD')
_GLOBAL_OPS = ('LOAD_GLOBAL', 'LOAD_NAME')


_SCANNED = {}  # code object -> the names scanner() yields for it (a client packs many jobs)


def scanner(func_code):
    """Yield the global names a code object (and its nested code) uses as ``name.attr``.

    Disco's scanner read bytecode as 3-byte instructions and finds nothing since
    Python 3.6; this one reads it with :mod:`dis`, so it works on any Python 3."""
    names = _SCANNED.get(func_code)
    if names is None:
        if len(_SCANNED) > 4096:
            _SCANNED.clear()
        names = _SCANNED[func_code] = tuple(_scan(func_code))
    return iter(names)


def _scan(func_code):
    prev = None
    for ins in dis.get_instructions(func_code):
        if ins.opname in _ATTR_OPS and prev is not None and prev.opname in _GLOBAL_OPS:
            yield prev.argval
        prev = ins
    for const in func_code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _scan(const)


def _injected_names():
    """Names the classic worker gives job functions on the node (``Task``, ``nop_map`` ...):
    a job function may use them as ``name.attr`` without importing anything."""
    from discolite.worker.classic import func
    names = {k for k in vars(func) if not k.startswith('_')}
    names.update(('Task', 'get', 'put', 'this_name', 'this_master', 'this_host',
                  'this_partition', 'this_inputs', 'Worker', 'Params', 'util', 'worker',
                  'JOBPACK_VERSION1', 'external'))
    return names


def parse_function(function):
    """``{name: module}`` of the modules a function reaches through ``name.attr``.

    A name bound to a module in the function's globals is that module.  A name used
    as ``name.attr`` that is not bound at all (not a global, a builtin or a name the
    worker injects) is imported as a module by that name, as Disco does (so a job
    function may use ``math.ceil`` without importing ``math``); when no such module
    exists, :class:`ModUtilImportError` says so.
    """
    found = {}
    injected = None
    for fn in _plain_functions(function):
        if (getattr(fn, '__module__', None) or '').split('.')[0] in _SHIPPED:
            continue  # discolite's own functions travel by reference with their globals
        g = fn.__globals__
        for name in _code_names(fn.__code__):
            value = g.get(name)
            if isinstance(value, types.ModuleType):
                found[name] = value
        for name in scanner(fn.__code__):
            if name in found or name in g or hasattr(builtins, name):
                continue
            if injected is None:
                injected = _injected_names()
            if name in injected:
                continue
            found[name] = _import_used(name, function)
    return found


def _import_used(name, function):
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise ModUtilImportError("No module named %r" % name, function)
    return import_module(name, function)


def user_paths():
    """The absolute ``PYTHONPATH`` entries, plus ``''`` (the current directory)."""
    return [os.path.abspath(p) for p in os.environ.get('PYTHONPATH', '').split(':') if p] + ['']


def recurse_module(module, path):
    """``{name: path}`` of the user modules that the module file ``path`` imports."""
    finder = modulefinder.ModuleFinder(path=[p or os.getcwd() for p in user_paths()] + sys.path)
    finder.run_script(path)
    out = {}
    for name, mod in finder.modules.items():
        file = getattr(mod, '__file__', None)
        if name in ('__main__', module) or not file or not file.endswith('.py'):
            continue
        if is_user_module(types.SimpleNamespace(__name__=name, __file__=file)):
            out[name] = os.path.abspath(file)
    return out


def locate_modules(modules, recurse=True, include_sys=False):
    """``(name, path)`` of the user modules among ``modules`` (names), and of the user
    modules they import when ``recurse``; ``(name, None)`` for the others when
    ``include_sys``."""
    found = []
    seen = set()
    for name in modules:
        if name in seen:
            continue
        seen.add(name)
        module = import_module(name)
        if is_user_module(module):
            path = os.path.abspath(module.__file__)
            found.append((name, path))
            if recurse:
                for sub, subpath in sorted(recurse_module(name, path).items()):
                    if sub not in seen:
                        seen.add(sub)
                        found.append((sub, subpath))
        elif include_sys:
            found.append((name, None))
    return found


def _module_entry(module, send_modules):
    if send_modules and is_user_module(module):
        return (module.__name__, os.path.abspath(module.__file__))
    return module.__name__


def _user_imports(module):
    """User modules that ``module`` itself imports: modules bound to a name at its top level,
    and the modules of functions and classes imported from another user module."""
    for value in list(vars(module).values()):
        if not isinstance(value, types.ModuleType):
            owner = getattr(value, '__module__', None) \
                if isinstance(value, (types.FunctionType, type)) else None
            value = sys.modules.get(owner) if isinstance(owner, str) else None
        if isinstance(value, types.ModuleType) and value is not module and is_user_module(value):
            yield value


def import_module(name, function=None):
    """Import ``name``; a failure raises :class:`ModUtilImportError` naming it."""
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise ModUtilImportError("Could not import module %r: %s" % (name, e), function)
    except Exception as e:
        raise ModUtilImportError("Importing module %r failed: %s: %s"
                                 % (name, type(e).__name__, e), function)


def find_modules(functions, send_modules=True, job_path=None, recurse=True, exclude=()):
    """The modules used by ``functions``, as ``required_modules`` entries.

    ``functions`` may also contain module names (imported here: an unknown name
    raises :class:`ModUtilImportError`) and module objects.  With
    ``send_modules=False`` every entry is a plain name.  With ``recurse``, user
    modules imported by the found user modules are included too.  Module names
    in ``exclude`` are left out; ``job_path`` (the source file of the job's own
    module, which is shipped anyway) is left out as well.
    """
    modules = []
    seen = set()
    exclude = set(exclude or ())
    job_path = os.path.realpath(job_path) if job_path else None

    def add(module):
        name = module.__name__
        if name in seen or name in exclude or name == '__main__':
            return
        path = getattr(module, '__file__', None)
        if job_path and path and os.path.realpath(path) == job_path:
            return
        seen.add(name)
        modules.append(module)
        if recurse and is_user_module(module):
            for sub in _user_imports(module):
                add(sub)

    for item in functions:
        if isinstance(item, str):
            if item not in exclude:
                add(import_module(item))
        elif isinstance(item, types.ModuleType):
            add(item)
        else:
            for _name, module in sorted(parse_function(item).items()):
                add(module)
    return [_module_entry(m, send_modules) for m in modules]


def check_required_modules(modules):
    """Validate an explicit ``required_modules`` list on the client (names must be importable)."""
    checked = []
    for mod in modules:
        if isinstance(mod, (tuple, list)):
            if len(mod) != 2 or not isinstance(mod[0], str) or not isinstance(mod[1], str):
                raise ModUtilImportError("Invalid required_modules entry %r: expected a module "
                                         "name or a (name, path) pair" % (mod,))
            name, path = mod
            if not os.path.isfile(path):
                raise ModUtilImportError("Module file %r of required module %r does not exist"
                                         % (path, name))
            checked.append((name, os.path.abspath(path)))
        elif isinstance(mod, str):
            if importlib.util.find_spec(mod.split('.')[0]) is None:
                raise ModUtilImportError("Could not find required module %r" % mod)
            checked.append(mod)
        elif isinstance(mod, types.ModuleType):
            checked.append(_module_entry(mod, True))
        else:
            raise ModUtilImportError("Invalid required_modules entry %r: expected a module name "
                                     "or a (name, path) pair" % (mod,))
    return checked


def _describe(function):
    fn = next(iter(_plain_functions(function)), None)
    if fn is None:
        return repr(function)
    code = fn.__code__
    return '%s (%s:%d)' % (fn.__qualname__, code.co_filename, code.co_firstlineno)
