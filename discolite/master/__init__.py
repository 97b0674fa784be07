"""discolite's pure-Python master: storage, scheduler, process pool and endpoint table.

``Master(settings)`` starts one; :func:`default_master` is the process-wide
master that ``Disco()`` uses when no master URL is configured.  Every master
has a ``local://<data root>`` URL by which clients in this process find it.
"""
import atexit
import threading

from discolite import util
from discolite.error import DiscoError
from discolite.settings import DiscoSettings, validate

_masters = {}
_lock = threading.Lock()
_default = None


class Master(object):
    """An in-process Disco master running tasks in a pool of worker processes."""

    def __init__(self, settings=None, **overrides):
        from discolite.master.endpoints import App
        from discolite.master.scheduler import Scheduler
        from discolite.master.storage import Storage
        from discolite.master.ddfs_store import DDFSStore
        settings = settings if settings is not None else DiscoSettings()
        if overrides:
            settings = DiscoSettings(settings, **overrides) if isinstance(settings, dict) \
                else DiscoSettings(**overrides)
        self.settings = settings
        config = validate(settings)
        self.config = config
        try:
            self.disco_port = int(settings['DISCO_PORT'])
        except (TypeError, ValueError):
            raise DiscoError("Invalid setting DISCO_PORT=%r: expected a port number"
                             % settings['DISCO_PORT'])
        from discolite.master.nodes import node_names
        host = node_names(config['DISCOLITE_NODES'], config['DISCOLITE_HOST'])[0]
        self.storage = Storage(config['DISCOLITE_DATA'], host)
        self._lock = None
        if config['DISCOLITE_DATA']:  # a directory a second master could also be given
            from discolite.master import restart
            self._lock = restart.lock(self.storage)
        try:
            self._start(config, host, Scheduler, App, DDFSStore)
        except BaseException:
            if self._lock is not None:
                restart.unlock(self._lock)
            raise

    def _start(self, config, host, Scheduler, App, DDFSStore):
        self.ddfs = DDFSStore(self.storage.ddfs_root, host)
        if self._lock is not None:  # a kept data dir: what a stopped master was writing
            self.ddfs.remove_partials()
            self.storage.remove_uploads()
        self.url = 'local://' + self.storage.root
        self.closed = False
        util.register_local_root(host, self.storage.disco_data, self.storage.ddfs_root)
        self.scheduler = Scheduler(self, config)
        self.reloaded = (0, 0, 0)
        if self._lock is not None:
            from discolite.master import restart
            self.reloaded = restart.reload(self.scheduler)
        self.app = App(self)
        self.external = None
        self.on_job = None  # called with each JobRecord when it is submitted and when it ends
        with _lock:
            _masters[self.url] = self
        self.scheduler.start()
        atexit.register(self.close)

    def __repr__(self):
        return '<discolite Master %s>' % self.url

    def close(self):
        """Kill running jobs, stop the pool and (for a temporary data dir) delete the data."""
        if self.closed:
            return
        self.closed = True
        self.scheduler.close()
        if self.external is not None:
            self.external.close()
        with _lock:
            _masters.pop(self.url, None)
        util.unregister_local_root(self.storage.disco_data)
        self.storage.destroy()
        if self._lock is not None:
            from discolite.master import restart
            restart.unlock(self._lock)
            self._lock = None
        try:
            atexit.unregister(self.close)
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- jobs whose worker is an executable in the job home (Disco's worker protocol)

    def run_external(self, job, task):
        if self.external is None:
            from discolite.master.external import ExternalRunner
            self.external = ExternalRunner(self)
        self.external.start(job, task)

    def stop_external(self, task):
        if self.external is not None:
            self.external.stop(task)


def get_master(url):
    """The open in-process master with this ``local://`` URL, or None."""
    with _lock:
        return _masters.get(url)


def default_master():
    """The process-wide in-process master, started on first use."""
    global _default
    with _lock:
        master = _default
    if master is not None and not master.closed:
        return master
    master = Master()
    with _lock:
        if _default is not None and not _default.closed:
            other = _default
        else:
            _default, other = master, None
    if other is not None:
        master.close()
        return other
    return master
