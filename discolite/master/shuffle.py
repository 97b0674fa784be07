"""Small node-local shuffles done by the master itself, in place of a pool task.

A classic job's ``map_shuffle`` / ``reduce_shuffle`` task concatenates, on its
node, the previous stage's outputs by label (DISCO-SPEC 2.5).  When there is
little to copy, sending that task to a pool process costs more than the copy:
a whole round trip between master and worker in every small job.  So the
scheduler does it here instead, with everything observable unchanged: the task
is assigned, its files are written where the worker would write them
(``<taskpath>/<stage>-<group>-<label>``), and the same MSG, OUTPUT and DONE
messages go through the scheduler's ordinary handling (events, index file,
result URLs).

It is done only when a pool worker has said, on loading the job, that the job's
worker is discolite's classic Worker with its own shuffle and that profiling is
off (``JOBINFO``), and only for inputs that are index files on this machine
holding at most :data:`MAX_BYTES` in at most :data:`MAX_INPUTS` inputs.
"""
import os

from discolite import util
from discolite.master.storage import write_new_file

SHUFFLE_STAGES = ('map_shuffle', 'reduce_shuffle')
MAX_INPUTS = 64
MAX_BYTES = 1 << 20


def plan(task):
    """``{label: [local paths]}`` for a shuffle ``task`` the master can do, else None (and
    then never again for that task: it waits for a pool process without re-reading)."""
    if task.stage not in SHUFFLE_STAGES or len(task.inputs) > MAX_INPUTS or \
            getattr(task, 'pooled', False):
        return None
    bylabel = _plan(task)
    if bylabel is None:
        task.pooled = True
    return bylabel


def _plan(task):
    bylabel = {}
    total = 0
    written = task.job.index_entries
    try:
        for _iid, _label, replicas in task.inputs:
            url = replicas[0]
            if not url.startswith('dir://') or util.local_path(url) is None:
                return None
            # an index the master has just written (or seen written) is not read back
            entries = written.pop(url, None)
            for label, data_url, size in (util.read_index(url) if entries is None
                                          else entries):
                total += size
                path = util.local_path(data_url)
                if total > MAX_BYTES or path is None:
                    return None  # big, or not a file of this machine
                bylabel.setdefault(label, []).append(path)
    except Exception:
        return None  # unreadable here: the pool task will report it as Disco's worker would
    return bylabel


def _read(path):
    """The bytes of the file ``path`` (a small one: one read, no file object)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, 'O_CLOEXEC', 0))
    try:
        chunks = []
        while True:
            chunk = os.read(fd, MAX_BYTES + 1)
            if not chunk:
                return b''.join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


def run(scheduler, task, bylabel, payload):
    """Do the shuffle ``task`` (already started) and report it as its worker would."""
    from discolite.task import Task
    node_task = Task(host=payload['host'], jobname=payload['jobname'], stage=task.stage,
                     group=payload['group'], grouping=task.grouping, taskid=task.taskid)
    outputs = []
    try:
        for label in sorted(bylabel):
            relpath = node_task.path('%s-%s-%d' % (task.stage, node_task.group, label))
            path = os.path.join(task.jobhome, relpath)
            data = b''.join([_read(source) for source in bylabel[label]])  # <= MAX_BYTES
            write_new_file(path + '.partial', data, os.path.dirname(path))
            os.rename(path + '.partial', path)
            outputs.append([label, relpath, len(data)])
    except Exception as e:  # recoverable, as a DataError or OSError in a worker would be
        scheduler.handle(task, 'ERROR', 'discolite master shuffle: %s: %s'
                         % (type(e).__name__, e))
        return
    scheduler.handle(task, 'MSG', "Shuffled %d inputs into %d label(s)"
                     % (len(task.inputs), len(bylabel)))
    for output in outputs:
        scheduler.handle(task, 'OUTPUT', output)
    scheduler.handle(task, 'MSG', "Results sent to master")
    scheduler.handle(task, 'DONE', '')
