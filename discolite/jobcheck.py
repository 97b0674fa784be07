"""Mistakes Disco accepts silently, turned into warnings (client: Python warnings; first
task: events).  Standard library only: it also runs inside tasks."""
import difflib
import inspect

#: Job arguments every worker understands besides its own parameters (``Worker`` keys).
COMMON_JOBARGS = frozenset(['input', 'name', 'save', 'save_results', 'save_info', 'scheduler',
                            'owner', 'required_files', 'required_modules', 'profile', 'worker',
                            'params'])


def unknown_jobargs(worker, jobargs):
    """``[(name, closest known name or None)]`` for job arguments no worker reads."""
    known = set(COMMON_JOBARGS) | {k for k in worker if isinstance(k, str)}
    out = []
    for name in jobargs:
        if isinstance(name, str) and name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
            out.append((name, close[0] if close else None))
    return out


def jobarg_messages(worker, jobargs):
    """The warnings about ``jobargs`` (unknown names, a misleading reduce), as text lines."""
    messages = []
    for name, close in unknown_jobargs(worker, jobargs):
        messages.append("unknown job argument %r is ignored%s" % (
            name, " (did you mean %r?)" % close if close else ''))
    reduce = jobargs.get('reduce', worker.get('reduce'))
    text = reduce_message(reduce)
    if text:
        messages.append(text)
    return messages


def reduce_message(reduce):
    """A warning when ``reduce`` takes 3 arguments and is a generator function: Disco calls
    it as ``reduce(iter, out, params)`` and what it yields is lost."""
    func = getattr(reduce, '__func__', reduce)
    code = getattr(func, '__code__', None)
    if code is None or code.co_argcount != 3 or not inspect.isgeneratorfunction(func):
        return None
    names = code.co_varnames[:3]
    return ("reduce function %s(%s) takes 3 arguments and yields: Disco has two reduce "
            "signatures, reduce(iter, params), which yields (key, value) pairs, and "
            "reduce(iter, out, params), which writes them with out.add(key, value) and whose "
            "yields are ignored, so this job would output nothing. Drop an argument, or call "
            "out.add()." % (getattr(func, '__name__', 'reduce'), ', '.join(names)))
