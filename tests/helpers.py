"""Helpers shared by the test suites."""
import collections
import contextlib
import os
import re
import subprocess
import sys
import threading
import time


@contextlib.contextmanager
def env(**values):
    """Set (None: unset) environment variables; the old values come back on exit."""
    old = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = str(v)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def small_tmpfs(directory, megabytes):
    """Mount a tmpfs of ``megabytes`` on ``directory`` (a disk that fills up); the test is
    skipped, with the reason, where mounting is not allowed."""
    import pytest
    os.makedirs(str(directory), exist_ok=True)
    proc = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%dm' % megabytes, 'tmpfs',
                           str(directory)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip('cannot mount a %d MB tmpfs here (needs root or CAP_SYS_ADMIN): %s'
                    % (megabytes, proc.stderr.strip() or proc.returncode))
    try:
        yield directory
    finally:
        for _ in range(50):  # never leave the mount behind (a process may still hold it)
            subprocess.run(['umount', '-l', str(directory)], capture_output=True)
            if not os.path.ismount(str(directory)):
                break
            time.sleep(0.1)


@contextlib.contextmanager
def http_master(data_dir, workers=2, args=()):
    """Start ``python -m discolite master`` on a free loopback port; yield its URL.

    The master's output is drained by a thread (a full pipe would block it) and its
    last lines are kept in ``http_master.output`` for failure messages.
    """
    proc = subprocess.Popen([sys.executable, '-m', 'discolite', 'master', '--host', '127.0.0.1',
                             '--port', '0', '--data-dir', str(data_dir),
                             '--workers', str(workers)] + list(args),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = collections.deque(maxlen=200)
    http_master.output = output
    try:
        url = None
        deadline = time.time() + 30
        while time.time() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            output.append(line)
            m = re.search(r'(http://127\.0\.0\.1:\d+)', line)
            if m:
                url = m.group(1)
                break
        if url is None:
            raise RuntimeError('discolite master did not start:\n' + ''.join(output))
        threading.Thread(target=lambda: [output.append(l) for l in proc.stdout],
                         daemon=True).start()
        port = url.rsplit(':', 1)[1]
        old = os.environ.get('DISCO_PORT')
        os.environ['DISCO_PORT'] = port  # disco://localhost/... result URLs resolve to it
        try:
            yield url
        finally:
            if old is None:
                os.environ.pop('DISCO_PORT', None)
            else:
                os.environ['DISCO_PORT'] = old
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def serve_http(handler, ssl_context=None):
    """Serve ``handler`` (a BaseHTTPRequestHandler class) on a free 127.0.0.1 port in a
    thread; yield the base URL (https with ``ssl_context``)."""
    import http.server
    import threading
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    if ssl_context is not None:
        server.socket = ssl_context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield '%s://127.0.0.1:%d' % ('https' if ssl_context else 'http', server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
