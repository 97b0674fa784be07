"""The master's endpoint table: Disco's HTTP API as ``(method, path) -> handler``.

Served in process by the local transport and over HTTP by ``httpserver``;
status codes, JSON shapes and error bodies follow the captures of a real
Disco 0.5.4 master (``shared/disco-captures``).
"""
import json
import shutil
from urllib.parse import unquote

from discolite.master import dataflow, static
from discolite.master import names
from discolite.master import ddfs_endpoints
from discolite.master.jobpack import JobPackError
from discolite.transport import Response

VERSION = '0.5.4'
MAX_JOBPACK = 1 << 30
MAX_TIMEOUT = 2 ** 32 - 1  # ms (49 days), what an Erlang receive timeout accepts


class BadRequest(Exception):
    """Answered with HTTP 400 and the JSON-encoded message."""


def ok(value):
    return Response(200, json.dumps(value, separators=(',', ':')))


def not_found():
    return Response(404, b'Not found.', 'text/plain')


def text(body, status=200, headers=None):
    return Response(status, body, 'text/plain', headers)


def _json_body(request):
    try:
        return json.loads((request.body or b'').decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as e:
        raise BadRequest("invalid JSON body: %s" % e)
    except RecursionError:
        raise BadRequest("invalid JSON body: nested too deeply")


def _string_body(request):
    value = _json_body(request)
    if not isinstance(value, str):
        raise BadRequest("string expected, '%s' received" % _term(value))
    return value


def _term(value):
    return json.dumps(value) if not isinstance(value, (int, float)) or isinstance(value, bool) \
        else repr(value)


def _range(request):
    """Start offset of a ``Range: bytes=N-`` header, or None."""
    header = request.headers.get('range')
    if not header or not header.startswith('bytes='):
        return None
    start = header[6:].split('-', 1)[0]
    try:
        return max(0, int(start))
    except ValueError:
        return None


def _serve_bytes(request, data, content_type):
    start = _range(request)
    if start is None:
        return Response(200, data, content_type)
    if start >= len(data):
        return Response(200, b'', content_type)
    return Response(206, data[start:], content_type,
                    {'Content-Range': 'bytes %d-%d/%d' % (start, len(data) - 1, len(data)),
                     'Accept-Ranges': 'bytes'})


def strip_proxy(path):
    """``/proxy/<host>/<method>/<rest>`` (a request relayed by DISCO_PROXY) as ``/<rest>``."""
    if path.startswith('/proxy/'):
        parts = path.split('/', 4)
        path = '/' + (parts[4] if len(parts) > 4 else '')
    return path


class App(object):
    """Dispatches requests to the handlers below."""

    def __init__(self, master):
        self.master = master
        self.scheduler = master.scheduler
        self._joblist = (None, b'')
        self.get = {'/disco/version': self.version,
                    '/disco/ctrl/joblist': self.joblist,
                    '/disco/ctrl/jobinfo': self.jobinfo,
                    '/disco/ctrl/parameters': self.parameters,
                    '/disco/ctrl/rawevents': self.rawevents,
                    '/disco/ctrl/jobevents': self.jobevents,
                    '/disco/ctrl/get_stageresults': self.stageresults,
                    '/disco/ctrl/nodeinfo': self.nodeinfo,
                    '/disco/ctrl/load_config_table': self.load_config,
                    '/disco/ctrl/get_blacklist': self.get_blacklist,
                    '/disco/ctrl/get_gc_blacklist': lambda r: ok([]),
                    '/disco/ctrl/get_settings': self.get_settings,
                    '/disco/ctrl/dataflow': dataflow.endpoint(master)}
        self.post = {'/disco/ctrl/get_results': self.get_results,
                     '/disco/ctrl/kill_job': self.kill_job,
                     '/disco/ctrl/clean_job': self.clean_job,
                     '/disco/ctrl/purge_job': self.purge_job,
                     '/disco/ctrl/blacklist': self.blacklist,
                     '/disco/ctrl/whitelist': self.whitelist,
                     '/disco/ctrl/gc_blacklist': self.gc_list,
                     '/disco/ctrl/gc_whitelist': self.gc_list,
                     '/disco/ctrl/save_config_table': self.save_config,
                     '/disco/ctrl/save_settings': self.save_settings}

    def handle(self, request):
        try:
            path = request.path
            if '%' in path:  # the HTTP server decodes paths; do the same for local requests
                path = unquote(path)
            path = strip_proxy(path)
            if request.method == 'POST' and path.startswith('/disco/job/'):
                return self.new_job(request)
            if path.startswith('/ddfs/'):
                return ddfs_endpoints.handle(self.master, request, path)
            table = self.get if request.method in ('GET', 'HEAD') else \
                self.post if request.method == 'POST' else {}
            handler = table.get(path)
            if handler is not None:
                return handler(request)
            if request.method in ('GET', 'HEAD'):
                if path.startswith('/disco/') and not path.startswith('/disco/ctrl/'):
                    return self.data_file(request, path[len('/disco/'):])
                if static.is_page(path):  # the web pages
                    return static.serve(path)
            return not_found()
        except BadRequest as e:
            return Response(400, json.dumps(str(e)))
        except (RecursionError, OverflowError) as e:  # hostile numbers or nesting
            return Response(400, json.dumps('bad request: %s' % type(e).__name__))
        except Exception as e:
            return Response(500, json.dumps('Internal server error: %s: %s'
                                            % (type(e).__name__, e)))

    def _job(self, request):
        """The JobRecord named by ``?name=``, or None (also for a name no job can have)."""
        return self.scheduler.jobs.get(names.lookup(request.query.get('name')))

    # -- jobs

    def new_job(self, request):
        body = request.body or b''
        if len(body) > MAX_JOBPACK:
            return text('Job packet too large', 413)
        if not self.scheduler.accept_new_jobs:
            return text('No new jobs should be submitted to this cluster.', 403)
        mapped = None
        if hasattr(body, 'path'):  # the HTTP server streamed a big pack to disk
            import mmap
            with open(body.path, 'rb') as f:
                mapped = body = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            name = self.scheduler.submit(body)
        except JobPackError as e:
            return ok(['error', 'Job failed to start: %s' % e.render()])
        finally:
            if mapped is not None:
                mapped.close()
        return ok(['ok', name])

    def version(self, request):
        return ok(VERSION)

    def joblist(self, request):
        # Clients poll this; the answer is rebuilt only when a job was submitted, ended or
        # forgotten (each changes the key), not for every poll of every client.
        s = self.scheduler
        with s.lock:
            key = (s.seq, len(s.active), len(s.jobs))
            if self._joblist[0] != key:
                jobs = sorted(s.jobs.values(), key=lambda j: -j.seq)
                self._joblist = (key, ok([[int(j.start), j.status, j.name] for j in jobs]).body)
            return Response(200, self._joblist[1])

    def jobinfo(self, request):
        with self.scheduler.lock:
            job = self._job(request)
            return not_found() if job is None else ok(job.info())

    def parameters(self, request):
        job = self._job(request)
        if job is None:
            return not_found()
        try:
            with open(job.jobfile, 'rb') as f:
                return Response(200, f.read(), 'application/octet-stream')
        except OSError:
            return not_found()

    def rawevents(self, request):
        job = self._job(request)
        if job is None:
            return not_found()
        return _serve_bytes(request, job.events.read(), 'text/plain')

    def jobevents(self, request):
        job = self._job(request)
        if job is None:
            return not_found()
        try:
            num = min(int(request.query.get('num', 10)), 1000)
        except ValueError:
            raise BadRequest("integer expected, '%s' received" % request.query.get('num'))
        events = job.events.last(num, request.query.get('filter'))
        lines = [json.dumps(e, separators=(',', ':')) for e in events]
        return text('[' + '\n,'.join(lines) + '\n]')  # exactly as captures/jobevents

    def stageresults(self, request):
        with self.scheduler.lock:
            job = self._job(request)
            stage = request.query.get('stage', '')
            if job is None or stage not in job.stage_results:
                return not_found()
            return ok(job.stage_results[stage])

    def get_results(self, request):
        value = _json_body(request)
        if not (isinstance(value, list) and len(value) == 2):
            raise BadRequest("[timeout, [jobname, ...]] expected, '%s' received" % _term(value))
        timeout, jobnames = value
        if not isinstance(timeout, int) or isinstance(timeout, bool):
            raise BadRequest("integer expected, '%s' received" % _term(timeout))
        if not 0 <= timeout <= MAX_TIMEOUT:
            raise BadRequest("integer between 0 and %d expected, '%s' received"
                             % (MAX_TIMEOUT, timeout))
        if not isinstance(jobnames, list) or not all(isinstance(n, str) for n in jobnames):
            raise BadRequest("list of job names expected, '%s' received" % _term(jobnames))
        sched = self.scheduler
        if timeout and sched.inline and sched.pool.in_task():
            with sched.lock:
                waiting = [n for n in jobnames
                           if getattr(sched.jobs.get(names.lookup(n)), 'status', '') == 'active']
            if waiting:  # it would wait forever: its tasks run in this very thread, later
                raise BadRequest(
                    "in inline mode (DISCOLITE_INLINE) a task cannot wait for another job: "
                    "the job's tasks run in this same thread, after the current task. "
                    "Run without inline mode to wait for %s from a task" % waiting[0])
        sched.wait_any(jobnames, timeout / 1000.0)
        with self.scheduler.lock:
            reply = []
            for name in jobnames:
                job = self.scheduler.jobs.get(names.lookup(name))
                if job is None:
                    reply.append([name, ['unknown job', []]])
                else:
                    reply.append([name, [job.status,
                                         job.results if job.status == 'ready' else []]])
            return ok(reply)

    def kill_job(self, request):
        self.scheduler.kill(_string_body(request))
        return ok('')

    def clean_job(self, request):
        self.scheduler.forget(_string_body(request), purge=False)
        return ok('')

    def purge_job(self, request):
        self.scheduler.forget(_string_body(request), purge=True)
        return ok('')

    # -- nodes and settings

    def nodeinfo(self, request):
        s = self.scheduler
        usage = shutil.disk_usage(self.master.storage.root)
        with s.lock:
            tasks = {}
            for job in s.active.values():
                for t in job.running:
                    tasks.setdefault(t.node, []).append(job.name)
            out = {}
            for node in s.nodes:
                info = {}
                if tasks.get(node.host):
                    info['tasks'] = tasks[node.host]
                info.update({'job_ok': node.stats['job_ok'],
                             'data_error': node.stats['data_error'],
                             'error': node.stats['error'], 'max_workers': node.slots,
                             'connected': node.active, 'blacklisted': node.host in s.blacklisted,
                             'diskfree': usage.free // 1024, 'diskused': usage.used // 1024})
                if node.active:
                    out[node.host] = info
            return ok(out)

    def load_config(self, request):
        with self.scheduler.lock:
            return ok(self.scheduler.nodes.config())

    def save_config(self, request):
        from discolite.master.nodes import valid_name
        table = _json_body(request)
        if not isinstance(table, list) or not all(
                isinstance(row, list) and len(row) == 2 and all(isinstance(x, str) for x in row)
                for row in table):
            raise BadRequest('invalid config')
        hosts = [row[0] for row in table]
        if len(set(hosts)) != len(hosts):
            raise BadRequest('duplicate nodes')
        for host, slots in table:
            if not slots.isdigit() or not valid_name(host) or int(slots) > 10000:
                raise BadRequest('invalid config')
        self.scheduler.set_config(table)
        return ok('table saved!')

    def get_blacklist(self, request):
        with self.scheduler.lock:
            return ok(sorted(self.scheduler.blacklisted))

    def blacklist(self, request):
        host = _string_body(request)
        with self.scheduler.lock:
            if self.scheduler.nodes.get(host) is not None:
                self.scheduler.blacklisted.add(host)
        self.scheduler.wake()
        return ok('')

    def whitelist(self, request):
        host = _string_body(request)
        with self.scheduler.lock:
            self.scheduler.blacklisted.discard(host)
        self.scheduler.wake()
        return ok('')

    def gc_list(self, request):
        _string_body(request)
        return ok('')

    def get_settings(self, request):
        return ok({'max_failure_rate': self.scheduler.max_failures,
                   'accept_new_jobs': int(self.scheduler.accept_new_jobs)})

    def save_settings(self, request):
        value = _json_body(request)
        if not isinstance(value, dict):
            raise BadRequest("object expected, '%s' received" % _term(value))
        updates = {}
        for key, raw in value.items():
            if key not in ('max_failure_rate', 'accept_new_jobs'):
                raise BadRequest("unknown setting '%s'" % key)
            try:
                updates[key] = int(str(raw))
            except ValueError:
                raise BadRequest("integer expected for %s, '%s' received" % (key, raw))
            if updates[key] < 0:
                raise BadRequest("non-negative integer expected for %s" % key)
        with self.scheduler.lock:
            if 'max_failure_rate' in updates:
                self.scheduler.max_failures = updates['max_failure_rate']
            if 'accept_new_jobs' in updates:
                self.scheduler.accept_new_jobs = bool(updates['accept_new_jobs'])
        return ok('Settings saved')

    # -- data: result files (DDFS, OOB values included, is ddfs_endpoints.py)

    def data_file(self, request, relpath):
        path = self.master.storage.resolve_data_path(relpath)
        if path is None:
            return not_found()
        with open(path, 'rb') as f:
            return _serve_bytes(request, f.read(), 'application/octet-stream')
