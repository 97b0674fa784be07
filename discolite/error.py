"""Disco's exception types (``disco.error``), with the same messages."""


class DiscoError(Exception):
    """Base class of every error discolite raises on purpose."""

    def __str__(self):
        return ' '.join(str(a) for a in self.args) if self.args else ''


class JobError(DiscoError):
    """A job failed (or timed out while being waited on)."""

    def __init__(self, job, message):
        self.job = job
        self.message = message
        super().__init__(job, message)

    def __str__(self):
        name = getattr(self.job, 'name', self.job)
        return "Job {0} failed: {1}".format(name, self.message)


class DataError(DiscoError):
    """A resource could not be read; inside a task this is recoverable (the task is retried)."""

    def __init__(self, msg, url, code=None):
        self.msg = msg
        self.url = url
        self.code = code
        super().__init__(msg, url, code)

    def __str__(self):
        s = "Unable to access resource ({0}): {1}".format(self.url, self.msg)
        if self.code is not None:
            s += " ({0})".format(self.code)
        return s


class CommError(DataError):
    """A network or HTTP failure; ``code`` is the HTTP status or None."""
