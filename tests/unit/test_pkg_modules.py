"""Disco's smaller modules: fileutils additions, modutil by name, schemes package
functions and scheme modules, eventmonitor, sysutil, func, job and worker names."""
import io
import json
import os
import subprocess
import sys
import zipfile

import pytest

from discolite import fileutils
from discolite.error import DiscoError
from discolite.worker.task_io import chain_reader


# -- fileutils

def test_disco_output_stream_factory():
    buf = io.BytesIO()
    out = fileutils.DiscoOutputStream(buf)
    out.add('k', 1)
    out.close()
    assert buf.getvalue()[0] == 128 + 1           # v1 hunk header (version -1 = latest)
    assert list(chain_reader(io.BytesIO(buf.getvalue()), None, 'u')) == [('k', 1)]
    buf = io.BytesIO()
    out = fileutils.DiscoOutputStream(buf, version=0)
    out.add('k', 1)
    assert buf.getvalue() == b'1 k 1 1\n'
    assert fileutils.DiscoOutputStream_v1 is not None and fileutils.MB == 1024 ** 2


def test_disco_output_is_atomic(tmp_path):
    path = str(tmp_path / 'out')
    out = fileutils.DiscoOutput(path)
    out.add(b'a', b'b')
    assert not os.path.exists(path)
    out.close()
    with open(path, 'rb') as f:
        assert list(chain_reader(f, None, path)) == [(b'a', b'b')]


def test_atomic_file_size_and_chunker_names(tmp_path):
    f = fileutils.AtomicFile(str(tmp_path / 'x'))
    f.write(b'1234')
    f.close()
    assert f.size() == 4
    c = fileutils.Chunker()
    out = c.makeout()
    out.add('a', 'b')
    assert list(chain_reader(io.BytesIO(c.dumpout(out)), None, 'u')) == [('a', 'b')]


def test_zip_file_and_paths(tmp_path):
    (tmp_path / 'd').mkdir()
    (tmp_path / 'd' / 'a.py').write_text('A = 1\n')
    (tmp_path / 'd' / 'b.pyc').write_bytes(b'x')
    z = fileutils.DiscoZipFile()
    z.writepath(str(tmp_path / 'd'), exclude=('.pyc',))
    z.writemodule('discolite.compat', 'compat.py')
    z.writesource(fileutils.files)
    data = z.dumps()
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert str(tmp_path / 'd' / 'a.py').lstrip('/') in names
    assert not any(n.endswith('.pyc') for n in names)
    assert 'compat.py' in names and any(n.endswith('discolite/fileutils.py') for n in names)
    assert sorted(fileutils.files(str(tmp_path / 'd'))) == \
        sorted(str(tmp_path / 'd' / n) for n in ('a.py', 'b.pyc'))
    os.symlink(str(tmp_path / 'd'), str(tmp_path / 'link'))
    assert fileutils.get_valid_path(str(tmp_path / 'link')) == os.path.realpath(str(tmp_path / 'd'))


def test_non_blocking_input_and_wait():
    r, w = os.pipe()
    try:
        os.write(w, b'hello\nworld')
        nbi = fileutils.NonBlockingInput(r, timeout=2)
        spent, line = nbi.t_read_until(b'\n')
        assert line == b'hello\n' and spent >= 0
        assert nbi.t_read(5) == b'world'
        nbi.timeout = 0.2
        with pytest.raises(IOError):
            nbi.t_read(1)
        os.close(w)
        w = None
        with pytest.raises(IOError):
            fileutils.NonBlockingInput(r, timeout=2).t_read(1)
    finally:
        os.close(r)
        if w is not None:
            os.close(w)
    assert fileutils.Wait().retry_after == 1 and fileutils.Wait(5).retry_after == 5
    with pytest.raises(IOError):
        fileutils.raise_if_empty(b'')


# -- modutil

def uses_unimported():
    return math.ceil(zipfile.ZIP_DEFLATED) + os.path.sep.count('/')  # noqa: F821


def uses_task():
    return Task.host, nop_map  # noqa: F821 (injected by the worker)


def uses_missing():
    return no_such_module_here_xyz.attr  # noqa: F821


def test_modutil_finds_modules_by_name_on_modern_bytecode():
    from discolite.worker.classic import modutil
    assert sorted(modutil.scanner(uses_unimported.__code__)) == ['math', 'os', 'zipfile']
    assert sorted(modutil.find_modules([uses_unimported])) == ['math', 'os', 'zipfile']
    assert modutil.find_modules([uses_task]) == []
    with pytest.raises(modutil.ModUtilImportError):
        modutil.find_modules([uses_missing])
    assert modutil.find_modules([lambda: [x.real for x in (1, 2)]]) == []


def test_modutil_locate_and_user_paths(tmp_path, monkeypatch):
    from discolite.worker import modutil
    (tmp_path / 'pkgmod_a.py').write_text('import pkgmod_b\n')
    (tmp_path / 'pkgmod_b.py').write_text('X = 1\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv('PYTHONPATH', str(tmp_path))
    assert modutil.user_paths() == [str(tmp_path), '']
    assert modutil.locate_modules(['pkgmod_a']) == [
        ('pkgmod_a', str(tmp_path / 'pkgmod_a.py')), ('pkgmod_b', str(tmp_path / 'pkgmod_b.py'))]
    assert modutil.locate_modules(['pkgmod_a', 'json'], recurse=False, include_sys=True) == [
        ('pkgmod_a', str(tmp_path / 'pkgmod_a.py')), ('json', None)]


# -- schemes

def test_scheme_package_functions(tmp_path):
    from discolite import schemes
    from discolite.error import DataError
    from discolite.worker.task_io import DiscoOutputStream
    assert schemes.import_scheme('raw://x').__name__ == 'discolite.schemes.scheme_raw'
    assert schemes.import_scheme('/a/path').__name__ == 'discolite.schemes.scheme_file'
    with pytest.raises(DataError):
        schemes.import_scheme('nosuch://x')
    fd, size, url = schemes.input_stream(None, None, 'url://some/thing', None)
    assert list(fd) == ['url://some/thing'] and size == len(url)
    path = str(tmp_path / 'recs')
    with open(path, 'wb') as f:
        out = DiscoOutputStream(f)
        out.add('k', 'v')
        out.close()
    assert list(schemes.open_chain(path)) == [('k', 'v')]
    assert isinstance(schemes.open('file://' + path), io.FileIO)


@pytest.mark.parametrize('module, name, needs', [
    ('scheme_s3', 'input_stream', 'boto'), ('scheme_redis', 'redis_output_stream', 'redis'),
    ('scheme_redis', 'RedisStream', 'redis'), ('scheme_discodb', 'Open', 'discodb'),
    ('scheme_discodb', 'discodb_stream', 'discodb')])
def test_schemes_that_need_outside_services_say_so(module, name, needs):
    import importlib
    mod = importlib.import_module('discolite.schemes.' + module)
    with pytest.raises(DiscoError) as e:
        getattr(mod, name)(None, None, 'x://y', None)
    assert needs in str(e.value)


def test_scheme_hdfs_reads_through_webhdfs():
    import http.server
    from discolite.schemes import scheme_hdfs
    from tests.helpers import serve_http
    seen = []

    class WebHDFS(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            seen.append(self.path)
            if self.path.startswith('/webhdfs/v1/'):
                self.send_response(307)
                self.send_header('Location', '/datanode?x=1')
                self.send_header('Content-Length', '0')
                self.end_headers()
                return
            body = b'one\ntwo\n'
            self.send_response(200)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serve_http(WebHDFS) as base:
        netloc = base.split('://')[1]
        fd, size, url = scheme_hdfs.input_stream(None, None, 'hdfs://%s/user/x/f' % netloc, None)
        assert list(fd) == [b'one\n', b'two\n'] and size == 8
    assert seen[0] == '/webhdfs/v1/user/x/f?op=OPEN'
    with pytest.raises(Exception) as e:
        scheme_hdfs.open('hdfs://127.0.0.1:1/f')
    assert 'WebHDFS' in str(e.value)


# -- eventmonitor, sysutil, func, job, classic worker names

def test_event_writers():
    from discolite import eventmonitor as em
    out = io.StringIO()
    assert type(em.OutputStream(None, out).writer) is em.EventWriter
    s = em.OutputStream('json', out)
    s.write(timestamp='t', host='h', message='m')
    assert json.loads(out.getvalue()) == ['t', 'h', 'm']
    out = io.StringIO()
    s = em.OutputStream('yes', out)   # not a terminal: plain text
    assert not s.hascolor
    s.write(timestamp='t', host='h', message='m')
    s.write(status='Status: x')
    assert out.getvalue() == 't h m\nStatus: x\n'
    out = io.StringIO()
    w = em.ANSIEventWriter(out)
    w.write(timestamp='t', host='h', message='ERROR: x')
    assert '\033[31mERROR: x\033[0m' in out.getvalue()
    assert (em.RED, em.WHITE) == (1, 7)


def test_event_monitor_follows_a_job(disco):
    from discolite import Job, eventmonitor
    job = Job(master=disco).run(input=['raw://a'], map=lambda e, params: [(e, 1)])
    job.wait()
    mon = eventmonitor.EventMonitor(job, format='nocolor', poll_interval=0)
    out = io.StringIO()
    mon.output = eventmonitor.OutputStream('nocolor', out)
    mon.refresh()
    text = out.getvalue()
    assert 'READY' in text and 'Status: [map' in text and '1 done' in text
    assert mon.isenabled and not eventmonitor.EventMonitor(job, format='').isenabled


def test_sysutil_memory_limit():
    from discolite import sysutil
    assert sysutil.available_memory() > 1024 ** 2
    sysutil.set_mem_limit('')
    with pytest.raises(ValueError):
        sysutil.set_mem_limit('lots')
    code = ('import resource; from discolite import sysutil; sysutil.set_mem_limit(%d); '
            'print(resource.getrlimit(resource.RLIMIT_AS)[0])' % (2 * 1024 ** 3))
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == 2 * 1024 ** 3


def test_old_names():
    from discolite import func
    from discolite.job import JOBPACK_VERSION1, JOBPACK_VERSION2
    from discolite.worker.classic import worker
    from discolite.worker.classic.func import nop_map
    assert func.nop_map is nop_map and func.chain_reader is chain_reader
    assert (JOBPACK_VERSION1, JOBPACK_VERSION2) == (1, 2)
    for name in ('get', 'put', 'this_name', 'this_master', 'this_host', 'this_partition',
                 'this_inputs', 'nop_map', 'chain_reader', 'bytes_to_str', 'external', 'Params'):
        assert hasattr(worker, name), name
    assert 'map' not in vars(worker)   # func.map (a documentation stub) does not hide the builtin


def explicit_imports_map(e, params):
    from disco.worker.classic.worker import this_name, this_partition, put, get
    put('seen', b'yes')
    yield this_name(), (this_partition(), get('seen'))


def test_classic_worker_module_functions_in_a_job(disco):
    from discolite import Job, result_iterator
    job = Job(master=disco).run(input=['raw://a'], map=explicit_imports_map)
    assert list(result_iterator(job.wait())) == [(job.name, (0, b'yes'))]
