"""Helpers for the engine tests: run a job to completion, collect its events."""
import pytest

from discolite import Job, result_iterator
from discolite.error import JobError

POLL = 0.05


def run(disco, job=None, **jobargs):
    """Run ``job`` (a plain Job by default) with ``jobargs``; return the Job after it ended."""
    job = (job or Job(master=disco)).run(**jobargs)
    return job


def results(job, **kwargs):
    """The records of a finished job, read with result_iterator."""
    return list(result_iterator(job.wait(poll_interval=POLL), **kwargs))


def run_results(disco, job=None, **jobargs):
    return results(run(disco, job, **jobargs))


def messages(job):
    """The event messages of a job (strings), in order."""
    return [event[2] for _offset, event in job.disco.events(job.name)]


def task_messages(job, stage=None):
    """The ``MSG:`` events a job's tasks sent, without the ``MSG: [stage:N] `` prefix."""
    out = []
    for m in messages(job):
        if m.startswith('MSG: ['):
            prefix, _, text = m.partition('] ')
            if stage is None or prefix[len('MSG: ['):].startswith(stage + ':'):
                out.append(text)
    return out


def fails(job):
    """Wait for ``job`` to die; return ``(JobError text, all event text)``."""
    with pytest.raises(JobError) as info:
        job.wait(poll_interval=POLL)
    assert job.jobinfo()['active'] == 'dead'
    return str(info.value), '\n'.join(messages(job))
