"""``Disco`` (the client of a master) and ``result_iterator`` (``disco.core``)."""
import json
import sys
import threading
import time
import warnings
from io import BytesIO

from discolite.error import CommError, DataError, DiscoError, JobError
from discolite.job import Job, JobPack
from discolite.settings import DiscoSettings
from discolite.transport import Request, transport_for
from discolite.util import iterify, inputlist
from discolite.worker.classic.func import chain_reader, map_input_stream, notifier
from discolite.worker.task_io import replica_records
# Importable from here, as on Disco.
from discolite import func  # noqa: F401,E402
from discolite.comm import download  # noqa: F401,E402
from discolite.compat import basestring  # noqa: F401,E402
from discolite.eventmonitor import EventMonitor  # noqa: F401,E402
from discolite.util import proxy_url  # noqa: F401,E402


class Continue(Exception):
    pass


class Disco(object):
    """A client of one master: ``Disco()`` (in-process), ``Disco('http://host:8989')`` or
    ``Disco('disco://host')``."""

    def __init__(self, master=None, settings=None, proxy=None):
        self.settings = settings or DiscoSettings()
        self._proxy = proxy or None  # DISCO_PROXY is looked up when first needed (see proxy)
        self._given = master
        master = master or self.settings['DISCO_MASTER']
        if master and master.startswith('disco://'):
            host = master[len('disco://'):].rstrip('/')
            master = 'http://%s:%s' % (host, self.settings['DISCO_PORT'])
        self._master = master or None
        self._transport = None
        if self._given:
            from discolite.settings import note_client_master
            note_client_master(self._master)

    @property
    def proxy(self):
        """The proxy given, else DISCO_PROXY.  Looked up on first use: a job's tasks each
        unpickle a Disco client that never needs it (nor the settings file read for it)."""
        if self._proxy is None:
            self._proxy = self.settings['DISCO_PROXY']
        return self._proxy

    @proxy.setter
    def proxy(self, value):
        self._proxy = value

    @property
    def master(self):
        if self._master is None:
            from discolite.master import default_master
            self._master = default_master().url
        return self._master

    @property
    def transport(self):
        if self._transport is None:
            if self.master.startswith('local://'):
                self._transport = transport_for(self.master, self.settings)
            else:
                from discolite.transport.http import HTTPTransport
                self._transport = HTTPTransport(self.master, self.settings, proxy=self.proxy)
        return self._transport

    def __reduce__(self):
        return type(self), (self._given if self._master is None else self._master,)

    def __repr__(self):
        return 'Disco master at %s' % self.master

    # -- plumbing

    def request(self, url, data=None, offset=0, as_bytes=False):
        """Call the master's endpoint ``url``; non-2xx answers raise CommError with the status."""
        offset = _offset(offset or 0)  # None works as 0, as on Disco
        headers = {'Range': 'bytes=%d-' % offset} if offset else {}
        if isinstance(data, str):
            data = data.encode('utf-8')
        response = self.transport.handle(Request('GET' if data is None else 'POST', url, data,
                                                 headers))
        body = response.body
        if not 200 <= response.status < 300:
            raise CommError(body.decode('utf-8', 'replace'), self.master + url, response.status)
        if offset and response.status == 200:  # a real master ignores unsatisfiable ranges
            body = body[offset:]
        return body if as_bytes else body.decode('utf-8')

    def _json(self, url, data=None):
        return json.loads(self.request(url, data))

    def submit(self, jobpack):
        status, body = self._json('/disco/job/new', jobpack)
        if status != 'ok':
            raise DiscoError("Failed to submit jobpack: %s" % body)
        return body

    # -- master and nodes

    def get_config(self):
        return self._json('/disco/ctrl/load_config_table')

    def set_config(self, config):
        response = self._json('/disco/ctrl/save_config_table', json.dumps(config))
        if response != 'table saved!':
            raise DiscoError(response)

    config = property(get_config, set_config)

    def master_version(self):
        return self._json('/disco/version')

    def nodeinfo(self):
        return self._json('/disco/ctrl/nodeinfo')

    def joblist(self):
        return self._json('/disco/ctrl/joblist')

    def blacklist(self, node):
        self.request('/disco/ctrl/blacklist', '"%s"' % node)

    def whitelist(self, node):
        self.request('/disco/ctrl/whitelist', '"%s"' % node)

    @property
    def ddfs(self):
        from discolite.ddfs import DDFS
        return DDFS(self.master, settings=DiscoSettings(self.settings))

    # -- jobs

    def new_job(self, name, **jobargs):
        return Job(name=name, master=self).run(**jobargs)

    def kill(self, jobname):
        _unwaited.pop(_name(jobname), None)
        self.request('/disco/ctrl/kill_job', json.dumps(_name(jobname)))

    def clean(self, jobname):
        _unwaited.pop(_name(jobname), None)
        self.request('/disco/ctrl/clean_job', json.dumps(_name(jobname)))

    def purge(self, jobname):
        _unwaited.pop(_name(jobname), None)
        self.request('/disco/ctrl/purge_job', json.dumps(_name(jobname)))

    def jobpack(self, jobname):
        data = self.request('/disco/ctrl/parameters?name=%s' % _q(jobname), as_bytes=True)
        return JobPack.load(BytesIO(data))

    def jobinfo(self, jobname):
        """Disco's jobinfo dict; for a dead job also ``reason``, the line saying why it died
        (from the master, or worked out from the events of a master that has no such field)."""
        info = self._json('/disco/ctrl/jobinfo?name=%s' % _q(jobname))
        if isinstance(info, dict) and info.get('active') == 'dead' and 'reason' not in info:
            reason = self.failure_reason(jobname)
            if reason:
                info['reason'] = reason[0]
        return info

    def rawevents(self, jobname, offset=0):
        return self.request('/disco/ctrl/rawevents?name=%s' % _q(jobname), offset=offset)

    def events(self, jobname, offset=0):
        """Yield ``(offset, (timestamp, host, message))``; feed the last offset back to resume."""
        offset = _offset(offset)

        def event_iter(events):
            offs = offset
            lines = events.split('\n')
            for line in lines:
                if not line:
                    continue
                offs += len(line) + 1
                try:
                    event = tuple(json.loads(line))
                except ValueError:
                    break
                yield offs, event
        return event_iter(self.rawevents(jobname, offset=offset))

    def stageresults(self, jobname, stagename):
        return self._json('/disco/ctrl/get_stageresults?name=%s&stage=%s'
                          % (_q(jobname), _q(stagename)))

    def results(self, jobspec, timeout=2000):
        """``(status, results)`` for one job, or ``(inactive, active)`` for a list of jobs."""
        many = isinstance(jobspec, (list, tuple)) and not _is_result_pair(jobspec)
        jobspecs = list(jobspec) if many else [jobspec]
        names = []
        for spec in jobspecs:
            if isinstance(spec, (list, tuple)):
                spec = spec[0]
            names.append(_name(spec))
        timeout = _timeout_ms(timeout)  # invalid values are refused by the master (400)
        reply = self._json('/disco/ctrl/get_results', json.dumps([timeout, names]))
        results = [(name, (status, result)) for name, (status, result) in reply]
        for name, (status, _result) in results:
            if status != 'active':
                _unwaited.pop(name, None)
        if many:
            others, active = [], []
            for item in results:
                (active if item[1][0] == 'active' else others).append(item)
            return others, active
        return results[0][1]

    def check_results(self, jobname, start_time, timeout, poll_interval):
        """The job's results when it is ready; raise JobError when it died or ``timeout``
        (seconds since ``start_time``) has passed, else :class:`Continue`."""
        try:
            status, results = self.results(jobname, timeout=poll_interval)
        except CommError as e:
            if e.code is not None and 400 <= e.code < 500:
                raise  # the master refuses the request: asking again cannot help
            if e.code is None:  # nothing answered: wait() gives up after a while
                self._unreachable.error = e
            status = 'active'
        if status == 'ready':
            return results
        if status != 'active':
            if self.master.startswith('local://'):
                from discolite.master.inline import take_exception
                exc = take_exception(self.master, _name(jobname))
                if exc is not None:  # inline mode: the task's own exception, traceback and all
                    raise exc
            raise JobError(Job(name=jobname, master=self), self._dead_message(jobname, status))
        if timeout and time.time() - start_time > timeout:
            raise JobError(Job(name=jobname, master=self), "Timeout")
        raise Continue()

    def _dead_message(self, jobname, status):
        """JobError's message: why a dead job died first (one line, then its events)."""
        reason = self.failure_reason(jobname) if status == 'dead' else None
        if not reason:
            return "Status {0}".format(status)
        return "%s (Status %s)\n%s" % (reason[0], status, reason[1])

    def failure_reason(self, jobname):
        """``(one line, full event text)`` saying why the job died (its first FATAL, or its
        last task error), or None."""
        from discolite.error import failure_reason
        try:
            return failure_reason(event[2] for _offset, event in self.events(jobname))
        except Exception:
            return None

    _unreachable = threading.local()  # the CommError of the last poll, per thread

    def _give_up_after(self):
        """Seconds ``wait`` keeps polling a master that does not answer (0: forever)."""
        try:
            value = float(self.settings['DISCOLITE_WAIT_UNREACHABLE'])
        except (KeyError, TypeError, ValueError):
            return 300.0
        return value if value > 0 else 0

    def wait(self, jobname, poll_interval=2, timeout=None, clean=False, show=None):
        """Block until the job ends; return its results, or raise JobError."""
        jobname = _name(jobname)
        poll = _number('poll_interval', poll_interval, finite=True)
        if timeout is not None:
            timeout = _number('timeout', timeout)
        if clean:
            warnings.warn("wait(clean=True) is deprecated and, as on Disco, cleans the job after "
                          "every poll: a job still active at the first poll is killed and "
                          "forgotten. Call purge() once the job has finished instead.",
                          DeprecationWarning, stacklevel=2)
        from discolite.monitor import EventMonitor
        monitor = EventMonitor(self, jobname, show=self.settings['DISCO_EVENTS']
                               if show is None else show, poll_interval=poll)
        start = time.time()
        give_up = self._give_up_after()
        unreachable_since = None
        try:
            while True:
                monitor.refresh()
                try:
                    wait_ms = poll * 1000
                    if monitor.progress is not None:  # a live line moves at least every second
                        wait_ms = min(wait_ms, 1000)
                    if timeout is not None:
                        wait_ms = max(0, min(wait_ms, (timeout - (time.time() - start)) * 1000))
                    self._unreachable.error = None
                    return self.check_results(jobname, start, timeout, wait_ms)
                except Continue:
                    error = self._unreachable.error
                    if error is None:
                        unreachable_since = None
                        continue
                    now = time.time()
                    unreachable_since = unreachable_since or now
                    if give_up and now - unreachable_since >= give_up:
                        raise CommError("master %s unreachable for %d s while waiting for job %s "
                                        "(setting DISCOLITE_WAIT_UNREACHABLE): %s"
                                        % (self.master, now - unreachable_since, jobname,
                                           error.msg), error.url, None)
                    time.sleep(min(poll, 1.0))  # not a busy loop while nothing answers
                    continue
                finally:
                    monitor.refresh(final=True)
                    if clean:
                        self.clean(jobname)
        finally:
            monitor.close()

    # -- OOB and profiling

    def _oob_entries(self, jobname):
        """The entries of the job's OOB tag ``disco:job:oob:<job>``, read with the token
        ``job`` Disco derives from the name (a Disco worker's OOB tag requires it).  A job
        name no tag URL can hold (``a/b``) is answered like DDFS answers invalid names (403)
        instead of Disco's InvalidTag."""
        from discolite.ddfs import InvalidTag
        ddfs = self.ddfs
        tag = ddfs.job_oob(_name(jobname))
        try:
            return ddfs.urls(tag)
        except InvalidTag:
            raise CommError("b'Invalid tag'", '%s/ddfs/tag/%s' % (self.master, tag), 403)

    def oob_get(self, jobname, key):
        """The bytes stored under ``key`` (None if the job has no such key), read at the blob
        URL the OOB tag holds (``$<ts>`` included); an unknown job raises DiscoError."""
        from discolite.ddfs import DDFS
        try:
            entries = self._oob_entries(jobname)
        except CommError as e:
            if e.code in (400, 403, 404):  # 403: a name DDFS refuses, e.g. '../x'
                raise DiscoError("Unknown key or jobname")
            raise
        for replicas in entries:
            if replicas and DDFS.blob_name(replicas[0]) == key:
                return self.ddfs.read_blob(replicas)
        return None

    def oob_list(self, jobname):
        """The OOB keys of the job, each once, in the order of its OOB tag (newest first);
        CommError 404 for a job that stored none."""
        from discolite.ddfs import DDFS
        seen = []
        for replicas in self._oob_entries(jobname):
            name = DDFS.blob_name(replicas[0])
            if name not in seen:
                seen.append(name)
        return seen

    def profile_stats(self, jobname, mode='', stream=None):
        """Merge the job's profile data (``mode`` 'map', 'reduce' or '') into a pstats.Stats
        printing to ``stream`` (default: sys.stdout at call time).  As on Disco, 'map' also
        takes the map_shuffle profiles; no matching profile raises JobError."""
        import pstats
        if mode not in ('', 'map', 'reduce', 'map_shuffle', 'reduce_shuffle'):
            raise JobError(Job(name=_name(jobname), master=self),
                           "Unknown profile mode %r: use 'map', 'reduce' or ''" % (mode,))
        if stream is None:
            stream = sys.stdout
        prefix = 'profile-%s' % mode
        keys = [k for k in self.oob_list(jobname) if k.startswith(prefix)]  # no OOB: 404
        if not keys:
            raise JobError(Job(name=_name(jobname), master=self), "No profile data")
        stats = pstats.Stats(Stats(self.oob_get(jobname, keys[0])), stream=stream)
        for key in keys[1:]:
            stats.add(Stats(self.oob_get(jobname, key)))
        stats.strip_dirs()
        stats.sort_stats('cumulative')
        return stats

    def result_iterator(self, *args, **kwargs):
        kwargs['ddfs'] = self.master
        return result_iterator(*args, **kwargs)


class Stats(object):
    """Adapts marshalled profile bytes to what ``pstats.Stats`` accepts."""

    def __init__(self, prof):
        import marshal
        self.stats = marshal.loads(prof)

    def create_stats(self):
        pass


#: Jobs submitted by this process that nobody has seen end yet: name -> Disco client.
_unwaited = {}
_exit_check = []


def submitted(disco, name):
    """Remember a job this process submitted, to warn at exit if it is still active then."""
    if not _exit_check:
        import atexit
        _exit_check.append(True)
        atexit.register(_warn_unwaited)  # after the master's own atexit: runs before it
    _unwaited[name] = disco


def _warn_unwaited():
    """At exit: a warning for each job this process submitted that is still active."""
    gone = set()  # masters that did not answer: not asked again (each try may retry)
    for name, disco in list(_unwaited.items()):
        if disco.master in gone:
            continue
        try:
            status = disco.results(name, timeout=0)[0]
        except Exception:
            gone.add(disco.master)
            continue
        if status == 'active':
            local = disco.master.startswith('local://')
            sys.stderr.write(
                "discolite: warning: job %s was still active when this process exited: it was "
                "never waited for (call job.wait() to get its results)%s\n"
                % (name, '; the in-process master kills it now' if local else
                   '; it keeps running on %s' % disco.master))
    _unwaited.clear()


def _name(job):
    return job.name if isinstance(job, Job) else job


def _q(name):
    """A job name (or stage) as it goes into a URL: Disco's names (``Prefix@a:b:c``) unchanged,
    anything unusual percent-encoded so that no name can break the request."""
    from urllib.parse import quote
    return quote(str(_name(name)), safe='@:')


def _is_result_pair(x):
    return isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], str) and \
        isinstance(x[1], tuple)


def _number(what, value, finite=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or \
            (finite and value == float('inf')):
        raise DiscoError("%s must be a non-negative number of seconds, not %r" % (what, value))
    return value


def _offset(offset):
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise DiscoError("offset must be a non-negative integer (a byte offset), not %r"
                         % (offset,))
    return offset


def _timeout_ms(timeout):
    """The timeout sent to get_results: whole milliseconds (a real master refuses floats with
    400).  Anything else is sent as given, so the master answers 400 and ``results`` raises
    CommError as it does on Disco."""
    if isinstance(timeout, float) and timeout == timeout and abs(timeout) != float('inf'):
        return int(timeout)
    if isinstance(timeout, (int, str, type(None))):
        return timeout
    return str(timeout)


def result_iterator(urls, reader=chain_reader, input_stream=(map_input_stream,),
                    notifier=notifier, params=None, ddfs=None):
    """Iterate over the records at ``urls`` (usually a job's results), with replica failover."""
    if isinstance(urls, Job):
        raise TypeError("result_iterator() takes a job's results, not the Job %s: pass "
                        "job.wait() (it waits for the job and returns its result URLs)"
                        % urls.name)
    settings = DiscoSettings()
    if ddfs:
        settings['DISCO_MASTER'] = ddfs
    try:
        for replicas in inputlist(urls, settings=settings):
            replicas = list(iterify(replicas)) if not isinstance(replicas, str) else [replicas]
            notifier(replicas)
            yield from replica_records(replicas, list(input_stream) + ([reader] if reader
                                                                       else []), params)
    except DataError as e:
        hint = _port_hint(str(e.url).split(), settings)
        if not hint:
            raise
        raise type(e)('%s%s' % (e.msg, hint), e.url, e.code) from e


def _port_hint(replicas, settings):
    """Why a result URL may be unreadable: it resolves to DISCO_PORT, not the master's port."""
    from discolite import util
    from discolite.settings import master_port
    master = settings['DISCO_MASTER']
    port = master_port(master)
    tried = []
    for url in replicas:
        scheme = url.split('://', 1)[0]
        if scheme in ('disco', 'dir'):
            try:
                url = util.urlresolve(url)
            except Exception:
                continue
        if url.startswith('http://') and master_port(url) == str(settings['DISCO_PORT']):
            tried.append(url)
    if not port or not tried or str(settings['DISCO_PORT']) == port:
        return ''
    return ('. Tried %s: result URLs are read at DISCO_PORT (%s), but the master %s listens '
            'on port %s; set DISCO_PORT=%s' % (' '.join(tried), settings['DISCO_PORT'], master,
                                               port, port))


def client_version():
    from discolite import __version__
    return __version__
