"""Helpers for the HTTP master, transport and worker protocol tests."""
import io
import json
import os
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.helpers import env  # noqa: F401  (the HTTP suites import it from here)

HERE = os.path.dirname(os.path.abspath(__file__))
FOREIGN_WORKER = os.path.join(HERE, 'foreign_worker.py')


def zip_bytes(entries):
    """A zip of ``{arcname: bytes}`` (mode 0755 for names ending in worker.py)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w', zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name.endswith('worker.py') else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


def foreign_pack(inputs, mode='ok', prefix='Foreign', extra_envs=None, worker=None):
    """Job pack bytes for a map-only v1 job whose worker is tests/http/foreign_worker.py."""
    from discolite.job import JobPack
    with open(worker or FOREIGN_WORKER, 'rb') as f:
        source = f.read()
    jobdict = {'prefix': prefix, 'worker': 'bin/worker.py', 'owner': 'tests@localhost',
               'input': inputs, 'nr_reduces': 1, 'map?': True, 'reduce?': False,
               'save_results': False, 'save_info': 'ddfs', 'scheduler': {}}
    envs = {'FOREIGN_MODE': mode, 'FOREIGN_JOBENV': 'yes'}
    envs.update(extra_envs or {})
    return JobPack(1, jobdict, envs, zip_bytes({'bin/worker.py': source}), b'').dumps()


def wait_status(disco, name, timeout=30):
    """Poll until the job leaves 'active'; returns (status, results)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, results = disco.results(name, timeout=500)
        if status != 'active':
            return status, results
    raise AssertionError('job %s still active after %ss' % (name, timeout))


def events_text(disco, name):
    return '\n'.join(e[2] for _o, e in disco.events(name))


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(') ', 1)[1][0] != 'Z'
    except OSError:
        return False


def wait_dead(pids, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        alive = [p for p in pids if pid_alive(p)]
        if not alive:
            return []
        time.sleep(0.05)
    return [p for p in pids if pid_alive(p)]


class FakeServer(object):
    """A tiny HTTP server on 127.0.0.1 answering from ``routes`` and recording requests.

    ``routes`` maps a path (without query) to ``(status, body, headers)`` or to a
    callable ``(handler, body) -> (status, body, headers)``.
    """

    def __init__(self, routes=None):
        self.routes = dict(routes or {})
        self.requests = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *args):
                pass

            def _go(self):
                length = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(length) if length else None
                fake.requests.append((self.command, self.path, body, dict(self.headers)))
                route = fake.routes.get(self.path.split('?')[0], fake.routes.get('*'))
                if route is None:
                    status, data, headers = 404, b'Not found.', {'Content-Type': 'text/plain'}
                elif callable(route):
                    status, data, headers = route(self, body)
                else:
                    status, data, headers = route
                if isinstance(data, str):
                    data = data.encode('utf-8')
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                if self.command != 'HEAD':
                    self.wfile.write(data)

            do_GET = do_POST = do_HEAD = _go

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = 'http://127.0.0.1:%d' % self.port
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={'poll_interval': 0.1}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def json_reply(value, status=200):
    return status, json.dumps(value), {'Content-Type': 'application/json'}
