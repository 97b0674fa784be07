"""``DiscoSettings``: Disco's settings dict, plus discolite's own keys.

Lookup order for ``s[key]`` (as in Disco): explicit items, then ``os.environ``
(always strings), then the settings file (``DISCO_SETTINGS_FILE``), then the
default, a Python expression evaluated against the other settings.

discolite adds keys prefixed ``DISCOLITE_`` for the in-process master; they are
validated by :func:`validate` so a bad value gives a clear ``DiscoError``.
"""
import math
import multiprocessing
import os
import socket

from discolite.error import DiscoError


_LOGIN = []  # os.getlogin() reads utmp: once per process (a process's login does not change)


def _owner():
    if not _LOGIN:
        try:
            _LOGIN.append(os.getlogin())
        except OSError:
            _LOGIN.append(None)
    user = _LOGIN[0] or os.environ.get('LOGNAME') or os.environ.get('USER') or 'user'
    return '%s@%s' % (user, socket.gethostname())


def master_port(url):
    """The port of an ``http(s)://host:port`` master URL as a str, else None."""
    from urllib.parse import urlsplit
    if not isinstance(url, str) or not url.startswith(('http://', 'https://')):
        return None
    try:
        port = urlsplit(url).port
    except ValueError:
        return None
    return str(port) if port else None


#: The port of the last HTTP master a ``Disco`` client was created for with an explicit URL
#: (the default DISCO_PORT when neither DISCO_PORT nor an HTTP DISCO_MASTER is set).
_client_port = [None]


def note_client_master(url):
    """Remember the port of an HTTP master given to a client by URL (see DISCO_PORT)."""
    port = master_port(url)
    if port:
        _client_port[0] = port


class DiscoSettings(dict):
    defaults = {
        # Empty means "the process-wide in-process master" (discolite's default);
        # Disco's own default would be 'http://%s:%s' % (DISCO_MASTER_HOST, DISCO_PORT).
        'DISCO_MASTER': "''",
        'DISCO_MASTER_HOST': "socket.gethostname()",
        # Disco's default is 8989; discolite first takes the port of a master given by URL
        # (DISCO_MASTER, else the last HTTP master a client was made for), because result
        # URLs are read at DISCO_PORT and a master serves them on its own port.
        'DISCO_PORT': "master_port(DISCO_MASTER) or _client_port[0] or 8989",
        'DISCO_PROXY': "''",
        'DISCO_PROXY_ENABLED': "''",
        'DISCO_PROXY_PORT': "8999",
        'DISCO_EVENTS': "''",
        'DISCO_JOB_OWNER': "_owner()",
        'DISCO_HOME': "''",
        'DISCO_ROOT': "os.path.join(DISCO_HOME, 'root')",
        'DISCO_DATA': "os.path.join(DISCO_ROOT, 'data')",
        'DISCO_NAME': "'disco_%s' % DISCO_PORT",
        'DISCO_MASTER_ROOT': "os.path.join(DISCO_DATA, '_%s' % DISCO_NAME)",
        'DISCO_LOG_DIR': "os.path.join(DISCO_ROOT, 'log')",
        'DISCO_PID_DIR': "os.path.join(DISCO_ROOT, 'run')",
        'DISCO_WORKER_MAX_MEM': "'80%'",
        'DISCO_DEBUG': "'off'",
        'DISCO_FLAGS': "''",
        'DISCO_GC_AFTER': "100 * 365 * 24 * 60 * 60",
        'DISCO_SCHEDULER': "'fair'",
        'DISCO_SCHEDULER_ALPHA': ".001",
        'DISCO_USER': "os.getenv('LOGNAME')",
        'DISCO_ROTATE_LOG': "False",
        'DISCO_ULIMIT': "16000000",
        'DISCO_PROFILE': "'False'",
        'GRAPHITE_HOST': "'localhost'",
        'DISCO_TEST_HOST': "socket.gethostname()",
        'DISCO_TEST_PORT': "9444",
        'DISCO_TEST_PURGE': "'purge'",
        'DISCO_TEST_PROFILE': "''",
        'DISCO_TEST_DISCODB': "''",
        'DDFS_ROOT': "os.path.join(DISCO_ROOT, 'ddfs')",
        'DDFS_DATA': "DDFS_ROOT",
        'DDFS_PUT_PORT': "8990",
        'DDFS_PUT_MAX': "3",
        'DDFS_GET_MAX': "3",
        'DDFS_READ_TOKEN': "None",
        'DDFS_WRITE_TOKEN': "None",
        'DDFS_TAG_MIN_REPLICAS': "1",
        'DDFS_TAG_REPLICAS': "1",
        'DDFS_BLOB_REPLICAS': "1",
        'DATA_GC_INTERVAL': "12",
        # discolite's in-process master
        'DISCOLITE_DATA': "''",            # data root; '' = a fresh temporary directory
        'DISCOLITE_WORKERS': "multiprocessing.cpu_count()",
        'DISCOLITE_HOST': "'localhost'",   # node name used in result URLs
        'DISCOLITE_NODES': "1",            # emulated nodes (node1..nodeN when > 1), each
                                           # with DISCOLITE_WORKERS slots
        'DISCOLITE_FAILING_NODES': "''",   # comma-separated nodes whose every task fails
        # forkserver: pool processes inherit nothing from the submitting script (as on a
        # Disco node) and are never forked from a multi-threaded process; fork is faster to
        # start and shares what the script imported.
        'DISCOLITE_START_METHOD': "'forkserver'",  # forkserver | fork | spawn
        # Disco's max_failure_rate: a task is retried until it has failed more than this
        # many times, then the job dies.  Disco defaults to 100 because a cluster retries
        # on *other* nodes, where a flaky disk or network may well work; on one machine a
        # deterministic bad input (a missing file, a corrupt record) fails the same way
        # every time, and 100 retries with a growing back-off keep the user waiting for
        # over a minute before the job is reported dead.  3 still rides out transient
        # failures (a killed worker, a briefly unreachable URL).  ``save_settings`` can
        # change it on a running master, as on Disco.
        'DISCOLITE_MAX_FAILURES': "3",
        # Seconds before retry k: RETRY_DELAY * k * (1 + random()), capped at 60 * RETRY_DELAY
        # (Disco sleeps min(k, 60) s + random(0..30) s: far too long for a local run).
        'DISCOLITE_RETRY_DELAY': "0.05",
        'DISCOLITE_MSG_LIMIT': "10",       # MSG events per second that kill a task; 0 = off
        'DISCOLITE_KEEP_GLOBALS': "False", # True: job functions keep their module globals
        'DISCOLITE_INLINE': "False",       # True: run every task in the submitting thread
        'DISCOLITE_EXTERNAL_WORKERS': "False",  # True: run discolite's own job packs as
                                           # worker executables (Disco's worker protocol)
        # job: a pool process serves the tasks of one job, then a fresh one replaces it;
        # task: a fresh process for every task, as on Disco.
        'DISCOLITE_ISOLATION': "'job'",
        # True: processes a task starts (even setsid daemons) are killed when it ends;
        # False: they live until the job's pool processes are replaced (its end).
        'DISCOLITE_KILL_TASK_PROCESSES': "True",
        # Limits (0 = none): bytes a job home may unpack to (a 1 MB zip can hold 1 GB).
        'DISCOLITE_MAX_JOBHOME': "512 * 1024 * 1024",
        # `discolite master`'s HTTP server: seconds an idle keep-alive connection is kept,
        # seconds a request may stall while being read, connections (= threads) served at
        # once, and request bodies over 1 MiB read at once.
        'DISCOLITE_SERVER_IDLE_TIMEOUT': "15",
        'DISCOLITE_SERVER_READ_TIMEOUT': "30",
        'DISCOLITE_SERVER_MAX_CONNECTIONS': "512",
        'DISCOLITE_SERVER_MAX_BODIES': "4",
        # HTTP clients: seconds to connect, seconds to wait for an answer (beyond the wait
        # a get_results poll asks for), and seconds wait() keeps trying a master it
        # cannot reach before raising CommError (Disco waits forever).
        'DISCOLITE_HTTP_CONNECT_TIMEOUT': "10",
        'DISCOLITE_HTTP_READ_TIMEOUT': "120",
        'DISCOLITE_WAIT_UNREACHABLE': "300",
    }

    globals = dict(globals())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._file = None

    @property
    def settings_file(self):
        if self._file is None:
            path = dict.get(self, 'DISCO_SETTINGS_FILE') or os.environ.get('DISCO_SETTINGS_FILE')
            if path is None:
                home = os.path.expanduser('~/.disco')
                path = home if os.path.exists(home) else (
                    '/etc/disco/settings.py' if os.path.exists('/etc/disco/settings.py') else '')
            values = {}
            if path:
                try:
                    with open(path) as f:
                        exec(compile(f.read(), path, 'exec'), {}, values)
                except OSError as e:
                    raise DiscoError("Cannot read settings file %s: %s" % (path, e))
            self._file = {k: v for k, v in values.items() if not k.startswith('_')}
        return self._file

    def __getitem__(self, key):
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        if key in os.environ:
            return os.environ[key]
        if key in self.settings_file:
            return self.settings_file[key]
        if key in self.defaults:
            code = _COMPILED.get(key)
            if code is None or code[0] != self.defaults[key]:
                code = _COMPILED[key] = (self.defaults[key],
                                         compile(self.defaults[key], key, 'eval'))
            return eval(code[1], self.globals, self)  # compiled once: a job pickles all of them
        raise KeyError(key)

    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def is_set(self, key):
        """True when ``key`` was given explicitly, by the environment or by the settings file."""
        return dict.__contains__(self, key) or key in os.environ or key in self.settings_file

    def __reduce__(self):
        # Every job pickles its settings: evaluating ~55 defaults (host name, login ...)
        # each time is most of packing a small job, so the result is kept for as long as
        # what it depends on (explicit items, environment, settings file) is unchanged.
        global _REDUCED
        key = (repr(sorted(dict.items(self))), repr(sorted(self.settings_file.items())))
        env = getattr(os.environ, '_data', None)  # the raw environment: compared, not decoded
        if env is None:
            env = dict(os.environ)
        if _REDUCED is None or _REDUCED[0] != key or _REDUCED[1] != env:
            _REDUCED = (key, dict(env), dict((k, self[k]) for k in self.defaults
                                             if k != 'DISCO_MASTER' or self.is_set(k)))
        return type(self), (dict(_REDUCED[2]),)

    @property
    def env(self):
        env = os.environ.copy()
        env.update((k, str(self[k])) for k in self.defaults)
        return env


_COMPILED = {}  # default expression -> its code object (see DiscoSettings.__getitem__)
_REDUCED = None  # (what it depends on, the values) of the last DiscoSettings.__reduce__
_CHOICES = {'DISCOLITE_START_METHOD': ('fork', 'forkserver', 'spawn'),
            'DISCOLITE_ISOLATION': ('job', 'task')}
_POSITIVE_INT = ('DISCOLITE_WORKERS', 'DISCOLITE_NODES', 'DISCOLITE_SERVER_MAX_CONNECTIONS',
                 'DISCOLITE_SERVER_MAX_BODIES')
_NONNEG_INT = ('DISCOLITE_MAX_FAILURES', 'DISCOLITE_MSG_LIMIT', 'DISCOLITE_MAX_JOBHOME')
_NONNEG_FLOAT = ('DISCOLITE_RETRY_DELAY',)
_POSITIVE_FLOAT = ('DISCOLITE_SERVER_IDLE_TIMEOUT', 'DISCOLITE_SERVER_READ_TIMEOUT')
_TRUE = ('1', 'true', 'yes', 'on')
_FALSE = ('0', 'false', 'no', 'off', '', 'none')


def flag(settings, key):
    """A true/false setting as a bool (DiscoError for anything else)."""
    text = str(settings[key]).strip().lower()
    if text not in _TRUE + _FALSE:
        raise DiscoError("Invalid setting %s=%r: expected True or False (1 or 0)"
                         % (key, settings[key]))
    return text in _TRUE


def validate(settings):
    """Return the discolite master settings as typed values, or raise DiscoError naming the bad one."""
    out = {}
    for key in _POSITIVE_INT + _NONNEG_INT:
        raw = settings[key]
        try:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError(raw)
            value = int(raw.strip() if isinstance(raw, str) else raw)
        except (TypeError, ValueError, OverflowError):
            raise DiscoError("Invalid setting %s=%r: expected an integer" % (key, raw))
        if value < (1 if key in _POSITIVE_INT else 0):
            raise DiscoError("Invalid setting %s=%r: expected an integer >= %d"
                             % (key, raw, 1 if key in _POSITIVE_INT else 0))
        out[key] = value
    for key in _NONNEG_FLOAT + _POSITIVE_FLOAT:
        raw = settings[key]
        try:
            if isinstance(raw, bool):
                raise ValueError(raw)
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError(raw)
        except (TypeError, ValueError):
            raise DiscoError("Invalid setting %s=%r: expected a number of seconds" % (key, raw))
        if value < 0 or (value == 0 and key in _POSITIVE_FLOAT):
            raise DiscoError("Invalid setting %s=%r: expected a number %s 0"
                             % (key, raw, '>' if key in _POSITIVE_FLOAT else '>='))
        out[key] = value
    for key, choices in _CHOICES.items():
        value = settings[key]
        if value not in choices:
            raise DiscoError("Invalid setting %s=%r: expected one of %s"
                             % (key, value, ', '.join(choices)))
        if key == 'DISCOLITE_START_METHOD' and \
                value not in multiprocessing.get_all_start_methods():
            raise DiscoError("Invalid setting %s=%r: this platform supports only %s"
                             % (key, value, ', '.join(multiprocessing.get_all_start_methods())))
        out[key] = value
    for key in ('DISCOLITE_KEEP_GLOBALS', 'DISCOLITE_INLINE', 'DISCOLITE_KILL_TASK_PROCESSES'):
        out[key] = flag(settings, key)
    external = settings['DISCOLITE_EXTERNAL_WORKERS']
    out['DISCOLITE_EXTERNAL_WORKERS'] = str(external).lower() in _TRUE
    out['DISCOLITE_DATA'] = settings['DISCOLITE_DATA'] or ''
    out['DISCOLITE_HOST'] = str(settings['DISCOLITE_HOST'])
    if not out['DISCOLITE_HOST'] or '/' in out['DISCOLITE_HOST']:
        raise DiscoError("Invalid setting DISCOLITE_HOST=%r: expected a host name"
                         % out['DISCOLITE_HOST'])
    if out['DISCOLITE_NODES'] > 1000:
        raise DiscoError("Invalid setting DISCOLITE_NODES=%r: at most 1000 emulated nodes"
                         % settings['DISCOLITE_NODES'])
    failing = settings['DISCOLITE_FAILING_NODES'] or ''
    if not isinstance(failing, (list, tuple)):
        failing = str(failing).split(',')
    out['DISCOLITE_FAILING_NODES'] = tuple(h.strip() for h in failing if h.strip())
    return out
