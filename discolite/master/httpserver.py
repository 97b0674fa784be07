"""``discolite master``: serves the master's endpoint table (``endpoints.App``) over HTTP.

Every request becomes a :class:`discolite.transport.Request` handed to the very
same ``App.handle`` the in-process (local) transport calls, so both paths share
one implementation.  This module only adds what HTTP itself needs:

* request body limits (1 GiB for job packs, answered ``413 Job packet too large``;
  64 MiB for everything else), HEAD/GET/POST only (anything else is 405);
* refusal of paths with ``..`` or ``.`` segments or NUL bytes, also when
  percent-encoded (404 ``Not found.``, as the endpoint table answers unknown
  paths);
* data files (``GET /disco/<host>/...``, what result URLs point at) streamed
  from disk with ``Range: bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` support, so
  large results are never read into memory.  The path is resolved by the same
  ``Storage.resolve_data_path`` the endpoint table uses.

Robustness (issue 12; settings in ``discolite/settings.py``):

* a connection waiting for its next request is closed after
  ``DISCOLITE_SERVER_IDLE_TIMEOUT`` seconds, one whose request (headers or body)
  stalls for ``DISCOLITE_SERVER_READ_TIMEOUT`` seconds likewise; the request line
  and headers must also be complete within ``DISCOLITE_SERVER_READ_TIMEOUT``
  seconds of their first byte, else ``408`` (a client trickling header bytes
  would otherwise hold its connection slot forever);
* a malformed request line or header block (garbage, HTTP/0.9, HTTP/2.0, a
  header line without a colon or folded, over 100 header lines, a line over
  64 KiB, request line and headers over 128 KiB together) gets an HTTP/1.1
  status line, one line of ``text/plain`` saying why and ``Connection: close``
  (never the standard library's HTML page or a status-less answer), and the
  master reads what the client still sends for up to a second before closing,
  so that the answer is not lost to a connection reset (not after a 408: that
  would let a slow client keep its slot a second longer);
* at most ``DISCOLITE_SERVER_MAX_CONNECTIONS`` connections are served at once
  (one thread each): at the limit the longest-idle keep-alive connection is
  closed to make room, else the one whose request line and headers have been
  arriving longest if for over 3/4 of the read timeout (2 s at most; it gets
  ``408``), else the newcomer gets ``503`` (which clients retry); the listen
  backlog is 1024;
* at most ``DISCOLITE_SERVER_MAX_BODIES`` request bodies over 1 MiB are read at
  once (others get ``503``), job packs over 1 MiB are streamed to a file in
  the data directory, and DDFS blob uploads (``PUT /ddfs/<prefix>$<ts>``) reach the
  store as a :class:`BodyReader` that it copies, 1 MiB at a time, into the blob's
  temporary file: no body that size is ever held in memory;
* two ``Content-Length`` headers, one that is not a plain number, or one next to
  a ``Transfer-Encoding`` get ``400``.

It binds 127.0.0.1 unless ``--host`` says otherwise.
"""
import argparse
import http.client
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from discolite.master.endpoints import MAX_JOBPACK, strip_proxy
from discolite.transport import Request, Response

MAX_BODY = 64 << 20
CHUNK = 1 << 20
BIG_BODY = 1 << 20  # bodies above this count against max_bodies; job packs go to disk
MAX_LINE = 65536      # the request line, and each header line (as the standard library)
MAX_HEAD = 128 << 10  # request line and headers together (100 lines of 64 KiB: too much)
SERVER = 'discolite'

BUSY = b'Too many connections; retry later.'  # the answer at the connection limit
REASONS = {404: 'Object Not Found'}  # what a real Disco master (MochiWeb) says


class BadPath(Exception):
    def __init__(self, status, message):
        Exception.__init__(self, message)
        self.status = status


def clean_path(raw):
    """The percent-decoded request path; ``..``/``.`` segments and NUL bytes are refused with
    404 ``Not found.`` (what the endpoint table answers for any unknown path, so both
    transports agree), a path not starting with ``/`` with 400."""
    if not raw.startswith('/'):
        raise BadPath(400, 'Bad request path')
    path = unquote(raw, errors='replace') if '%' in raw else raw
    if '\0' in path or any(part in ('..', '.') for part in path.replace('\\', '/').split('/')):
        raise BadPath(404, 'Not found.')
    return path


def parse_range(header, size):
    """``(start, end)`` inclusive for one satisfiable byte range, else None (serve it all)."""
    if not header or not header.startswith('bytes=') or ',' in header:
        return None
    first, _, last = header[6:].strip().partition('-')
    try:
        if not first:  # bytes=-N: the last N bytes
            n = int(last)
            if n <= 0:
                return None
            return max(0, size - n), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start < 0 or start >= size or end < start:
        return None  # like a real Disco master: 200 and the whole file
    return start, min(end, size - 1)


class SlowHead(Exception):
    """The request line and headers did not arrive within the header deadline, or too slowly
    while the master needed the connection's slot."""


class HeadReader(object):
    """What the request line and headers are read from (``parse_request`` reads it in place
    of ``rfile``): every ``readline`` must end before one deadline, each socket read within
    ``read_timeout``, and the request line and headers together stay under 128 KiB.
    ``evict`` (from another thread) ends the reading with :class:`SlowHead`."""

    def __init__(self, rfile, sock, read_timeout):
        self.rfile = rfile
        self.sock = sock
        self.start = time.monotonic()
        self.deadline = self.start + read_timeout
        self.read_timeout = read_timeout
        self.size = 0
        self.evicted = False

    def expired(self):
        return SlowHead('Request line and headers not received within %g s'
                        % self.read_timeout)

    def evict(self):
        """Wake the reading thread (its next read sees end of file) and make it answer 408."""
        self.evicted = True
        try:
            self.sock.shutdown(socket.SHUT_RD)
        except OSError:
            pass

    def readline(self, limit=MAX_LINE + 1):
        """One line of at most ``limit`` bytes (a longer one is cut there); b'' or a line
        without its end when the client left."""
        line = b''
        while True:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise self.expired()
            self.sock.settimeout(min(self.read_timeout, left))
            try:
                data = self.rfile.peek(1)  # what is buffered, or one read from the socket
            except TimeoutError:
                raise self.expired()
            if not data:
                if self.evicted:
                    raise SlowHead('Request line and headers too slow; the connection was '
                                   'closed to make room for another')
                break
            room = limit - len(line)
            end = data.find(b'\n', 0, room)
            line += self.rfile.read(end + 1 if end >= 0 else min(len(data), room))
            if end >= 0 or len(line) >= limit:
                break
        self.size += len(line)
        if self.size > MAX_HEAD:
            raise http.client.HTTPException('request line and headers over %d bytes'
                                            % MAX_HEAD)
        return line


class Upload(object):
    """A request body streamed to a file (``path``, ``size`` bytes); the endpoint maps it."""

    def __init__(self, path, size):
        self.path = path
        self.size = size

    def __len__(self):
        return self.size

    def discard(self):
        try:
            os.unlink(self.path)
        except OSError:
            pass


class ShortBody(Exception):
    """The client sent less than its Content-Length (it hung up, or stalled past the read
    timeout).  Not an OSError, so the store does not word it as a disk error."""

    def __init__(self, status, message):
        Exception.__init__(self, message)
        self.status = status


class BodyReader(object):
    """A request body read from the connection only as the endpoint consumes it: the file-like
    body of a blob upload, which the store copies to disk in bounded chunks (the in-process
    transport hands it an open file the same way).  Each read waits at most the read
    timeout, and the whole body must come within the read timeout plus a second per 64 KiB.
    A body cut short raises :class:`ShortBody` and is remembered in ``short``, so the
    server answers it whatever the endpoint made of the exception."""

    def __init__(self, handler, length):
        self.handler = handler
        self.length = length
        self.left = length
        self.short = None
        self.slot = False  # holds one of the server's body_slots
        self.deadline = time.time() + handler.server.read_timeout + length / float(64 << 10)

    def __len__(self):
        return self.length

    def read(self, n=-1):
        if n is None or n < 0:
            return b''.join(iter(lambda: self.read(CHUNK), b''))
        if self.short is not None:
            raise self.short
        n = min(n, self.left, CHUNK)
        if n <= 0:
            return b''
        try:
            data = self.handler.rfile.read1(n)
        except (TimeoutError, OSError):
            data = None
        if not data or time.time() > self.deadline:
            self.handler.close_connection = True
            self.short = ShortBody(400, 'Request body shorter than its Content-Length.') \
                if data == b'' else ShortBody(408, 'Request body too slow; gave up.')
            raise self.short
        self.left -= len(data)
        return data

    def drain(self):
        """Read and drop what the endpoint left unread (a refused or failed upload), so the
        client, still sending, gets to read the answer."""
        try:
            while self.read(CHUNK):
                pass
        except ShortBody:
            pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    # The headers and the body go out in two writes: with Nagle's algorithm the body of
    # an answer on a kept-alive connection waits for the client's delayed ACK (40 ms).
    disable_nagle_algorithm = True
    linger = False  # read what the client still sends before closing (after an error answer)

    def handle_one_request(self):
        """As the base class, with the idle timeout while waiting for a request, then one
        deadline (the read timeout) for the whole request line and headers: a per-read
        timeout alone lets a client that sends a byte now and then hold its slot forever."""
        server = self.server
        try:
            self.connection.settimeout(server.idle_timeout)
            server.set_idle(self.connection, True)
            try:
                waiting = self.rfile.peek(1)
            finally:
                server.set_idle(self.connection, False)
            if not waiting:  # closed (by the client, or by the master to free its slot)
                self.close_connection = True
                return
            head = HeadReader(self.rfile, self.connection, server.read_timeout)
            server.set_reading(self.connection, head)
            try:
                self.raw_requestline = head.readline(MAX_LINE + 1)
                if len(self.raw_requestline) > MAX_LINE:
                    self.requestline = self.request_version = self.command = ''
                    self.send_error(414, 'Request line too long (over %d bytes)' % MAX_LINE)
                    return
                if not self.raw_requestline.endswith(b'\n'):
                    self.close_connection = True  # the client left mid-line
                    return
                rfile, self.rfile = self.rfile, head
                try:
                    if not self.parse_request():
                        return
                finally:
                    self.rfile = rfile
            except SlowHead as e:
                self.connection.settimeout(server.read_timeout)
                self.requestline = self.command = ''
                self.send_error(408, str(e))
                self.linger = False  # it would keep the slot of a client that trickles on
                return
            finally:
                server.set_reading(self.connection, None)
            self.connection.settimeout(server.read_timeout)
            method = getattr(self, 'do_' + self.command, None)
            if method is None:
                self._not_allowed()
                return
            method()
            self.wfile.flush()
        except (TimeoutError, ConnectionError, OSError):
            self.close_connection = True

    def parse_request(self):
        """The base class's, refusing what it would answer without a status line (HTTP/0.9)
        and header lines it would silently misread (no colon, folded)."""
        words = self.raw_requestline.split()
        if not words:
            self.requestline = self.command = ''
            self.send_error(400, 'Empty request line')
            return False
        if len(words) == 2:  # HTTP/0.9: its answer would have no status line
            self.requestline = str(self.raw_requestline, 'iso-8859-1').rstrip('\r\n')
            self.command = ''
            self.send_error(400, 'Bad request line (HTTP/0.9 is not supported)')
            return False
        if not BaseHTTPRequestHandler.parse_request(self):
            return False
        # a line without a colon ends the email parser's headers (those after it are lost);
        # a folded line continues the previous value with a line break in it
        if self.headers.defects or any('\n' in v or '\r' in v for v in self.headers.values()):
            self.send_error(400, 'Bad header line')
            return False
        return True

    def send_error(self, code, message=None, explain=None):
        """Every error the base class answers (request line, version, header limits), and
        ours from the parse path: an HTTP/1.1 status line, one line of text/plain, Connection:
        close (never the base class's HTML page, nor a status-less HTTP/0.9 answer)."""
        if getattr(self, 'request_version', None) not in ('HTTP/1.0', 'HTTP/1.1'):
            self.request_version = 'HTTP/1.1'
        if code == 431:  # the base class's message says little, its explanation says what
            message = 'Request header fields too large: %s' % explain
        elif message is None:
            message = self.responses.get(code, ('Error',))[0]
        text = ' '.join(str(message).split())[:300]  # one line, whatever the client sent
        self.log_error('code %d, message %s', code, text)
        self.close_connection = True
        self.linger = True
        self._error(code, text if text.endswith('.') else text + '.')

    def finish(self):
        BaseHTTPRequestHandler.finish(self)
        if self.linger:
            self._drain()

    def _drain(self):
        """After an error answer, read (for up to a second, 1 MiB) what the client still
        sends before closing: closing with unread bytes makes the kernel reset the
        connection, and the client may lose the answer."""
        sock = self.connection
        deadline = time.monotonic() + min(1.0, self.server.read_timeout)
        left = CHUNK
        try:
            sock.shutdown(socket.SHUT_WR)
            while left > 0:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    break
                sock.settimeout(wait)
                data = sock.recv(min(left, 65536))
                if not data:
                    break
                left -= len(data)
        except OSError:
            pass

    def version_string(self):
        return SERVER

    # set on the server: .master, .quiet
    def log_message(self, format, *args):
        if not getattr(self.server, 'quiet', True):
            BaseHTTPRequestHandler.log_message(self, format, *args)

    def do_GET(self):
        self._dispatch()

    def do_HEAD(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_PUT(self):  # DDFS only: blob uploads (the put port's role) and tag writes
        if not urlsplit(self.path).path.startswith('/ddfs/'):
            return self._not_allowed()
        self._dispatch()

    do_DELETE = do_PUT

    def _not_allowed(self):
        self.close_connection = True
        self._send(Response(405, b'Method not allowed.', 'text/plain',
                            {'Allow': 'GET, HEAD, POST, PUT, DELETE'
                             if urlsplit(self.path).path.startswith('/ddfs/')
                             else 'GET, HEAD, POST'}))

    do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _not_allowed

    # ------------------------------------------------------------------ plumbing

    def _send(self, response, stream=None, length=None):
        status = response.status
        self.send_response(status, REASONS.get(status))
        headers = dict(response.headers)
        headers.pop('Content-Length', None)
        for key, value in headers.items():
            self.send_header(key, str(value))
        size = len(response.body) if length is None else length
        self.send_header('Content-Length', str(size))
        if self.close_connection:
            self.send_header('Connection', 'close')
        self.end_headers()
        if self.command == 'HEAD':
            return
        if stream is None:
            self.wfile.write(response.body)
            return
        left = size
        while left > 0:
            data = stream.read(min(CHUNK, left))
            if not data:
                break
            self.wfile.write(data)
            left -= len(data)

    def _error(self, status, message):
        self._send(Response(status, message.encode('utf-8'), 'text/plain'))

    def _refuse(self, status, message):
        self.close_connection = True  # an unread body must not be parsed as a request
        self._error(status, message)
        return False

    def _read_body(self, path):
        """The body: None (none), bytes, an :class:`Upload` (a big job pack), a
        :class:`BodyReader` (a blob upload, read as it is stored), or False when an answer
        has been sent already."""
        lengths = self.headers.get_all('Content-Length') or []
        encodings = self.headers.get_all('Transfer-Encoding') or []
        if len(lengths) > 1:
            return self._refuse(400, 'Duplicate Content-Length.')
        if encodings:
            if lengths:
                return self._refuse(400, 'Content-Length with Transfer-Encoding.')
            return self._refuse(411, 'Length required.')
        raw = lengths[0].strip() if lengths else ''
        if raw and not (raw.isascii() and raw.isdigit()):
            return self._refuse(400, 'Bad Content-Length.')
        length = int(raw) if raw else 0
        if self.command not in ('POST', 'PUT'):
            if length:
                return self._refuse(400, 'Unexpected request body.')
            return None
        pack = path.startswith('/disco/job/')
        blob = self.command == 'PUT' and '/' not in path[len('/ddfs/'):]
        job = pack or blob
        if length > (MAX_JOBPACK if job else MAX_BODY):
            return self._refuse(413, 'Job packet too large' if job else 'Request body too large')
        if length <= BIG_BODY and not (blob and length):
            return self._read_exactly(length, None)
        server = self.server
        if length > BIG_BODY and \
                not server.body_slots.acquire(timeout=server.read_timeout):
            return self._refuse(503, 'Too many large request bodies at once; retry later.')
        if blob:  # every upload streams, so a short one is answered alike whatever its size
            body = BodyReader(self, length)
            body.slot = length > BIG_BODY  # released once the upload is answered
            return body
        try:
            if not pack:
                return self._read_exactly(length, None)
            directory = os.path.join(server.master.storage.root, 'tmp')
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix='upload-', dir=directory)
            with os.fdopen(fd, 'wb') as out:
                ok = self._read_exactly(length, out)
            if ok is False:
                os.unlink(tmp)
                return False
            return Upload(tmp, length)
        except OSError as e:  # e.g. no room for the upload
            return self._refuse(503, 'Cannot store the request body: %s' % e.strerror)
        finally:
            server.body_slots.release()

    def _read_exactly(self, length, out):
        """Read ``length`` bytes (into ``out``, else returned); False if the client gave up
        or is too slow (as :class:`BodyReader` reads)."""
        body = BodyReader(self, length)
        chunks = []
        try:
            while True:
                data = body.read(CHUNK)
                if not data:
                    break
                if out is None:
                    chunks.append(data)
                else:
                    out.write(data)
        except ShortBody:
            return False
        return b''.join(chunks) if out is None else True

    def _dispatch(self):
        master = self.server.master
        parts = urlsplit(self.path)
        try:
            path = clean_path(parts.path)
        except BadPath as e:
            self.close_connection = True
            return self._error(e.status, str(e))
        body = self._read_body(path)
        if body is False:
            return
        if self.command in ('GET', 'HEAD') and self._data_file(master, path):
            return
        # the endpoint table gets the path as sent, exactly as through the local transport
        url = parts.path + ('?' + parts.query if parts.query else '')
        headers = {k: v for k, v in self.headers.items()}
        try:
            response = master.app.handle(Request(self.command, url, body, headers))
        except Exception as e:  # App answers its own errors; this is a last resort
            response = Response(500, '"Internal server error: %s"' % type(e).__name__)
        finally:
            if isinstance(body, Upload):
                body.discard()
            elif isinstance(body, BodyReader):
                body.drain()
                if body.slot:
                    self.server.body_slots.release()
        if isinstance(body, BodyReader) and body.short is not None:
            # whatever the endpoint made of it: the store removed its temporary file
            response = Response(body.short.status, str(body.short).encode(), 'text/plain')
        self._send(response)

    def _data_file(self, master, path):
        """Stream ``/disco/<host>/...`` data files from disk; False to let App answer."""
        p = strip_proxy(path)
        if p.startswith('/ddfs/vol'):  # DDFS blobs and tag versions
            target = master.ddfs.resolve(p[len('/ddfs/'):])
        elif not p.startswith('/disco/') or p.startswith('/disco/ctrl/') or \
                p.startswith('/disco/job/') or p == '/disco/version':
            return False
        else:
            target = master.storage.resolve_data_path(p[len('/disco/'):])
        if target is None:
            return False  # App answers 404 Not found.
        try:
            f = open(target, 'rb')
        except OSError:
            return False
        with f:
            size = os.fstat(f.fileno()).st_size
            rng = parse_range(self.headers.get('Range'), size)
            if rng is None:
                self._send(Response(200, b'', 'application/octet-stream',
                                    {'Accept-Ranges': 'bytes'}), f, size)
            else:
                start, end = rng
                f.seek(start)
                self._send(Response(206, b'', 'application/octet-stream',
                                    {'Accept-Ranges': 'bytes',
                                     'Content-Range': 'bytes %d-%d/%d' % (start, end, size)}),
                           f, end - start + 1)
        return True


class MasterHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 1024
    idle_timeout = 15.0
    read_timeout = 30.0
    max_connections = 512
    max_bodies = 4

    def __init__(self, address, master=None, quiet=True):
        host = address[0]
        if ':' in host:
            self.address_family = socket.AF_INET6
        ThreadingHTTPServer.__init__(self, address, Handler)
        self.quiet = quiet
        self.conn_lock = threading.Lock()
        self.connections = 0
        self.idle = {}                      # socket -> since when it waits for a request
        self.reading = {}                   # socket -> HeadReader of its request line, headers
        self.body_slots = threading.BoundedSemaphore(self.max_bodies)
        self.master = None
        if master is not None:
            self.set_master(master)

    def set_master(self, master):
        """Serve ``master`` with the limits of its settings."""
        config = getattr(master, 'config', None) or {}
        self.idle_timeout = config.get('DISCOLITE_SERVER_IDLE_TIMEOUT', self.idle_timeout)
        self.read_timeout = config.get('DISCOLITE_SERVER_READ_TIMEOUT', self.read_timeout)
        self.max_connections = config.get('DISCOLITE_SERVER_MAX_CONNECTIONS',
                                          self.max_connections)
        self.max_bodies = config.get('DISCOLITE_SERVER_MAX_BODIES', self.max_bodies)
        self.body_slots = threading.BoundedSemaphore(self.max_bodies)
        self.master = master

    def set_reading(self, sock, head):
        with self.conn_lock:
            if head is not None:
                self.reading[sock] = head
            else:
                self.reading.pop(sock, None)

    def set_idle(self, sock, idle):
        with self.conn_lock:
            if idle:
                self.idle[sock] = time.time()
            else:
                self.idle.pop(sock, None)

    def process_request(self, request, client_address):
        with self.conn_lock:
            if self.connections >= self.max_connections:
                if not self.idle:
                    busy = not self._evict_slow_head()
                else:
                    busy = False
                    victim = min(self.idle, key=self.idle.get)
                    del self.idle[victim]
                    try:  # its handler sees end of file and ends: its slot frees
                        victim.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            else:
                busy = False
            if not busy:
                self.connections += 1
        if busy:
            try:
                request.setblocking(False)
                request.send(b'HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n'
                             b'Content-Length: %d\r\nConnection: close\r\n\r\n%s'
                             % (len(BUSY), BUSY))
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            ThreadingHTTPServer.process_request(self, request, client_address)
        except Exception:  # no thread (out of memory, thread limit): drop the connection
            self._gone(request)
            self.shutdown_request(request)

    def _evict_slow_head(self):
        """At the limit with no idle connection: close the one whose request line and headers
        have been arriving longest, if for over 3/4 of the read timeout (2 s at most), so
        clients trickling header bytes cannot keep newcomers out until their deadline."""
        if not self.reading:
            return False
        victim = min(self.reading, key=lambda sock: self.reading[sock].start)
        if time.monotonic() - self.reading[victim].start <= min(2.0, 0.75 * self.read_timeout):
            return False
        self.reading.pop(victim).evict()
        return True

    def process_request_thread(self, request, client_address):
        try:
            ThreadingHTTPServer.process_request_thread(self, request, client_address)
        finally:
            self._gone(request)

    def _gone(self, request):
        with self.conn_lock:
            self.connections -= 1
            self.idle.pop(request, None)
            self.reading.pop(request, None)

    def handle_error(self, request, client_address):
        # a client that hangs up mid-response is not the master's problem
        exc = sys.exc_info()[1]
        if isinstance(exc, (BrokenPipeError, ConnectionResetError)):
            return
        ThreadingHTTPServer.handle_error(self, request, client_address)


def serve(master, host='127.0.0.1', port=0, quiet=True):
    """Serve ``master`` in a background thread; returns ``(server, url)`` (tests, embedding)."""
    server = MasterHTTPServer((host, port), master, quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.2},
                              name='discolite-http', daemon=True)
    thread.start()
    return server, 'http://%s:%d' % (_urlhost(host), server.server_address[1])


def _urlhost(host):
    return '[%s]' % host if ':' in host else host


def parse_args(argv):
    parser = argparse.ArgumentParser(prog='discolite master',
                                     description='Serve an in-process discolite master over '
                                                 'HTTP (Disco 0.5.4 master API).')
    parser.add_argument('--host', default='127.0.0.1',
                        help='address to bind (default 127.0.0.1; use 0.0.0.0 deliberately)')
    parser.add_argument('--port', type=int, default=None,
                        help='port (default DISCO_PORT, 8989; 0 picks a free port)')
    parser.add_argument('--data-dir', default=None,
                        help='data directory (default DISCOLITE_DATA, or a temporary directory '
                             'removed at exit)')
    parser.add_argument('--workers', type=int, default=None,
                        help='worker processes (default DISCOLITE_WORKERS, the CPU count)')
    parser.add_argument('--nodes', type=int, default=None,
                        help='emulated nodes, each with --workers slots (default '
                             'DISCOLITE_NODES, 1)')
    parser.add_argument('--external-workers', action='store_true',
                        help="run discolite's own job packs through the worker protocol "
                             "(as a Disco node does) instead of the in-process pool")
    parser.add_argument('--verbose', action='store_true', help='log every request to stderr')
    args = parser.parse_args(argv)
    if args.port is not None and not 0 <= args.port <= 65535:
        parser.error('--port must be between 0 and 65535')
    if args.workers is not None and args.workers < 1:
        parser.error('--workers must be at least 1')
    if args.nodes is not None and not 1 <= args.nodes <= 1000:
        parser.error('--nodes must be between 1 and 1000')
    return args


def _job_printer(stream=None):
    """``master.on_job``: one line per job submitted and per job ended, printed by a thread
    (the scheduler calls it under its lock, and a slow terminal must not stall it)."""
    import queue
    import time
    lines = queue.Queue()

    def printer():
        while True:
            line = lines.get()
            try:
                out = stream or sys.stdout
                out.write(line + '\n')
                out.flush()
            except Exception:
                pass

    threading.Thread(target=printer, name='discolite-job-lines', daemon=True).start()

    def on_job(job):
        stamp = time.strftime('%H:%M:%S')
        if job.status == 'active':
            lines.put('%s submitted %s (%d inputs)' % (stamp, job.name, len(job.inputs)))
        elif job.status == 'ready':
            lines.put('%s ready     %s in %.2fs' % (stamp, job.name, job.finished - job.start))
        else:
            why = job.failure()
            lines.put('%s dead      %s after %.2fs%s' % (stamp, job.name, job.finished - job.start,
                                                         ': ' + why if why else ' (killed)'))
    return on_job


def main(argv=None):
    from discolite.error import DiscoError
    from discolite.master import Master
    from discolite.settings import DiscoSettings
    args = parse_args(sys.argv[1:] if argv is None else argv)
    settings = DiscoSettings()
    port = args.port
    if port is None:
        try:
            port = int(settings['DISCO_PORT'])
        except ValueError:
            print('discolite master: invalid DISCO_PORT=%r' % settings['DISCO_PORT'],
                  file=sys.stderr)
            return 2
    try:
        server = MasterHTTPServer((args.host, port), None, quiet=not args.verbose)
    except OSError as e:
        print('discolite master: cannot listen on %s:%s: %s' % (args.host, port, e),
              file=sys.stderr)
        return 1
    port = server.server_address[1]
    # tasks and result URLs (disco://host/...) resolve through DISCO_PORT: make it ours
    os.environ['DISCO_PORT'] = str(port)
    overrides = {'DISCO_PORT': str(port)}
    if args.data_dir:
        overrides['DISCOLITE_DATA'] = os.path.abspath(args.data_dir)
    if args.workers:
        overrides['DISCOLITE_WORKERS'] = str(args.workers)
    if args.nodes:
        overrides['DISCOLITE_NODES'] = str(args.nodes)
    if args.external_workers:
        overrides['DISCOLITE_EXTERNAL_WORKERS'] = 'True'
    try:
        if args.data_dir:
            os.makedirs(args.data_dir, exist_ok=True)
        master = Master(**overrides)
    except (DiscoError, OSError) as e:  # e.g. a --data-dir that is a file or not writable
        server.server_close()
        print('discolite master: %s' % e, file=sys.stderr)
        return 2
    server.set_master(master)

    stopping = threading.Event()

    def stop(signum, frame):
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    url = 'http://%s:%d' % (_urlhost(args.host), port)
    finished, interrupted, cleaned = master.reloaded
    old_jobs = '' if not (finished or interrupted) else \
        '; reloaded %d finished job(s) and %d that were active, now dead' % (finished,
                                                                          interrupted)
    print('discolite master at %s (data: %s%s)' % (url, master.storage.root, old_jobs),
          flush=True)
    page_host = '127.0.0.1' if args.host in ('0.0.0.0', '::', '') else _urlhost(args.host)
    print('pages: http://%s:%d/  (`discolite ui JOB` opens a job\'s dataflow view)'
          % (page_host, port), flush=True)
    print('Point clients at it (result URLs are read at DISCO_PORT):\n'
          '  export DISCO_MASTER=%s\n  export DISCO_PORT=%d' % (url, port), flush=True)
    master.on_job = _job_printer()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        master.close()
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return 0


if __name__ == '__main__':
    sys.exit(main())
