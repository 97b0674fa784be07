"""DDFS speed: pushes, tag updates and reads, in process and over HTTP, and a job whose
tasks store OOB values (each put after the first costs ~1 s on a real Disco master,
whose delayed tag updates wait for a 1 s flush).

    python benchmarks/ddfs.py [--n 200]
"""
import argparse
import os
import resource
import sys
import time
from io import BytesIO

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _ops(ddfs, n, label):
    rows = []
    payload = b'x' * 1024
    for name, op in (('push 1 KiB blob', lambda i: ddfs.push('bench:push', [(BytesIO(payload),
                                                                             'b%d' % i)])),
                     ('tag update', lambda i: ddfs.tag('bench:tag', [['u%d' % i]])),
                     ('tag get', lambda i: ddfs.get('bench:tag')),
                     ('set update (no change)', lambda i: ddfs.tag('bench:tag', [['tag://x']],
                                                                   update=True))):
        t, c = time.time(), _cpu()
        for i in range(n):
            op(i)
        wall, cpu = time.time() - t, _cpu() - c
        rows.append((label, name, n / wall, wall / n * 1000, cpu / n * 1000))
        if name == 'tag update':
            ddfs.tag('bench:tag', [['tag://x']])
    for tag in ddfs.list('bench:'):
        ddfs.delete(tag)
    return rows


def oob_map(e, params):
    for i in range(10):
        put('%s-%d' % (e.strip(), i), b'v')
    yield e, 1


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument('--n', type=int, default=200)
    args = parser.parse_args(argv)
    from discolite import Job
    from discolite.ddfs import DDFS
    from discolite.master import Master
    rows = []
    with Master(DISCOLITE_WORKERS=2) as master:
        rows += _ops(DDFS(master.url), args.n, 'in process')
        from discolite.master.httpserver import serve
        server, url = serve(master)
        try:
            rows += _ops(DDFS(url), args.n, 'HTTP')
        finally:
            server.shutdown()
            server.server_close()
        t = time.time()
        job = Job(master=master.url).run(input=['raw://a', 'raw://b'], map=oob_map)
        job.wait(poll_interval=0.05)
        oob_wall = time.time() - t
        assert len(job.oob_list()) == 20
    print('%-11s %-24s %10s %10s %12s' % ('master', 'operation', 'ops/s', 'ms/op', 'client CPU ms'))
    for row in rows:
        print('%-11s %-24s %10.0f %10.2f %12.2f' % row)
    print('job with 2 tasks x 10 OOB puts: %.2f s (a real master: >= 10 s)' % oob_wall)


if __name__ == '__main__':
    main()
