"""How job functions travel (DISCO-SPEC §2.10): no script globals, modules, files, pickling."""
import math
import os
import subprocess
import sys
import textwrap

import pytest

from discolite import Disco, Job, Params
from discolite.error import DiscoError
from discolite.worker.modutil import ModUtilImportError, find_modules

from tests.engine import mod1
from tests.engine.common import fails, results, run, run_results

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONSTANT = 'module-level constant'


def module_helper(x):
    return x * 3


def map_using_helper(line, params):
    yield line, module_helper(1)


def map_using_constant(line, params):
    yield line, CONSTANT


def map_ceil(line, params):
    yield line, math.ceil(float(line))


def map_plusceil(line, params):
    yield line, mod1.plusceil(float(line), 1)


def map_imports_inside(line, params):
    import math
    yield line, math.floor(float(line))


# -- the globals job functions see

def test_module_level_function_is_not_visible(disco):
    text, events = fails(run(disco, input=['raw://x'], map=map_using_helper))
    for where in (text, events):
        assert "NameError: name 'module_helper' is not defined" in where
        assert 'job functions run without the module-level globals' in where
        assert "Import 'module_helper' inside the function" in where


def test_module_level_constant_is_not_visible(disco):
    text, events = fails(run(disco, input=['raw://x'], map=map_using_constant))
    assert "name 'CONSTANT' is not defined" in text


def test_import_inside_the_function_works(disco):
    assert run_results(disco, input=['raw://2.5'], map=map_imports_inside) == [('2.5', 2)]


def test_modules_used_as_globals_are_detected_and_injected(disco):
    got = run_results(disco, input=['raw://1.5'], map=map_ceil)
    assert got == [('1.5', 2)]
    got = run_results(disco, input=['raw://1.5'], map=map_plusceil)
    assert got == [('1.5', 3)]


def test_explicit_required_modules(disco):
    path = mod1.__file__
    got = run_results(disco, input=['raw://1.2'], map=map_plusceil,
                      required_modules=['math', ('tests.engine.mod1', path)])
    assert got == [('1.2', 3)]
    got = run_results(disco, input=['raw://1.2'], map=map_plusceil,
                      required_modules=find_modules([map_plusceil]))
    assert got == [('1.2', 3)]


def test_required_modules_empty_list_disables_detection(disco):
    text, events = fails(run(disco, input=['raw://1.5'], map=map_ceil, required_modules=[]))
    assert "name 'math' is not defined" in text


def test_find_modules_names_and_paths():
    assert find_modules([map_ceil]) == ['math']
    assert find_modules([map_plusceil]) == [('tests.engine.mod1', os.path.abspath(mod1.__file__))]
    assert find_modules([map_plusceil], send_modules=False) == ['tests.engine.mod1']
    assert find_modules([map_using_helper]) == []
    assert find_modules(['json', map_ceil]) == ['json', 'math']
    assert find_modules([map_ceil], exclude=['math']) == []


def test_find_modules_unknown_name_raises():
    with pytest.raises(ModUtilImportError) as info:
        find_modules(['no_such_module_xyz'])
    assert isinstance(info.value, ImportError) and isinstance(info.value, DiscoError)
    assert "Could not import module 'no_such_module_xyz'" in str(info.value)


def test_unknown_required_module_is_refused_at_run(disco):
    with pytest.raises(ModUtilImportError) as info:
        Job(master=disco).run(input=['raw://x'], map=map_ceil,
                              required_modules=['math', 'no_such_module_xyz'])
    assert "Could not find required module 'no_such_module_xyz'" in str(info.value)
    with pytest.raises(ModUtilImportError) as info:
        Job(master=disco).run(input=['raw://x'], map=map_ceil,
                              required_modules=[('ghost', '/no/such/ghost.py')])
    assert "'/no/such/ghost.py'" in str(info.value)


def _write(path, text):
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_user_module_outside_the_pool_path_is_shipped(disco, tmp_path, monkeypatch):
    """A module the pool processes cannot import from their own sys.path travels in the job."""
    _write(tmp_path / 'shipmod_e1.py', '''
        import shipmod_e2
        def triple(x):
            return shipmod_e2.twice(x) + x
    ''')
    _write(tmp_path / 'shipmod_e2.py', '''
        def twice(x):
            return 2 * x
    ''')
    _write(tmp_path / 'shipjobs_e.py', '''
        import shipmod_e1
        def fmap(line, params):
            yield line, shipmod_e1.triple(int(line))
    ''')
    monkeypatch.syspath_prepend(str(tmp_path))
    import shipjobs_e
    try:
        assert sorted(find_modules([shipjobs_e.fmap]), key=str) == \
            [('shipmod_e1', str(tmp_path / 'shipmod_e1.py')),
             ('shipmod_e2', str(tmp_path / 'shipmod_e2.py'))]
        assert run_results(disco, input=['raw://5'], map=shipjobs_e.fmap) == [('5', 15)]
    finally:
        for name in ('shipjobs_e', 'shipmod_e1', 'shipmod_e2'):
            sys.modules.pop(name, None)


def test_user_package_is_shipped_whole(disco, tmp_path, monkeypatch):
    pkg = tmp_path / 'shippkg_e'
    pkg.mkdir()
    _write(pkg / '__init__.py', '''
        from shippkg_e import sub
        def f(x):
            return sub.g(x) + 1
    ''')
    _write(pkg / 'sub.py', '''
        def g(x):
            return x * 10
    ''')
    _write(tmp_path / 'shippkgjobs_e.py', '''
        import shippkg_e
        def fmap(line, params):
            yield line, shippkg_e.f(int(line))
    ''')
    monkeypatch.syspath_prepend(str(tmp_path))
    import shippkgjobs_e
    try:
        assert find_modules([shippkgjobs_e.fmap]) == [('shippkg_e', str(pkg / '__init__.py')),
                                                      ('shippkg_e.sub', str(pkg / 'sub.py'))]
        assert run_results(disco, input=['raw://4'], map=shippkgjobs_e.fmap) == [('4', 41)]
    finally:
        for name in ('shippkgjobs_e', 'shippkg_e', 'shippkg_e.sub'):
            sys.modules.pop(name, None)


def test_required_files_list_readable_and_importable(disco, tmp_path):
    data = _write(tmp_path / 'table.txt', 'alpha=1\n')
    helper = _write(tmp_path / 'reqfile_helper_e.py', '''
        def shout(s):
            return s.upper() + '!'
    ''')

    def fmap(line, params):
        import reqfile_helper_e
        with open('lib/table.txt') as f:
            yield reqfile_helper_e.shout(line), f.read().strip()
    got = run_results(disco, input=['raw://hi'], map=fmap, required_files=[data, helper])
    assert got == [('HI!', 'alpha=1')]


def test_required_files_dict(disco):
    def fmap(line, params):
        with open('conf/settings.cfg', 'rb') as f:
            yield line, f.read()
    got = run_results(disco, input=['raw://k'], map=fmap,
                      required_files={'conf/settings.cfg': b'x=1'})
    assert got == [('k', b'x=1')]


def test_required_files_dict_path_escaping_job_home_is_refused(disco):
    def fmap(line, params):
        yield line, 1
    with pytest.raises(DiscoError) as info:
        Job(master=disco).run(input=['raw://k'], map=fmap, required_files={'../evil': b''})
    assert "required_files entry '../evil'" in str(info.value)


def test_functions_share_one_globals_dict_per_task(disco):
    def init(iter, params):
        global shared_state
        shared_state = 'set by map_init'

    def fmap(line, params):
        yield line, shared_state  # noqa: F821
    assert run_results(disco, input=['raw://g'], map=fmap, map_init=init) == \
        [('g', 'set by map_init')]


# -- what cannot be shipped

def test_closure_is_refused_at_run(disco):
    factor = 3

    def fmap(line, params):
        yield line, factor
    with pytest.raises(DiscoError) as info:
        Job(master=disco).run(input=['raw://c'], map=fmap)
    text = str(info.value)
    assert "Cannot ship function" in text and 'fmap' in text and 'closure over factor' in text


def test_lambda_capturing_a_variable_is_refused(disco):
    offset = 1
    with pytest.raises(DiscoError) as info:
        Job(master=disco).run(input=['raw://c'], map=lambda e, p: [(e, offset)])
    assert '<lambda>' in str(info.value) and 'closure over offset' in str(info.value)


def test_plain_lambda_is_fine(disco):
    assert run_results(disco, input=['raw://l'], map=lambda e, p: [(e, 'lambda')]) == \
        [('l', 'lambda')]


def test_unpicklable_params_are_refused_naming_the_object(disco, tmp_path):
    handle = open(tmp_path / 'f.txt', 'w')
    try:
        with pytest.raises(DiscoError) as info:
            Job(master=disco).run(input=['raw://p'], map=map_imports_inside,
                                  params=Params(ok=1, log=handle))
        text = str(info.value)
        assert 'Cannot serialize job data' in text
        assert "'log'" in text and 'f.txt' in text
    finally:
        handle.close()


def test_closure_inside_params_is_refused(disco):
    secret = 'x'

    def inner(v):
        return v + secret
    with pytest.raises(DiscoError) as info:
        Job(master=disco).run(input=['raw://p'], map=map_imports_inside,
                              params=Params(f=inner))
    assert 'inner' in str(info.value) and 'closure over secret' in str(info.value)


def test_required_modules_of_an_earlier_job_do_not_leak(one_worker):
    """A pool process keeps a Job subclass's module imported; injected modules must not stay."""
    from tests.engine import mod1
    from tests.engine.jobs_mod import JsonJob
    # an explicit list replaces auto-detection, so it must name what jobs_mod imports too
    # (as on Disco, where only the job's own module travels by itself)
    job = JsonJob(master=one_worker).run(
        input=['raw://j'], required_modules=['json', ('tests.engine.mod1', mod1.__file__)])
    assert results(job) == [('j', '["j"]')]
    # (auto-detection would find json by name, as on Disco: list the modules explicitly)
    text, events = fails(JsonJob(master=one_worker).run(
        input=['raw://j'], required_modules=[('tests.engine.mod1', mod1.__file__)]))
    assert "name 'json' is not defined" in text


# -- start methods

@pytest.fixture(scope='module')
def one_worker():
    from discolite.master import Master
    master = Master(DISCOLITE_WORKERS=1)
    try:
        yield Disco(master.url)
    finally:
        master.close()


@pytest.fixture(scope='module')
def forkserver_disco():
    from discolite.master import Master
    master = Master(DISCOLITE_START_METHOD='forkserver', DISCOLITE_WORKERS=1)
    try:
        yield Disco(master.url)
    finally:
        master.close()


def test_forkserver_module_global_fails_with_hint(forkserver_disco):
    text, events = fails(run(forkserver_disco, input=['raw://x'], map=map_using_helper))
    assert "name 'module_helper' is not defined" in text
    assert 'job functions run without the module-level globals' in events


def test_forkserver_runs_class_attribute_jobs_and_detected_modules(forkserver_disco):
    from tests.engine.jobs_mod import GlobalsJob
    job = GlobalsJob(master=forkserver_disco).run(input=['raw://a', 'raw://b', 'raw://a'])
    assert sorted(results(job)) == [('a-ok', 2), ('b-ok', 1)]
    assert run_results(forkserver_disco, input=['raw://1.5'], map=map_plusceil) == [('1.5', 3)]
    assert run_results(forkserver_disco, input=['raw://1.5'], map=map_ceil) == [('1.5', 2)]


@pytest.mark.parametrize('method', ['fork', 'forkserver'])
def test_class_attribute_job_using_a_module_of_its_own_package(method, one_worker,
                                                              forkserver_disco):
    from tests.engine.jobs_mod import ModuleJob
    disco = one_worker if method == 'fork' else forkserver_disco
    assert results(ModuleJob(master=disco).run(input=['raw://0.5'])) == [('0.5', 11)]


MAIN_SCRIPT = '''
import sys
from discolite import Job
from discolite.master import Master

class MainJob(Job):
    @staticmethod
    def map(line, params):
        yield line, 1

def plain_map(line, params):
    yield line, 2

def main():
    master = Master(DISCOLITE_WORKERS=1, DISCOLITE_START_METHOD=sys.argv[1])
    from discolite import result_iterator
    plain = Job(master=master.url).run(input=['raw://ok'], map=plain_map)
    print('PLAIN', list(result_iterator(plain.wait(poll_interval=0.05))))
    job = MainJob(master=master.url).run(input=['raw://x'])
    try:
        job.wait(poll_interval=0.05)
    except Exception as e:
        print('ERROR', type(e).__name__, e)
    master.close()


if __name__ == '__main__':
    main()
'''


@pytest.mark.parametrize('method', ['fork', 'forkserver'])
def test_job_subclass_defined_in_main_fails_clearly(tmp_path, method):
    script = tmp_path / 'main_job.py'
    script.write_text(MAIN_SCRIPT)
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, str(script), method], capture_output=True, text=True,
                          timeout=120, env=env, cwd=str(tmp_path))
    out = proc.stdout + proc.stderr
    assert "PLAIN [('ok', 2)]" in out, out
    assert 'ERROR JobError' in out, out
    assert 'MainModuleError' in out and 'MainJob is defined in __main__' in out, out
    assert 'importable module' in out, out
