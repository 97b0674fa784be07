"""The master's web pages: static files from ``discolite/master/web/`` served at ``/``.

Plain HTML, CSS and JavaScript shipped in the package (no build step, nothing
fetched from elsewhere).  The pages read the master's JSON endpoints, the same
ones the Disco client uses.  Every page is sent with a Content-Security-Policy
that allows only this master as a source of scripts, styles, images and
requests, so neither a script injected through a job name nor a mistake in a
page can reach another host.
"""
import os
import re

from discolite.transport import Response

WEB_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'web')
TYPES = {'.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
         '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png',
         '.ico': 'image/x-icon', '.txt': 'text/plain; charset=utf-8'}
NAME = re.compile(r'^[a-z0-9][a-z0-9_.-]*$')
POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = {'Content-Security-Policy': POLICY, 'X-Content-Type-Options': 'nosniff',
           'Referrer-Policy': 'no-referrer', 'Cache-Control': 'no-cache'}

_cache = {}


def is_page(path):
    """True for the paths the pages live at: everything outside ``/disco/`` and ``/ddfs/``."""
    return not (path.startswith('/disco/') or path.startswith('/ddfs/') or
                path.startswith('/proxy/'))


def serve(path):
    """The file for ``path`` (``/`` is the status page), or a 404 page."""
    name = path.lstrip('/') or 'index.html'
    ext = os.path.splitext(name)[1]
    if not NAME.match(name) or ext not in TYPES:
        return _missing(path)
    data = _cache.get(name)
    if data is None:
        try:
            with open(os.path.join(WEB_DIR, name), 'rb') as f:
                data = f.read()
        except OSError:
            return _missing(path)
        _cache[name] = data
    return Response(200, data, TYPES[ext], HEADERS)


def _missing(path):
    return Response(404, b'Not found.', 'text/plain', HEADERS)
