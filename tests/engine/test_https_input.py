"""https:// inputs (issue 2 item 5): lines reach map as bytes, as for http://.

A self-signed certificate for 127.0.0.1 is trusted through SSL_CERT_FILE; the
master forks its pool after that is set, so its tasks trust it too.
"""
import http.server
import os
import shutil
import ssl
import subprocess

import pytest

from discolite import Disco, Job, result_iterator
from tests.helpers import serve_http

pytestmark = pytest.mark.skipif(not shutil.which('openssl'), reason='needs openssl')


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'hello tls\nsecond line\n'
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def https_base(tmp_path, monkeypatch):
    cert, key = str(tmp_path / 'cert.pem'), str(tmp_path / 'key.pem')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
                    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
                    '-keyout', key, '-out', cert], check=True, capture_output=True)
    monkeypatch.setenv('SSL_CERT_FILE', cert)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with serve_http(Handler, context) as url:
        yield url


def line_map(line, params):
    yield line, type(line).__name__


def test_https_input_gives_bytes_lines(https_base):
    from discolite.master import Master
    assert os.environ['SSL_CERT_FILE']
    with Master(DISCOLITE_WORKERS=1, DISCOLITE_START_METHOD='fork') as master:
        job = Job(master=Disco(master.url)).run(input=[https_base + '/data'], map=line_map)
        got = sorted(result_iterator(job.wait(poll_interval=0.05)))
    assert got == [(b'hello tls\n', 'bytes'), (b'second line\n', 'bytes')]
