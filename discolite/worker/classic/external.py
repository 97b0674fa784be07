"""External map and reduce programs (``disco.worker.classic.external``).

``map=disco.util.external(['prog', 'datafile'])`` makes a classic job run ``prog``
(any executable, e.g. a C program built against Disco's ``ext/disco.c``) instead of a
Python function.  The program is started as ``op map`` (or ``op reduce``) in a
directory holding the packaged files, and talks over its standard streams:

* stdin: first the job's ``ext_params`` as a netstring block (``0\\n`` for none), then
  key/value pairs, each string as a native 4-byte length and the bytes.
* stdout: a native 4-byte count, then that many pairs.  A map program answers every
  input pair; a reduce program answers once, after its stdin is closed.
* stderr: lines ``**<MSG>text`` become task messages, ``**<ERR>text`` fails the task;
  other lines are copied to the task's stderr.
"""
import os
import select
import struct
import subprocess
import sys

from discolite.error import DiscoError
from discolite.worker.classic import netstring

MAX_ITEM_SIZE = 1024 ** 3
_LEN = struct.Struct('I')     # native, as ext/disco.c reads and writes them
_COUNT = struct.Struct('i')
_IO = 65536

proc = None   # the running program (a Program)
poll = None   # kept for Disco's name; the Program multiplexes its pipes with select


def _send_msg(text):
    from discolite.worker import protocol
    protocol.send('MSG', text)


def parse_message(msg):
    """Handle one stderr line of the program."""
    if isinstance(msg, bytes):
        msg = msg.decode('utf-8', 'replace')
    msg = msg.rstrip('\n')
    if msg.startswith('**<MSG>'):
        _send_msg(msg[len('**<MSG>'):])
    elif msg.startswith('**<ERR>'):
        raise DiscoError('external program failed: %s' % msg[len('**<ERR>'):])
    elif msg:
        sys.stderr.write(msg + '\n')


class Program(object):
    """A started external program; reads and writes never deadlock on a full pipe."""

    def __init__(self, path, mode, cwd):
        self.path = path
        self.popen = subprocess.Popen([path, mode], cwd=cwd, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
        self.stdin = self.popen.stdin.fileno()
        self.stdout = self.popen.stdout.fileno()
        self.stderr = self.popen.stderr.fileno()
        os.set_blocking(self.stdin, False)
        self.pending = bytearray()
        self.out = bytearray()
        self.errline = bytearray()
        self.out_eof = self.err_eof = self.in_closed = False

    def _stderr_data(self, data):
        self.errline += data
        while b'\n' in self.errline:
            line, _, rest = bytes(self.errline).partition(b'\n')
            self.errline = bytearray(rest)
            parse_message(line)

    def _dead(self, what):
        self.popen.wait()
        self._drain_stderr()
        raise DiscoError('external program %s %s (exit status %s)'
                         % (os.path.basename(self.path), what, self.popen.returncode))

    def _drain_stderr(self):
        while not self.err_eof:
            data = os.read(self.stderr, _IO)
            if not data:
                self.err_eof = True
            else:
                self._stderr_data(data)
        if self.errline:
            line, self.errline = bytes(self.errline), bytearray()
            parse_message(line)

    def _pump(self, done):
        while not done():
            rlist = [fd for fd, eof in ((self.stdout, self.out_eof), (self.stderr, self.err_eof))
                     if not eof]
            wlist = [self.stdin] if self.pending and not self.in_closed else []
            if not rlist and not wlist:
                self._dead('ended its output early')
            readable, writable, _ = select.select(rlist, wlist, [])
            if writable:
                try:
                    n = os.write(self.stdin, self.pending[:_IO])
                    del self.pending[:n]
                except BlockingIOError:
                    pass
                except BrokenPipeError:
                    self.in_closed = True
                    self._dead('stopped reading its input')
            for fd in readable:
                data = os.read(fd, _IO)
                if fd == self.stderr:
                    if data:
                        self._stderr_data(data)
                    else:
                        self.err_eof = True
                elif data:
                    self.out += data
                else:
                    self.out_eof = True

    def write(self, data):
        self.pending += data
        self._pump(lambda: not self.pending)

    def read(self, n):
        self._pump(lambda: len(self.out) >= n)
        data = bytes(self.out[:n])
        del self.out[:n]
        return data

    def close_input(self):
        self._pump(lambda: not self.pending)
        if not self.in_closed:
            self.in_closed = True
            self.popen.stdin.close()

    def close(self):
        """Close stdin, wait for the program and check how it ended."""
        try:
            self.close_input()
            self._pump(lambda: self.out_eof)
            self._drain_stderr()
        finally:
            if self.popen.poll() is None:
                try:
                    self.popen.wait(30)
                except subprocess.TimeoutExpired:
                    self.popen.kill()
                    self.popen.wait()
            for f in (self.popen.stdout, self.popen.stderr):
                f.close()
        if self.popen.returncode:
            raise DiscoError('external program %s failed (exit status %d)'
                             % (os.path.basename(self.path), self.popen.returncode))

    def kill(self):
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()


def _bytes(x):
    if isinstance(x, bytes):
        return x
    if isinstance(x, bytearray):
        return bytes(x)
    return str(x).encode('utf-8')


def pack_kv(e):
    """``<len k><k><len v><v>``; an entry that is not a pair has an empty key."""
    if isinstance(e, tuple) and len(e) == 2:
        k, v = e
    else:
        k, v = b'', e
    k, v = _bytes(k), _bytes(v)
    return _LEN.pack(len(k)) + k + _LEN.pack(len(v)) + v


def _read_item():
    n, = _LEN.unpack(proc.read(_LEN.size))
    if n > MAX_ITEM_SIZE:
        raise DiscoError('external program sent an item of %d bytes (the limit is %d)'
                         % (n, MAX_ITEM_SIZE))
    return proc.read(n)


def unpack_kv():
    """One ``(key, value)`` pair of the program's output."""
    k = _read_item()
    return k, _read_item()


def communicate(input_iter, oneshot=False):
    """Feed pairs to the program and yield its output pairs.  ``oneshot``: send all the
    input, close the program's stdin, then read its one answer (a reduce)."""
    if oneshot:
        for e in input_iter:
            proc.write(pack_kv(e))
        proc.close_input()
        n, = _COUNT.unpack(proc.read(_COUNT.size))
        for _ in range(n):
            yield unpack_kv()
        return
    for e in input_iter:
        proc.write(pack_kv(e))
        n, = _COUNT.unpack(proc.read(_COUNT.size))
        for _ in range(n):
            yield unpack_kv()


def map(e, params):
    return communicate([e])


def reduce(iter, params):
    return communicate(iter, oneshot=True)


def register_poll():
    """Kept for Disco's API: pipes are multiplexed with select by :class:`Program`."""
    return None


def _params_block(params):
    if isinstance(params, dict):
        return netstring.encode_netstring_fd(params)
    if isinstance(params, (bytes, str)):
        return netstring.encode_netstring_fd({'params': params}) if params else b'0\n'
    return b'0\n'


def prepare(params, mode, files=None, directory=None):
    """Start ``ext.<mode>/op`` (written from ``files`` into ``directory`` when given),
    send it ``params`` and return the job function (:func:`map` or :func:`reduce`)."""
    global proc
    directory = os.path.abspath(directory or '.')
    extdir = os.path.join(directory, 'ext.%s' % mode)
    if files is not None:
        os.makedirs(extdir, exist_ok=True)
        for name, data in files.items():
            name = os.path.basename(name)
            if name in ('', '.', '..'):
                raise DiscoError('invalid file name in an external program package: %r' % name)
            with open(os.path.join(extdir, name), 'wb') as f:
                f.write(data)
    op = os.path.join(extdir, 'op')
    if not os.path.isfile(op):
        raise DiscoError('external program %s is missing' % op)
    os.chmod(op, 0o755)
    close()
    proc = Program(op, mode, extdir)
    proc.write(_params_block(params))
    return {'map': map, 'reduce': reduce}[mode]


def close():
    """Stop the program (if one runs)."""
    global proc
    if proc is not None:
        p, proc = proc, None
        p.kill()
        for f in (p.popen.stdin, p.popen.stdout, p.popen.stderr):
            try:
                f.close()
            except (OSError, ValueError):
                pass


def finish():
    """Wait for the program to end cleanly; raises if it failed."""
    global proc
    if proc is not None:
        p, proc = proc, None
        p.close()


def package(files):
    """``{basename: bytes}`` of the files, the first (the program) stored as ``op``."""
    if not files:
        raise DiscoError('external() needs at least the program file')
    out = {}
    for path in files[1:]:
        with open(path, 'rb') as f:
            out[os.path.basename(path)] = f.read()
    with open(files[0], 'rb') as f:
        out['op'] = f.read()
    return out
