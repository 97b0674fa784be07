"""The ``discolite`` command line, modelled on Disco's ``disco`` command.

Every command talks to one master, chosen by ``-M/--master URL`` or the
``DISCO_MASTER`` setting.  With neither, the master is an in-process one that
lives only as long as the command itself, so for everyday use start
``discolite master`` in another terminal and point the other commands at it.
"""
import argparse
import json
import os
import re
import sys
import textwrap
import time
import traceback

EPILOG = """\
Which master: -M/--master URL, else the DISCO_MASTER setting (environment or
settings file). With neither, commands use an in-process master that lives only
as long as the command itself (so `jobs` prints nothing): for everyday use run
`discolite master` in another terminal and export DISCO_MASTER=http://localhost:8989.

JOB arguments accept a job name, `@` (the most recent job) or `@?TEXT` (the most
recent job whose name contains TEXT).
"""


class CLIError(Exception):
    """An error with a message meant for the user (printed as one line, exit status 1)."""


# --------------------------------------------------------------------------- helpers

def _master_url(value):
    """Accept ``http://h:p``, ``disco://h``, ``local://...`` or Disco's ``host[:port]``."""
    if not value:
        return value
    if '://' in value:
        return value.rstrip('/')
    from discolite.settings import DiscoSettings
    host, _, port = value.partition(':')
    return 'http://%s:%s' % (host, port or DiscoSettings()['DISCO_PORT'])


def _disco(args):
    from discolite.core import Disco
    if getattr(args, '_disco', None) is None:
        args._disco = Disco(args.master) if args.master else Disco()
    return args._disco


def _job(args, name):
    """Resolve ``@`` and ``@?substr`` to a job name; anything that cannot be a job name
    (a path, an empty string, ...) is refused here, whatever the command or ``--force``."""
    if not name.startswith('@') or (len(name) > 1 and not name.startswith('@?')):
        from discolite.master.names import lookup
        if lookup(name) is None:
            raise CLIError("unknown job %r: not a job name (those look like "
                           "<prefix>@<hex>:<hex>:<hex>; see `discolite jobs`)" % name)
        return name
    jobs = _disco(args).joblist()
    if name == '@':
        if not jobs:
            raise CLIError('no jobs on the master at %s' % _disco(args).master)
        return jobs[0][2]
    text = name[2:]
    for _, _, jobname in jobs:
        if text in jobname:
            return jobname
    raise CLIError('no job whose name contains %r on the master at %s'
                   % (text, _disco(args).master))


def _call(what, job, func, *a, **kw):
    """Run a client call about ``job``; turn a 404 into 'unknown job'."""
    from discolite.error import CommError
    try:
        return func(*a, **kw)
    except CommError as e:
        if e.code == 404:
            raise CLIError(what % {'job': job})
        raise


def _unknown(job):
    return "unknown job %r (see `discolite jobs`)" % job


def _out(line=''):
    sys.stdout.write('%s\n' % line)


def _print_urls(results):
    for entry in results:
        if isinstance(entry, (list, tuple)):
            _out('\t'.join(entry).rstrip())
        else:
            _out(str(entry).rstrip())


def _print_results(disco, results, urls):
    """Print result URLs (one line per result, replicas TAB-separated) or the records."""
    if urls:
        _print_urls(results)
    else:
        _print_records(disco, results)


def _print_records(disco, results):
    from discolite.core import result_iterator
    for record in result_iterator(results, ddfs=disco.master):
        if isinstance(record, tuple) and len(record) == 2:
            _out('%r\t%r' % record)
        else:
            _out(repr(record))


# --------------------------------------------------------------------------- commands

def cmd_none(args):
    """Bare ``discolite``: usage and the commands, as ``--help`` (exit status 2)."""
    sys.stderr.write(build_parser().format_help())
    return 2


def cmd_jobs(args):
    for start, status, name in _disco(args).joblist():
        if args.status:
            _out('%s\t%s' % (name, status))
        else:
            _out(name)


def cmd_jobinfo(args):
    disco = _disco(args)
    name = _job(args, args.job)
    info = _call(_unknown(name), name, disco.jobinfo, name)
    if args.json:
        _out(json.dumps(info, indent=2, sort_keys=True))
        return
    _out('job       %s' % name)
    _out('status    %s' % info.get('active'))
    if info.get('active') == 'dead':  # why it died (Disco.jobinfo adds it for any master)
        if info.get('reason'):
            _out('reason    %s' % info['reason'])
    _out('started   %s' % info.get('timestamp'))
    _out('owner     %s' % info.get('owner'))
    _out('worker    %s' % info.get('worker'))
    _out_list('inputs    %d', info.get('inputs') or [], args.max, _short)
    _out('stages    %-14s %7s %7s %7s %7s %7s'
         % ('stage', 'pending', 'waiting', 'running', 'done', 'failed'))
    for stage in info.get('pipeline') or []:
        _out('          %-14s %7d %7d %7d %7d %7d' % tuple(stage))
    _out_list('results   %d', info.get('results') or [], args.max)
    hosts = info.get('hosts') or []
    if hosts:
        _out('running   %s' % ', '.join(hosts))


def _out_list(title, items, limit, show=str):
    """``title % len(items)``, then at most ``limit`` items, indented, and how many were left out."""
    _out(title % len(items))
    for item in items[:limit]:
        _out('  %s' % show(item))
    if len(items) > limit:
        _out('  ... %d more' % (len(items) - limit))


def _nonnegative(cast):
    """An argparse type: a number >= 0 (a negative offset, timeout or count means nothing)."""
    def parse(text):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError('invalid number: %r' % text)
        if not value >= 0 or value == float('inf'):
            raise argparse.ArgumentTypeError('must be a non-negative number, not %r' % text)
        return value
    parse.__name__ = cast.__name__
    return parse


def _short(url, width=100):
    return url if len(url) <= width else url[:width - 3] + '...'


def cmd_events(args):
    disco = _disco(args)
    name = _job(args, args.job)
    offset = args.offset
    while True:
        offset = _call(_unknown(name), name, _print_events, disco, name, offset, args.raw)
        sys.stdout.flush()
        if not args.follow:
            return
        status = _call(_unknown(name), name, disco.jobinfo, name).get('active')
        if status not in ('active', 'initializing'):
            # one last read: the final events may have arrived with the status change
            _print_events(disco, name, offset, args.raw)
            return 0 if status == 'ready' else 1
        time.sleep(args.interval)


def _print_events(disco, name, offset, raw):
    """Print the events of job ``name`` from byte ``offset`` on; returns the offset reached."""
    if raw:
        text = disco.rawevents(name, offset)
        sys.stdout.write(text)
        return offset + len(text.encode('utf-8'))
    for offset, (timestamp, host, message) in disco.events(name, offset):
        _out('%s %-10s %s' % (timestamp, host, message))
    return offset


def cmd_wait(args):
    from discolite.error import CommError
    disco = _disco(args)
    name = _job(args, args.job)
    from discolite.monitor import Progress
    show = args.progress if args.progress is not None else sys.stdout.isatty()
    progress = Progress(disco, name, sys.stdout) if show else None
    start = time.time()
    try:
        while True:
            if progress is not None:
                progress.update()
            wait_ms = int(args.interval * 1000)
            if args.timeout is not None:
                left = args.timeout - (time.time() - start)
                wait_ms = max(0, min(wait_ms, int(left * 1000)))
            status, results = disco.results(name, timeout=wait_ms)
            if status != 'active':
                break
            # the timeout is checked after asking: a finished job is never "still active"
            if args.timeout is not None and time.time() - start >= args.timeout:
                raise CLIError('job %s is still active after %gs (it keeps running)'
                               % (name, args.timeout))
    finally:
        if progress is not None:
            progress.clear()
    if status == 'unknown job':
        raise CLIError(_unknown(name))
    if status != 'ready':
        raise CLIError('job %s is %s%s' % (name, status, _failure_hint(disco, name)))
    _print_results(disco, results, urls=not args.records)


def _failure_hint(disco, name):
    """Why the job died, in one line, for the CLI's error message."""
    reason = disco.failure_reason(name)
    if not reason:
        return ''
    return ': %s (see `discolite events %s`)' % (reason[0], name)


def _ready_results(disco, name):
    status, results = disco.results(name, timeout=0)
    if status == 'unknown job':
        raise CLIError(_unknown(name))
    if status != 'ready':
        raise CLIError('job %s is %s: it has no results%s' % (
            name, status, ' yet (try `discolite wait %s`)' % name if status == 'active' else
            _failure_hint(disco, name)))
    return results


def cmd_results(args):
    disco = _disco(args)
    name = _job(args, args.job)
    _print_results(disco, _ready_results(disco, name), args.urls)


def cmd_stageresults(args):
    disco = _disco(args)
    name = _job(args, args.job)
    results = _call("job %%(job)r is unknown, or its stage %r has not finished "
                    "(stages are listed by `discolite jobinfo`)" % args.stage, name,
                    disco.stageresults, name, args.stage)
    _print_results(disco, results, args.urls)


def cmd_oob(args):
    from discolite.error import CommError, DiscoError
    disco = _disco(args)
    words = args.words
    if words and words[0] == 'list' and len(words) == 2:
        action, key, job = 'list', None, words[1]
    elif words and words[0] == 'get' and len(words) == 3:
        action, key, job = 'get', words[1], words[2]
    elif len(words) == 1 and words[0] not in ('list', 'get'):
        action, key, job = 'list', None, words[0]
    else:
        raise CLIError('usage: discolite oob list JOB | discolite oob get KEY JOB | '
                       'discolite oob JOB')
    name = _job(args, job)
    if action == 'list':
        try:
            keys = disco.oob_list(name)
        except CommError as e:
            if e.code == 404:
                _check_known(disco, name)
                return  # a known job that stored no OOB values
            raise
        for k in sorted(keys):
            _out(k)
        return
    try:
        value = disco.oob_get(name, key)
    except DiscoError as e:
        if str(e) == 'Unknown key or jobname':
            _check_known(disco, name)
            raise CLIError('job %s has no OOB key %r' % (name, key))
        raise
    if value is None:
        raise CLIError('job %s has no OOB key %r' % (name, key))
    if args.repr:
        _out(repr(value))
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(value)
        sys.stdout.buffer.flush()


def _check_known(disco, name):
    _call(_unknown(name), name, disco.jobinfo, name)


def _each_job(args, verb):
    disco = _disco(args)
    for job in args.jobs:
        name = _job(args, job)
        known = disco.results(name, timeout=0)[0] != 'unknown job'
        if not known and not args.force:
            raise CLIError(_unknown(name))
        getattr(disco, verb)(name)
        if args.verbose_cmd:
            _out('%s %s' % (verb, name))


def cmd_kill(args):
    _each_job(args, 'kill')


def cmd_clean(args):
    if args.finished:
        disco = _disco(args)
        names = [name for _, status, name in disco.joblist() if status != 'active']
        args.jobs = list(args.jobs) + names
    if not args.jobs:
        raise CLIError('give one or more JOBs, or --finished to clean every finished job')
    _each_job(args, 'clean')


def cmd_purge(args):
    _each_job(args, 'purge')


def cmd_nodeinfo(args):
    info = _disco(args).nodeinfo()
    if args.json:
        _out(json.dumps(info, indent=2, sort_keys=True))
        return
    _out('%-20s %7s %7s %7s %10s %7s %9s %11s'
         % ('host', 'slots', 'running', 'ok', 'data_error', 'error', 'connected', 'blacklisted'))
    for host, node in sorted(info.items()):
        _out('%-20s %7s %7d %7s %10s %7s %9s %11s'
             % (host, node.get('max_workers', '?'), len(node.get('tasks') or []),
                node.get('job_ok', 0), node.get('data_error', 0), node.get('error', 0),
                'yes' if node.get('connected') else 'no',
                'yes' if node.get('blacklisted') else 'no'))


def cmd_jobdict(args):
    disco = _disco(args)
    name = _job(args, args.job)
    jobdict = _call(_unknown(name), name, disco.jobpack, name).jobdict
    _out(name)
    for key, value in jobdict.items():
        _out('\t%s\t%s' % (key, value))


def cmd_pstats(args):
    from discolite.error import CommError, JobError
    disco = _disco(args)
    name = _job(args, args.job)
    try:
        stats = disco.profile_stats(name, mode=args.mode, stream=sys.stdout)
    except JobError:
        raise CLIError('job %s has no %sprofile data (run it with profile=True)'
                       % (name, args.mode + ' ' if args.mode else ''))
    except CommError as e:
        if e.code == 404:
            _check_known(disco, name)
            raise CLIError('job %s has no profile data (run it with profile=True)' % name)
        raise
    stats.sort_stats(*(args.sort or ['cumulative'])).print_stats(args.limit)


def cmd_run(args):
    if not args.script:
        args.usage_error('the following argument is required: SCRIPT')
    if args.inline:  # tasks in this process: only an in-process master can do that
        if args.master and not args.master.startswith('local://'):
            raise CLIError('--inline runs the tasks in this process, on an in-process master: '
                           'it cannot be used with -M %s' % args.master)
        if os.environ.get('DISCO_MASTER', '').startswith(('http://', 'https://', 'disco://')):
            sys.stderr.write('discolite: note: --inline runs the job on an in-process master, '
                             'not on DISCO_MASTER=%s\n' % os.environ['DISCO_MASTER'])
            del os.environ['DISCO_MASTER']
        os.environ['DISCOLITE_INLINE'] = '1'
    if args.master:  # the script's own Disco()/Job() find the master through DISCO_MASTER
        os.environ['DISCO_MASTER'] = args.master
    return run_script(args.script, args.args, verbose=args.verbose)


def run_script(path, argv, verbose=False):
    """Run ``path`` as ``__main__`` with ``disco`` aliased to discolite, like ``python path``.

    An exception from the script is printed as Python would, with the script's own frames
    only (discolite's are left out unless ``verbose``), and gives exit status 1."""
    import runpy
    from discolite import alias
    if not os.path.exists(path):
        raise CLIError('no such script: %s' % path)
    alias.install()
    script = os.path.abspath(path)
    saved_argv = sys.argv
    sys.argv = [path] + list(argv)
    sys.path.insert(0, os.path.dirname(script))
    try:
        runpy.run_path(path, run_name='__main__')
    except SystemExit as e:
        code = e.code
        if code is None or isinstance(code, int):
            return code or 0
        sys.stderr.write('%s\n' % code)
        return 1
    except Exception as e:
        if verbose:
            raise
        sys.stdout.flush()
        sys.stderr.write(user_traceback(e))
        return 1
    finally:
        sys.argv = saved_argv
        if sys.path and sys.path[0] == os.path.dirname(script):
            del sys.path[0]
    return 0


_PKG = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _own_frame(filename):
    """A frame of discolite itself or of the machinery that runs the script."""
    path = os.path.abspath(filename)
    return path.startswith(_PKG) or filename.startswith('<frozen') or \
        os.path.basename(path) == 'runpy.py'


def user_traceback(e):
    """Python's traceback text for ``e`` with only the user's frames; a multi-line discolite
    error (a JobError carrying a task's traceback) shows its first line and notes."""
    frames = [f for f in traceback.extract_tb(e.__traceback__) if not _own_frame(f.filename)]
    out = []
    if frames:
        out.append('Traceback (most recent call last):\n')
        out.extend(traceback.format_list(frames))
    text = ''.join(traceback.format_exception_only(type(e), e))
    lines = text.rstrip('\n').split('\n')
    if len(lines) > 1 and type(e).__module__.startswith('discolite'):
        notes = [l.strip() for l in lines[1:]
                 if l.strip().startswith('Note:') and l.strip() not in lines[0]]
        lines = [lines[0]] + notes + ['(run with -v for the whole message and traceback)']
    out.append('\n'.join(lines) + '\n')
    return ''.join(out)


def cmd_ui(args):
    """Open the master's pages (a job's dataflow view, or the status page) in a browser."""
    from urllib.parse import quote
    master = _disco(args).master
    if not master.startswith(('http://', 'https://')):
        raise CLIError('the pages are served by an HTTP master: start `discolite master` and '
                       'use -M URL or DISCO_MASTER (this is %s)' % master)
    url = master.rstrip('/') + '/'
    if args.job:
        name = _job(args, args.job)
        _call(_unknown(name), name, _disco(args).jobinfo, name)
        url += '%s.html?name=%s' % ('job' if args.job_page else 'dataflow', quote(name, safe='@:'))
    import webbrowser
    graphical = os.environ.get('BROWSER') or sys.platform in ('darwin', 'win32') or \
        os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY')
    if args.print_url or not graphical or not webbrowser.open(url):
        _out(url)
    else:
        _out('opened %s' % url)


def cmd_master(args):
    from discolite.master.httpserver import main as master_main
    return master_main(args.args)


def cmd_ddfs(args):
    from discolite.ddfs_cli import main as ddfs_main
    return ddfs_main(args.args, master=args.master)


# --------------------------------------------------------------------------- parser

def build_parser():
    parser = argparse.ArgumentParser(
        prog='discolite', description=textwrap.fill(
            "Control discolite and Disco masters, and run Disco scripts unchanged "
            "(modelled on Disco's `disco` command).", 78),
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-M', '--master', metavar='URL',
                        help='master URL (http://host:port, disco://host or host[:port]); '
                        'default: the DISCO_MASTER setting, else an in-process master')
    parser.add_argument('-s', '--settings', metavar='FILE', help='Disco settings file to read')
    parser.add_argument('-v', '--verbose', action='store_true',
                        help='show full tracebacks on errors')
    parser.add_argument('--version', action='store_true', help='print the version and exit')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')

    def command(name, func, help, description=None):
        p = sub.add_parser(name, help=help, description=textwrap.fill(description or help, 78),
                           epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=func)
        return p

    p = command('jobs', cmd_jobs, 'list jobs, newest first')
    p.add_argument('-S', '--status', action='store_true', help='also print each status')

    p = command('jobinfo', cmd_jobinfo, "show a job's status, stages, inputs and results")
    p.add_argument('job', metavar='JOB')
    p.add_argument('--json', action='store_true', help="print jobinfo's JSON as it is")
    p.add_argument('--max', type=_nonnegative(int), default=20,
                   help='list at most N inputs and results')

    p = command('events', cmd_events, "print a job's events")
    p.add_argument('job', metavar='JOB')
    p.add_argument('-o', '--offset', type=_nonnegative(int), default=0,
                   help='start at this byte offset of the event log')
    p.add_argument('-f', '--follow', action='store_true',
                   help='keep printing new events until the job ends (exit 1 if it died)')
    p.add_argument('--raw', action='store_true',
                   help="print the raw event log (JSON lines), as Disco's `disco events`")
    p.add_argument('--interval', type=float, default=0.25, help=argparse.SUPPRESS)

    p = command('wait', cmd_wait, 'wait for a job to finish, then print its result URLs',
                'Wait for a job to finish, then print its result URLs (one line per result, '
                'replicas TAB-separated). A live progress line (tasks done/total per stage) '
                'is shown while stdout is a terminal. Exits 1 if the job dies.')
    p.add_argument('job', metavar='JOB')
    p.add_argument('--timeout', type=_nonnegative(float), metavar='SECONDS',
                   help='give up (exit 1) after this many seconds; the job keeps running')
    p.add_argument('--records', action='store_true',
                   help='print the result records (like `results`) instead of URLs')
    p.add_argument('--progress', action='store_true', default=None,
                   help='show the progress line even when stdout is not a terminal')
    p.add_argument('--no-progress', dest='progress', action='store_false',
                   help='never show the progress line')
    p.add_argument('--interval', type=float, default=0.2, help=argparse.SUPPRESS)

    p = command('results', cmd_results, "print a finished job's result records",
                "Print a finished job's result records, one per line: repr(key) TAB "
                "repr(value). With --urls print the result URLs instead, as Disco's "
                "`disco results` does.")
    p.add_argument('job', metavar='JOB')
    p.add_argument('--urls', action='store_true', help='print result URLs, not records')

    p = command('stageresults', cmd_stageresults, "print the outputs of one stage of a job",
                "Print the records (or with --urls the index URLs) output by one stage of a "
                "job, e.g. the map outputs before they were reduced.")
    p.add_argument('job', metavar='JOB')
    p.add_argument('-S', '--stage', default='map', help='stage name (default: map)')
    p.add_argument('--urls', action='store_true', help='print URLs, not records')

    p = command('oob', cmd_oob, "list or read a job's out-of-band values",
                "`oob list JOB` (or Disco's `oob JOB`) lists the keys; `oob get KEY JOB` "
                "writes the value's bytes to stdout.")
    p.add_argument('words', nargs='+', metavar='list JOB | get KEY JOB')
    p.add_argument('--repr', action='store_true', help='print repr(value), as Disco does')

    for name, func, help in (('kill', cmd_kill, 'kill running jobs'),
                             ('clean', cmd_clean, 'kill jobs and forget them (data is kept)'),
                             ('purge', cmd_purge, 'kill jobs, forget them and delete their data')):
        p = command(name, func, help)
        p.add_argument('jobs', nargs='*' if name == 'clean' else '+', metavar='JOB')
        p.add_argument('--force', action='store_true',
                       help='ignore unknown job names (the master accepts them silently)')
        p.add_argument('-q', '--quiet', dest='verbose_cmd', action='store_false',
                       help='print nothing')
        if name == 'clean':
            p.add_argument('--finished', action='store_true',
                           help='clean every job that is not active')

    p = command('nodeinfo', cmd_nodeinfo, 'show the nodes (hosts) of the master')
    p.add_argument('--json', action='store_true', help='print the JSON as it is')

    p = command('jobdict', cmd_jobdict, "print the jobdict of a job's job pack")
    p.add_argument('job', metavar='JOB')

    p = command('pstats', cmd_pstats, 'print the profile of a job run with profile=True')
    p.add_argument('job', metavar='JOB')
    p.add_argument('-k', '--sort', action='append', metavar='KEY',
                   help='pstats sort key (repeatable; default cumulative)')
    p.add_argument('-m', '--mode', default='', choices=['', 'map', 'reduce'],
                   help='only map or only reduce tasks')
    p.add_argument('-n', '--limit', type=_nonnegative(int), default=20,
                   help='print at most N functions')

    p = command('run', cmd_run, 'run a Python script with `disco` aliased to discolite',
                'Run a job script unchanged: `import disco...` resolves to discolite, '
                'sys.argv is [SCRIPT, ARGS...], __name__ is "__main__" and the script\'s '
                'directory is on sys.path, as with `python SCRIPT ARGS...`.')
    p.add_argument('--inline', action='store_true',
                   help='run every task in this process, one after another, so that '
                   'breakpoint()/pdb and print() work in job functions (DISCOLITE_INLINE=1)')
    p.add_argument('script', metavar='SCRIPT', nargs='?')
    p.add_argument('args', nargs='*', metavar='ARGS', help='arguments of the script')
    p.set_defaults(usage_error=p.error)
    p.usage = '%(prog)s [-h] [--inline] SCRIPT [ARGS ...]'

    p = command('ui', cmd_ui, "open the master's web pages in a browser",
                "Open a job's dataflow view (or with --job-page its job page; without JOB "
                "the status page) in a browser; where none can be started, print the URL.")
    p.add_argument('job', nargs='?', metavar='JOB')
    p.add_argument('--job-page', action='store_true', help="open the job page instead")
    p.add_argument('--print', dest='print_url', action='store_true',
                   help='only print the URL')

    p = command('master', cmd_master, 'serve a discolite master over HTTP',
                'Serve a discolite master over HTTP (run `discolite master --help` for '
                'its options).')
    p.add_argument('args', nargs=argparse.REMAINDER, metavar='OPTIONS')

    p = command('ddfs', cmd_ddfs, "Disco's ddfs command: tags and blobs (ls, push, cat ...)",
                'Tags and blobs of the DDFS (run `discolite ddfs --help` for its commands).')
    p.add_argument('args', nargs=argparse.REMAINDER, metavar='COMMAND')
    return parser


_GLOBAL_WITH_VALUE = ('-M', '--master', '-s', '--settings')


def _command_index(argv):
    """Index of the subcommand in ``argv`` (after the global options), or None."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _GLOBAL_WITH_VALUE:
            i += 2
        elif arg.startswith('-'):
            i += 1
        else:
            return i
    return None


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    i = _command_index(argv)
    if i is not None and argv[i] == 'master':  # its options belong to the HTTP master
        from discolite.master.httpserver import main as master_main
        return master_main(argv[i + 1:])
    if 'ddfs' in argv:  # everything after `ddfs` belongs to the ddfs command
        i = argv.index('ddfs')
        pre = build_parser().parse_args(argv[:i] + ['ddfs'])
        if pre.command == 'ddfs':
            from discolite.ddfs_cli import main as ddfs_main
            if pre.settings:
                os.environ['DISCO_SETTINGS_FILE'] = pre.settings
            return ddfs_main(argv[i + 1:], master=_master_url(pre.master))
    i = _command_index(argv)
    if i is not None and argv[i] == 'run':
        j = i + 1
        while j < len(argv) and argv[j] in ('--inline', '-h', '--help'):
            j += 1
        if j < len(argv) and not argv[j].startswith('-'):
            argv.insert(j, '--')  # everything from SCRIPT on belongs to the script
    if i is not None and argv[i] == 'oob':  # options may follow the words: `oob get K J --repr`
        rest = argv[i + 1:]
        argv = argv[:i + 1] + [a for a in rest if a.startswith('-')] + \
            [a for a in rest if not a.startswith('-')]
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = args.verbose
    try:
        if args.version:
            from discolite import __version__
            _out('discolite %s' % __version__)
            return 0
        if args.settings:
            if not os.path.exists(args.settings):
                raise CLIError('no such settings file: %s' % args.settings)
            os.environ['DISCO_SETTINGS_FILE'] = args.settings
        args.master = _master_url(args.master)
        func = getattr(args, 'func', None) or cmd_none
        code = func(args)
        sys.stdout.flush()
        return code or 0
    except KeyboardInterrupt:
        sys.stderr.write('discolite: interrupted\n')
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except SystemExit:
        raise
    except BaseException as e:
        if verbose:
            raise
        sys.stderr.write('discolite: error: %s\n' % _message(e))
        return 1


def _quiet_stdout():
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except Exception:
        pass


_EXC_LINE = re.compile(r'^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning)\b')


def _message(e):
    """One line for the user: the message's first line, plus the root cause of a traceback."""
    from discolite.error import DiscoError
    if isinstance(e, CLIError):
        return str(e)
    text = str(e)
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    if not lines:
        return type(e).__name__
    line = lines[0]
    if len(lines) > 1:
        cause = next((l for l in reversed(lines) if _EXC_LINE.match(l)), None)
        note = next((l for l in lines if l.startswith('Note:')), None)
        if cause and cause not in line:
            line = '%s: %s' % (line.rstrip(':'), cause)
        if note:
            line = '%s. %s' % (line, note)
        line += ' (run with -v for the full traceback)'
    if not isinstance(e, (DiscoError, OSError, ValueError)):
        line = '%s: %s' % (type(e).__name__, line)
    if len(line) > 500:
        line = line[:497] + '...'
    return line
