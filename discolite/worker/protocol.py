"""How a running task talks to its master.

Two channels carry the same messages (MSG, OUTPUT, DONE, ERROR, FATAL, INPUT, ...):

* :class:`StreamChannel` speaks Disco's worker protocol: frames
  ``<TYPE> SP <LEN> SP <JSON>\\n`` written to stderr, replies read from stdin.
  It is used when the worker runs as an executable (a real Disco node, or the
  discolite master running a job's own worker).
* :class:`PipeChannel` is used inside discolite's process pool: messages go
  over a ``multiprocessing`` connection and INPUT is answered from the task
  description, so a task costs no extra round trips.

Task code reaches the current channel through :data:`CHANNEL`.
"""
import json
import os
import pickle
import sys

CHANNEL = None
ECHO = None  # a stream that also gets what tasks print (inline mode: the caller's stdout)
MAX_PAYLOAD = 100 * 1024 * 1024


class ProtocolError(Exception):
    pass


def encode(type, payload):
    """One frame: ``<TYPE> SP <LEN> SP <JSON payload>\n``, LEN counting the JSON's bytes."""
    body = json.dumps(payload).encode('utf-8')
    return b'%s %d %s\n' % (type.encode('ascii'), len(body), body)


def _read_word(stream, maxlen, what):
    word = b''
    while True:
        c = stream.read(1)
        if not c:
            raise ProtocolError("Connection closed")
        if c == b' ':
            return word
        word += c
        if len(word) > maxlen:
            raise ProtocolError("Invalid message %s: %r" % (what, word))


def decode(stream):
    """Read one frame from a binary stream; returns ``(type, payload)``."""
    type_ = _read_word(stream, 10, 'type')
    head = _read_word(stream, 12, 'length')
    try:
        length = int(head)
    except ValueError:
        raise ProtocolError("Invalid message length: %r" % head)
    if length > MAX_PAYLOAD:
        raise ProtocolError("Message too large: %d bytes" % length)
    body = stream.read(length)
    if len(body) != length or stream.read(1) != b'\n':
        raise ProtocolError("Truncated message")
    try:
        return type_.decode('ascii'), json.loads(body.decode('utf-8'))
    except ValueError as e:
        raise ProtocolError("Invalid message payload: %s" % e)


class Channel(object):
    """Where a task's messages go: ``send`` reports, ``request`` also returns the reply."""

    def send(self, type, payload=''):
        raise NotImplementedError

    def request(self, type, payload=''):
        raise NotImplementedError


class StreamChannel(Channel):
    """Disco's worker protocol over (stdin, stderr)."""

    NO_REPLY = ('DONE', 'ERROR', 'FATAL')

    def __init__(self, inp=None, out=None):
        self.inp = inp or sys.stdin.buffer
        self.out = out or sys.stderr.buffer

    def _write(self, type, payload):
        self.out.write(encode(type, payload))
        self.out.flush()

    def send(self, type, payload=''):
        self._write(type, payload)
        if type in self.NO_REPLY:
            return None
        return self.recv()

    def request(self, type, payload=''):
        self._write(type, payload)
        return self.recv()

    def recv(self):
        return decode(self.inp)


class PipeChannel(Channel):
    """Messages to the master over a multiprocessing connection; INPUT answered locally.

    From its first OUTPUT (or the worker's "Done: N entries ..." that ends a map or
    reduce loop) on, a task is wrapping up: its messages are held and go to the master
    in one ``('batch', [...])`` with the DONE, ERROR or FATAL that ends it, so the
    master is woken once where it would have been woken four times.
    """

    TERMINAL = ('DONE', 'ERROR', 'FATAL')

    def __init__(self, conn, inputs, on_end=None, index=None):
        self.conn = conn
        self.inputs = inputs
        self.held = None
        self.on_end = on_end  # called before the message that ends the task goes out
        # (directory, host, url prefix, file name): where the task's index file goes, which
        # this channel writes itself (an INDEX message) so the master need not
        self.index = index

    def send(self, type, payload=''):
        if type in self.TERMINAL and self.on_end is not None:
            on_end, self.on_end = self.on_end, None
            on_end()
        if self.held is None and type != 'OUTPUT' and not (
                type == 'MSG' and str(payload).startswith('Done: ')):
            self.conn.send((type, payload))
            return
        if self.held is None:
            self.held = []
        if type == 'DONE' and self.index is not None:
            self._write_index()
        self.held.append((type, payload))
        if type in self.TERMINAL:
            self.flush()

    def _write_index(self):
        outputs = [p for t, p in self.held if t == 'OUTPUT']
        if not outputs or any('://' in str(path) for _label, path, _size in outputs):
            return  # the master writes it (URL outputs: classic and pipeline jobs differ)
        from discolite.master.storage import write_index_file
        directory, host, prefix, name = self.index
        try:
            url = write_index_file(directory, host, prefix, name,
                                   [(int(label), str(path), int(size))
                                    for label, path, size in outputs])
        except (OSError, ValueError, TypeError):
            return  # the master tries again, and reports what fails
        self.held.append(('INDEX', url))

    def flush(self):
        held, self.held = self.held, None
        if held:
            self.conn.send(('batch', held))

    def request(self, type, payload=''):
        if type == 'INPUT':
            return 'INPUT', ['done', [[i, 'ok', label, [[r, url] for r, url in enumerate(urls)]]
                                      for i, label, urls in self.inputs]]
        if type == 'PING':
            return 'OK', 'pong'
        raise ProtocolError("Unsupported request in the pool: %s" % type)


class InputsFile(object):
    """A big task's inputs ``(input id, label, [replica urls])``, in a file the master
    wrote (pickled lists of at most :data:`INPUTS_CHUNK`).

    A pool worker reads them as it goes: a shuffle of 50,000 map outputs would otherwise
    hold the 50,000 inputs three times (the task message, the INPUT answer and the
    worker's list) before copying its first byte.
    """
    __slots__ = ('path',)

    def __init__(self, path):
        self.path = path

    def __iter__(self):
        with open(self.path, 'rb') as f:
            while True:
                try:
                    chunk = pickle.load(f)
                except EOFError:
                    return
                yield from chunk

    def __repr__(self):
        return 'InputsFile(%r)' % self.path


INPUTS_CHUNK = 1024


def write_inputs_file(path, inputs):
    """Write ``inputs`` as :class:`InputsFile` reads them (to ``path.partial``, renamed
    when whole: a worker of an earlier attempt may still be reading ``path``)."""
    with open(path + '.partial', 'wb') as f:
        for start in range(0, len(inputs), INPUTS_CHUNK):
            pickle.dump([(iid, label, list(urls))
                         for iid, label, urls in inputs[start:start + INPUTS_CHUNK]], f, 4)
    os.replace(path + '.partial', path)
    return InputsFile(path)


def send(type, payload=''):
    return CHANNEL.send(type, payload)


def request(type, payload=''):
    return CHANNEL.request(type, payload)


def get_inputs():
    """The task's inputs as ``[(input_id, label, [replica urls])]``."""
    inputs = []
    exclude = []
    while True:
        _, (flag, items) = request('INPUT', ['exclude', exclude] if exclude else '')
        for iid, status, label, replicas in items:
            inputs.append((iid, label, [url for _, url in replicas]))
            exclude.append(iid)
        if flag == 'done':
            return inputs


def iter_inputs():
    """The task's inputs one at a time, as :func:`get_inputs` lists them; in the pool, read
    from the task's message or inputs file without a copy of the whole list."""
    if isinstance(CHANNEL, PipeChannel):
        return ((iid, label, list(urls)) for iid, label, urls in CHANNEL.inputs)
    return iter(get_inputs())


class MessageWriter(object):
    """Replaces sys.stdout/sys.stderr in a task: what job code prints becomes MSG events.

    Text is buffered up to the last newline of a write, so ``print('a', 1)`` (which
    Python writes in four pieces) is one event, as is a multi-line string written at
    once; the text is stripped and empty messages are dropped, as on Disco. A partial
    line is sent on ``flush()`` and when the task ends.
    """

    encoding = 'utf-8'
    errors = 'replace'

    def __init__(self, limit=8192):
        self.limit = limit
        self.pending = ''

    def write(self, text):
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode('utf-8', 'backslashreplace')
        text = str(text)
        if ECHO is not None:
            ECHO.write(text)
            ECHO.flush()
        self.pending += text
        if '\n' in text:
            head, _, self.pending = self.pending.rpartition('\n')
            self._send(head)
        elif len(self.pending) > self.limit:
            self.flush()
        return len(text)

    def _send(self, text):
        text = text.strip()
        if text:
            send('MSG', text[:self.limit])

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        text, self.pending = self.pending, ''
        self._send(text)

    def isatty(self):
        return False

    def fileno(self):
        raise OSError("task output is captured as events")

    @property
    def buffer(self):
        return self


def worker_hello():
    return {'version': '1.1', 'pid': os.getpid()}
