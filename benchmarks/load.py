"""Load test of ``discolite master`` on loopback: ``python benchmarks/load.py [--quick]``.

Starts a ``discolite master`` (2 workers, its open-file limit set to 1024, as in the
issue) and prints, from one run:

1. ``--clients`` concurrent clients (default 200, in several processes, each with its
   own keep-alive connection) for ``--seconds`` (default 60): every client polls
   ``joblist`` every ``--poll`` seconds (default 0.5) and every tenth poll submits a
   tiny job (purging its previous one, so the job list stays bounded).  Requests/s,
   p50/p99 latency per request kind, and errors (exceptions, timeouts, non-2xx).
2. ``--idle`` idle connections (default 1000) held open while fresh clients time
   ``joblist``: the master must stay reachable.

Targets (issue 12): zero errors, joblist p99 < 250 ms on the 2-core machine; the
master reachable with 1,000 idle connections under ``ulimit -n 1024``.
Figures are wall-clock on a shared machine: compare runs made at the same time.
"""
import argparse
import http.client
import json
import multiprocessing
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from discolite import Disco, Job  # noqa: E402


def tiny_map(line, params):
    yield line, 1


def start_master(data_dir, nofile=1024):
    """A ``discolite master`` subprocess under ``ulimit -n nofile``; returns (proc, url)."""
    def limit():
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        n = nofile if hard == resource.RLIM_INFINITY else min(nofile, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    proc = subprocess.Popen([sys.executable, '-m', 'discolite', 'master', '--host', '127.0.0.1',
                             '--port', '0', '--data-dir', data_dir, '--workers', '2'],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=limit)
    deadline = time.time() + 60
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(r'(http://127\.0\.0\.1:\d+)', line)
        if m:
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # drain
            return proc, m.group(1)
    proc.kill()
    raise RuntimeError('discolite master did not start')


def _request(conn, method, path, body=None):
    conn.request(method, path, body=body,
                 headers={'Content-Type': 'application/json'} if body is not None else {})
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, data


def client(host, port, pack, until, poll, out, index):
    """One client: its own keep-alive connection; appends (kind, seconds, error) to out."""
    conn = None
    previous = None
    n = index  # spread the submissions over time
    time.sleep((index % 50) * poll / 50.0)
    while time.time() < until:
        n += 1
        kinds = [('joblist', 'GET', '/disco/ctrl/joblist', None)]
        if n % 10 == 0:
            kinds.append(('submit', 'POST', '/disco/job/new', pack))
        for kind, method, path, body in kinds:
            start = time.time()
            error = None
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, port, timeout=30)
                status, data = _request(conn, method, path, body)
                if status != 200:
                    error = 'HTTP %d' % status
                elif kind == 'submit':
                    reply = json.loads(data)
                    if reply[0] != 'ok':
                        error = 'refused: %s' % reply[1]
                    else:
                        if previous:
                            _request(conn, 'POST', '/disco/ctrl/purge_job',
                                     json.dumps(previous).encode())
                        previous = reply[1]
            except Exception as e:
                error = '%s: %s' % (type(e).__name__, e)
                try:
                    conn.close()
                except Exception:
                    pass
                conn = None
            out.append((kind, time.time() - start, error))
        time.sleep(poll)
    if conn is not None:
        conn.close()


def client_process(host, port, pack, until, poll, first, count, queue):
    out = []
    threads = [threading.Thread(target=client, args=(host, port, pack, until, poll, out, i))
               for i in range(first, first + count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue.put(out)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100.0))] if values else float('nan')


def run_load(url, clients, seconds, poll, procs):
    host, port = url.split('//')[1].split(':')
    port = int(port)
    pack = Job(master=Disco(url)).pack(input=['raw://a'], map=tiny_map).dumps()
    ctx = multiprocessing.get_context('fork')
    queue = ctx.Queue()
    until = time.time() + seconds
    per = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    workers, first = [], 0
    start = time.time()
    for count in per:
        p = ctx.Process(target=client_process,
                        args=(host, port, pack, until, poll, first, count, queue))
        p.start()
        workers.append(p)
        first += count
    results = []
    for _ in workers:
        results.extend(queue.get(timeout=seconds + 120))
    for p in workers:
        p.join()
    elapsed = time.time() - start
    return results, elapsed


def idle_test(url, idle, probes=20):
    """Hold ``idle`` idle connections; time ``probes`` joblist requests on fresh ones."""
    host, port = url.split('//')[1].split(':')
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = idle + 256
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard) if hard !=
                                                         resource.RLIM_INFINITY else want, hard))
        except (ValueError, OSError):
            pass
    socks, refused = [], 0
    for _ in range(idle):
        try:
            socks.append(socket.create_connection((host, int(port)), timeout=5))
        except OSError:
            refused += 1
    time.sleep(0.5)
    times, errors = [], []
    for _ in range(probes):
        start = time.time()
        try:
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            status, _ = _request(conn, 'GET', '/disco/ctrl/joblist')
            conn.close()
            if status != 200:
                errors.append('HTTP %d' % status)
        except Exception as e:
            errors.append('%s: %s' % (type(e).__name__, e))
        times.append(time.time() - start)
    for s in socks:
        s.close()
    return len(socks), refused, times, errors


def main(argv=None):
    parser = argparse.ArgumentParser(prog='benchmarks/load.py', description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true', help='50 clients for 5 s, 300 idle')
    parser.add_argument('--clients', type=int, default=None)
    parser.add_argument('--seconds', type=float, default=None)
    parser.add_argument('--poll', type=float, default=0.5)
    parser.add_argument('--idle', type=int, default=None)
    parser.add_argument('--procs', type=int, default=4, help='client processes')
    args = parser.parse_args(argv)
    clients = args.clients or (50 if args.quick else 200)
    seconds = args.seconds or (5 if args.quick else 60)
    idle = args.idle if args.idle is not None else (300 if args.quick else 1000)
    data = tempfile.mkdtemp(prefix='discolite-load-')
    proc, url = start_master(data)
    try:
        cpu0 = _cpu(proc.pid)
        results, elapsed = run_load(url, clients, seconds, args.poll, min(args.procs, clients))
        cpu = _cpu(proc.pid) - cpu0
        print('load: %d clients for %.0f s against %s (master: 2 workers, ulimit -n 1024)'
              % (clients, seconds, url))
        print('%-10s %9s %9s %9s %9s %7s' % ('request', 'count', 'req/s', 'p50 ms', 'p99 ms',
                                            'errors'))
        for kind in ('joblist', 'submit', 'all'):
            rows = [r for r in results if kind == 'all' or r[0] == kind]
            lat = [r[1] for r in rows]
            print('%-10s %9d %9.1f %9.1f %9.1f %7d'
                  % (kind, len(rows), len(rows) / elapsed, pct(lat, 50) * 1000,
                     pct(lat, 99) * 1000, sum(1 for r in rows if r[2])))
        errors = sorted({r[2] for r in results if r[2]})
        for e in errors[:5]:
            print('  error: %s' % e)
        print('master CPU: %.1f s over %.1f s' % (cpu, elapsed))
        held, refused, times, errs = idle_test(url, idle)
        print('idle: %d idle connections held (%d refused); joblist on a fresh connection: '
              'p50 %.1f ms, max %.1f ms, %d errors'
              % (held, refused, pct(times, 50) * 1000, max(times) * 1000, len(errs)))
        for e in errs[:3]:
            print('  error: %s' % e)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        import shutil
        shutil.rmtree(data, ignore_errors=True)


def _cpu(pid):
    """CPU seconds (user + system) of process ``pid`` and its children so far."""
    total = 0.0
    tick = os.sysconf('SC_CLK_TCK')
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        total += sum(int(x) for x in fields[11:15]) / tick
    except OSError:
        pass
    return total


if __name__ == '__main__':
    main()
