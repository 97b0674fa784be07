"""Python 2/3 shims (``disco.compat``), the Python 3 side only.

Disco-era job code and tests import these names (``bytes_to_str``, ``BytesIO``,
``file``, ``http_server`` ...); they behave as in Disco 0.5.4 under Python 3.
Standard library only: job code imports this module inside tasks.
"""
import hashlib
import http.client as httplib
import http.server as http_server
import io
import itertools
import pickle
import shlex
import socketserver as socket_server
import sys
from urllib.parse import urlencode

__all__ = ['basestring', 'bytes_of_int', 'int_of_byte', 'str_to_bytes', 'bytes_to_str',
           'force_utf8', 'force_ascii', 'StringIO', 'BytesIO', 'file', 'pickle_loads',
           'pickle_dumps', 'pickle_load', 'pickle_dump', 'UnpicklingError', 'socket_server',
           'http_server', 'httplib', 'urlencode', 'zip_longest', 'sort_cmd', 'integer_types',
           'md5', 'persistent_hash', 'sys']

basestring = str
integer_types = int          # a single type, as in Disco under Python 3 (not a tuple)
StringIO = io.StringIO
BytesIO = io.BytesIO
file = io.FileIO             # local inputs open as FileIO objects (see schemes.scheme_file)
zip_longest = itertools.zip_longest
md5 = hashlib.md5
pickle_loads = pickle.loads
pickle_dumps = pickle.dumps
pickle_load = pickle.load
pickle_dump = pickle.dump
UnpicklingError = pickle.UnpicklingError


def bytes_of_int(i):
    """The one-byte string of an int 0..255."""
    return bytes([i])


def int_of_byte(i):
    """Indexing bytes already gives an int: returned unchanged."""
    return i


def str_to_bytes(s):
    """bytes pass through; anything else is ``.encode('utf-8')``-ed (an int raises AttributeError)."""
    if isinstance(s, bytes):
        return s
    return s.encode('utf-8')


def bytes_to_str(b):
    """str passes through; anything else is ``.decode('utf-8')``-ed."""
    if isinstance(b, str):
        return b
    return b.decode('utf-8')


def force_utf8(string):
    """Identity under Python 3."""
    return string


def force_ascii(string):
    """Identity under Python 3."""
    return string


def persistent_hash(input):
    """``int(md5(str_to_bytes(input)).hexdigest(), 16)``: the same in every process and
    on every machine (unlike ``hash``); only str and bytes can be hashed."""
    return int(md5(str_to_bytes(input)).hexdigest(), 16)


def sort_cmd(filename, sort_buffer_size):
    """``(command, True)``: a shell command sorting Disco's sort file in place.

    Records end in NUL and the key is the first field before byte 0xFF (see
    ``util.sort_reader``).  Disco wrote the separator as bash-only ``$'\\xff'``, which
    ``/bin/sh`` (dash) passes on literally; this command builds it with ``printf`` so it
    works under any POSIX shell.  ``True`` means "run through the shell".
    """
    name = shlex.quote(filename)
    return ("sort -z -t \"$(printf '\\377')\" -k 1,1 -T . -S %s -o %s %s"
            % (shlex.quote(str(sort_buffer_size)), name, name), True)
