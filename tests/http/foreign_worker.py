#!/usr/bin/env python3
"""A worker that speaks Disco's worker protocol WITHOUT importing discolite.

The tests put this file in a job home (``bin/worker.py``) and build the job pack
with ``discolite.job.JobPack`` directly.  Its behaviour is chosen by the jobenv
``FOREIGN_MODE``; whatever it finds wrong in the master's replies it reports as
FATAL, so a test sees the reason in the job's events.

Stages of a map-only classic job: ``map`` (one task per input, writes the input's
URL as one line) and ``map_shuffle`` (concatenates the map outputs it is given).
"""
import json
import os
import sys
import time

OUT = sys.stderr.buffer
INP = sys.stdin.buffer
MODE = os.environ.get('FOREIGN_MODE', 'ok')


def send(mtype, payload=''):
    body = json.dumps(payload).encode('utf-8')
    OUT.write(mtype.encode('ascii') + b' ' + str(len(body)).encode() + b' ' + body + b'\n')
    OUT.flush()


def word():
    w = b''
    while True:
        c = INP.read(1)
        if not c:
            sys.exit(17)  # the master went away
        if c == b' ':
            return w.decode('ascii')
        w += c


def recv():
    mtype = word()
    length = int(word())
    body = INP.read(length)
    assert INP.read(1) == b'\n'
    return [mtype, json.loads(body.decode("utf-8"))]


def request(mtype, payload=''):
    send(mtype, payload)
    return recv()


def check(cond, what):
    if not cond:
        send('FATAL', 'foreign worker check failed: %s' % what)
        sys.exit(0)


def once(name):
    """True the first time a task asks (marker files in the shared job home)."""
    path = 'marker-%s' % name
    if os.path.exists(path):
        return False
    open(path, 'w').close()
    return True


def local_path(url, task):
    """disco://HOST/disco/<rest> and dir://... on this node: <disco_data>/<rest>."""
    rest = url.split('://', 1)[1].split('/', 1)[1]
    assert rest.startswith('disco/')
    return os.path.join(task['disco_data'], rest[len('disco/'):])


def main():
    reply = request('WORKER', {'version': os.environ.get('FOREIGN_VERSION', '1.1'),
                               'pid': os.getpid()})
    check(reply == ['OK', 'ok'], 'WORKER reply %r' % (reply,))
    mtype, task = request('TASK')
    check(mtype == 'TASK', 'TASK reply type %r' % mtype)
    for key in ('taskid', 'master', 'disco_port', 'put_port', 'ddfs_data', 'disco_data', 'stage',
                'grouping', 'group', 'jobfile', 'jobname', 'host'):
        check(key in task, 'TASK payload has no %r' % key)
    taskid, stage = task['taskid'], task['stage']
    tname = '%s-%d' % (stage, taskid)
    with open('pids-%s-%d' % (tname, os.getpid()), 'w') as f:
        f.write(str(os.getpid()))

    # the node's environment: jobenvs set, Disco settings unset, cwd = job home
    check(os.environ.get('FOREIGN_JOBENV') == 'yes', 'jobenv FOREIGN_JOBENV missing')
    check('DISCO_MASTER' not in os.environ, 'Disco settings leaked into the environment')
    check(os.environ.get('DISCO_PORT') == str(task['disco_port']),
          "DISCO_PORT %r is not the master's port %r"
          % (os.environ.get('DISCO_PORT'), task['disco_port']))
    check(os.path.exists('jobfile') and os.path.exists('.jobhome'), 'cwd is not the job home')
    check(os.path.samefile('jobfile', task['jobfile']), 'jobfile is not in the job home')

    mtype, (flag, inputs) = request('INPUT')
    check(mtype == 'INPUT' and flag == 'done', 'INPUT reply %r %r' % (mtype, flag))
    ids = [i[0] for i in inputs]
    check(all(status == 'ok' for _i, status, _l, _r in inputs), 'input status')
    if ids:
        _, (_, excl) = request('INPUT', ['exclude', [ids[0]]])
        check([i[0] for i in excl] == ids[1:], 'exclude gave %r' % (excl,))
        _, (_, incl) = request('INPUT', ['include', [ids[0]]])
        check([i[0] for i in incl] == ids[:1], 'include gave %r' % (incl,))

    if MODE == 'die_once' and stage == 'map' and once(tname) or MODE == 'die_always':
        os._exit(3)
    if MODE == 'garbage_once' and stage == 'map' and once(tname):
        OUT.write(b'this is not a frame, just noise\n')
        OUT.flush()
        time.sleep(5)
        sys.exit(0)
    if MODE == 'error_once' and stage == 'map' and once(tname):
        send('ERROR', 'a recoverable problem on the first attempt')
        time.sleep(5)  # the master kills us: no reply to ERROR
        sys.exit(0)
    if MODE == 'fatal':
        send('FATAL', 'foreign worker gives up')
        time.sleep(5)
        sys.exit(0)
    if MODE == 'absolute_output':
        request('OUTPUT', [0, '/etc/passwd', 10])
        time.sleep(5)
        sys.exit(0)
    if MODE == 'flood':
        for n in range(50):
            request('MSG', 'flood %d' % n)
        sys.exit(0)
    if MODE == 'hang' and stage == 'map':
        import subprocess
        child = subprocess.Popen(['sleep', '60'])
        with open('child-%s-%d' % (tname, child.pid), 'w') as f:
            f.write(str(child.pid))
        request('MSG', 'hanging')
        time.sleep(60)

    reply = request('PING', 'are you there')
    check(reply == ['OK', 'pong'], 'PING reply %r' % (reply,))

    lines = []
    for iid, _status, label, replicas in inputs:
        urls = dict((rid, url) for rid, url in replicas)
        if stage == 'map':
            check(label == 0, 'map input label %r' % (label,))
            if len(replicas) > 1:
                # the first replica "fails": the master offers the others, then nothing
                first = replicas[0][0]
                mtype, rest = request('INPUT_ERR', [iid, [first]])
                check(mtype == 'RETRY' and [r for r, _u in rest] == [r for r, _u in replicas[1:]],
                      'INPUT_ERR reply %r %r' % (mtype, rest))
                mtype, rest = request('INPUT_ERR', [iid, [r for r, _u in rest]])
                check((mtype, rest) == ('FAIL', ''), 'INPUT_ERR reply %r %r' % (mtype, rest))
            lines.append(urls[min(urls)] + '\n')
        else:
            check(label == 'all', 'shuffle input label %r' % (label,))
            for line in open(local_path(urls[0], task)):
                _label, url, _size = line.split()
                with open(local_path(url, task)) as f:
                    lines.append(f.read())
    rel = os.path.join('foreign', '%s-%d' % (stage, taskid), 'out')
    os.makedirs(os.path.dirname(rel), exist_ok=True)
    with open(rel, 'w') as f:
        f.write(''.join(lines))
    reply = request('MSG', 'foreign %s wrote %d lines' % (tname, len(lines)))
    check(reply == ['OK', 'ok'], 'MSG reply %r' % (reply,))
    reply = request('OUTPUT', [0, rel, os.path.getsize(rel)])
    check(reply == ['OK', 'ok'], 'OUTPUT reply %r' % (reply,))
    send('DONE')
    time.sleep(5)  # no reply to DONE: the master kills the worker


if __name__ == '__main__':
    main()
