"""Packing the same job twice gives the same bytes, built from caches; a change makes a new pack.

``Job.pack`` keeps, across submissions, the job home zip of the same files (by inode, size,
mtime and ctime), the marshalled code of each function, the scanned names of each code
object, each worker's path in the job home and the pickled settings.  A cached pack must be
byte for byte the pack built from nothing, and anything a pack is made of that changes
(a function, its defaults, a module global, a shipped file, an environment setting) must
show in the next pack.
"""
import importlib
import io
import os
import sys
import textwrap
import time
import zipfile

import pytest

from discolite import Disco, Job
from discolite.job import JobPack

MASTER = 'http://127.0.0.1:1'  # packing never contacts the master


def clear_caches():
    from discolite import dPickle, settings, worker
    from discolite.worker import modutil
    worker._JOBHOMES.clear()
    worker._BINS.clear()
    worker._PLAIN_LOOKUP.clear()
    dPickle._MARSHALLED.clear()
    modutil._SCANNED.clear()
    settings._REDUCED = None


def pack(job_class=Job, **jobargs):
    return job_class(master=Disco(MASTER)).pack(**jobargs).dumps()


def fields(data):
    f = io.BytesIO(data)
    loaded = JobPack.load(f)
    return loaded.jobdict, loaded.jobenvs, loaded.jobhome, loaded.jobdata


def zip_entry(jobhome, name):
    with zipfile.ZipFile(io.BytesIO(jobhome)) as z:
        return z.read(name)


def ident_map(line, params):
    yield line, 1


@pytest.fixture
def usermod(tmp_path, monkeypatch):
    """A user module ``packcache_mod`` (a Job subclass, job functions) on sys.path."""
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / 'packcache_mod.py'

    def write(body):
        path.write_text(textwrap.dedent(body))
        st = os.stat(str(path))  # a new mtime even on a coarse clock
        os.utime(str(path), ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))
        sys.modules.pop('packcache_mod', None)
        importlib.invalidate_caches()
        return importlib.import_module('packcache_mod')
    yield write
    sys.modules.pop('packcache_mod', None)


MOD = '''
    from discolite import Job

    class ModJob(Job):
        partitions = 2

    def mod_map(line, params, n=%d):
        yield line, n
'''


def test_same_job_same_bytes_as_built_from_nothing(usermod, tmp_path):
    mod = usermod(MOD % 1)
    required = tmp_path / 'data.txt'
    required.write_bytes(b'one')
    args = dict(input=['raw://a', 'raw://b'], map=mod.mod_map, required_files=[str(required)])
    first = pack(mod.ModJob, **args)
    assert pack(mod.ModJob, **args) == first
    clear_caches()
    assert pack(mod.ModJob, **args) == first  # the caches change nothing in the bytes
    jobdict, _envs, jobhome, _data = fields(first)
    assert jobdict['nr_reduces'] == 2
    assert zip_entry(jobhome, 'lib/data.txt') == b'one'
    assert b'class ModJob' in zip_entry(jobhome, str(tmp_path / 'packcache_mod.py').lstrip('/'))
    # the plain case (the library zip alone) too
    plain = pack(input=['raw://a'], map=ident_map)
    clear_caches()
    assert pack(input=['raw://a'], map=ident_map) == plain


def test_a_changed_required_file_makes_a_new_pack(tmp_path):
    required = tmp_path / 'data.txt'
    required.write_bytes(b'one')
    args = dict(input=['raw://a'], map=ident_map, required_files=[str(required)])
    first = pack(**args)
    required.write_bytes(b'two')
    st = os.stat(str(required))
    os.utime(str(required), ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))
    second = pack(**args)
    assert zip_entry(fields(second)[2], 'lib/data.txt') == b'two'
    clear_caches()
    assert pack(**args) == second
    # the same size and mtime, new content: the ctime (and, here, a new inode) tells
    os.unlink(str(required))
    required.write_bytes(b'six')
    os.utime(str(required), ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))
    assert zip_entry(fields(pack(**args))[2], 'lib/data.txt') == b'six'
    # required files given as bytes
    assert zip_entry(fields(pack(input=['raw://a'], map=ident_map,
                                 required_files={'x.txt': b'A'}))[2], 'x.txt') == b'A'
    assert zip_entry(fields(pack(input=['raw://a'], map=ident_map,
                                 required_files={'x.txt': b'B'}))[2], 'x.txt') == b'B'


def test_a_changed_module_makes_a_new_pack(usermod, tmp_path):
    mod = usermod(MOD % 1)
    first = pack(mod.ModJob, input=['raw://a'], map=mod.mod_map)
    mod = usermod(MOD.replace('partitions = 2', 'partitions = 3') % 7)
    second = pack(mod.ModJob, input=['raw://a'], map=mod.mod_map)
    assert second != first
    jobdict, _envs, jobhome, jobdata = fields(second)
    assert jobdict['nr_reduces'] == 3
    assert b'partitions = 3' in zip_entry(jobhome, str(tmp_path / 'packcache_mod.py').lstrip('/'))
    from discolite import dPickle
    _job, jobargs = dPickle.loads(jobdata)
    assert list(jobargs['map']('x', None)) == [('x', 7)]  # the new function's defaults


def test_a_changed_function_or_default_makes_new_jobdata():
    def make(body, default):
        scope = {}
        exec(textwrap.dedent('''
            def fmap(line, params, n=%r):
                %s
        ''' % (default, body)), scope)
        scope['fmap'].__module__ = __name__
        return scope['fmap']
    from discolite import dPickle
    outputs = []
    for body, default in (('yield line, n', 1), ('yield line, n', 1), ('yield n, line', 1),
                          ('yield n, line', 2)):
        jobdata = fields(pack(input=['raw://a'], map=make(body, default)))[3]
        _job, jobargs = dPickle.loads(jobdata)
        outputs.append(list(jobargs['map']('x', None)))
    assert outputs == [[('x', 1)], [('x', 1)], [(1, 'x')], [(2, 'x')]]
    # a function whose defaults change in place
    f = make('yield line, n', 5)
    a = fields(pack(input=['raw://a'], map=f))[3]
    f.__defaults__ = (6,)
    b = fields(pack(input=['raw://a'], map=f))[3]
    assert a != b and list(dPickle.loads(b)[1]['map']('x', None)) == [('x', 6)]


def test_a_rebound_module_global_changes_required_modules(usermod):
    mod = usermod('''
        import json as codec

        def uses_codec(line, params):
            yield line, codec.dumps(line)
    ''')
    first = fields(pack(input=['raw://a'], map=mod.uses_codec))[3]
    import pickle
    mod.codec = pickle
    second = fields(pack(input=['raw://a'], map=mod.uses_codec))[3]
    from discolite import dPickle
    assert dPickle.loads(first)[1]['required_modules'] == ['json']
    assert dPickle.loads(second)[1]['required_modules'] == ['pickle']


def test_a_changed_environment_setting_makes_new_jobdata(monkeypatch):
    from discolite import dPickle
    monkeypatch.setenv('DISCO_EVENTS', '')
    before = fields(pack(input=['raw://a'], map=ident_map))[3]
    monkeypatch.setenv('DISCO_EVENTS', 'nocolor')
    after = fields(pack(input=['raw://a'], map=ident_map))[3]
    assert dPickle.loads(before)[0].settings['DISCO_EVENTS'] == ''
    assert dPickle.loads(after)[0].settings['DISCO_EVENTS'] == 'nocolor'


def test_job_attributes_still_resolve_as_disco(usermod):
    """Worker.getitem's shortcut: jobargs, then the job's attributes (class, instance,
    properties, Job's proxies of Disco methods), then the worker's defaults."""
    mod = usermod(MOD % 1)
    job = mod.ModJob(master=Disco(MASTER))
    w = job.worker
    assert w.getitem('partitions', job, {}) == 2
    assert w.getitem('partitions', job, {'partitions': 5}) == 5
    job.partitions = 4
    assert w.getitem('partitions', job, {}) == 4
    assert w.getitem('sort', job, {}) is False  # the worker's default
    assert w.getitem('purge', job, {}).func == job.disco.purge  # a proxy

    class PropJob(Job):
        @property
        def map(self):
            return ident_map

        def __getattr__(self, attr):  # a class of its own: no shortcut
            if attr == 'reduce':
                return 'dynamic'
            return Job.__getattr__(self, attr)
    pj = PropJob(master=Disco(MASTER))
    assert pj.worker.getitem('map', pj, {}) is ident_map
    assert pj.worker.getitem('reduce', pj, {}) == 'dynamic'
    assert pj.worker.getitem('nothing', pj, {}, 'x') == 'x'
