"""The ``disco`` import alias (discolite.alias) and how job functions reach ``disco.*``."""
import subprocess
import sys
import textwrap

from tests.tools.conftest import ROOT, clean_env

MODULES = ['disco', 'disco.core', 'disco.job', 'disco.task', 'disco.error', 'disco.util',
           'disco.settings', 'disco.worker', 'disco.worker.classic.worker',
           'disco.worker.classic.func', 'disco.worker.task_io', 'disco.ddfs', 'disco.fileutils',
           'disco.schemes.scheme_raw', 'disco.schemes.scheme_file', 'disco.schemes.scheme_http',
           'disco.schemes.scheme_dir', 'disco.schemes.scheme_disco', 'disco.schemes.scheme_tag']


def python(code, cwd=ROOT, **env):
    """Run code in a fresh interpreter (the alias is process-wide state)."""
    proc = subprocess.run([sys.executable, '-c', textwrap.dedent(code)], capture_output=True,
                          text=True, cwd=str(cwd), env=clean_env(**env), timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_install_shares_module_objects_and_keeps_real_names():
    out = python('''
        import importlib, pickle, sys
        from discolite import alias
        alias.install()
        alias.install()  # idempotent
        for name in %r:
            alias_mod = importlib.import_module(name)
            real = importlib.import_module('discolite' + name[5:])
            assert alias_mod is real, name
            assert real.__name__ == 'discolite' + name[5:], real.__name__
            assert real.__spec__.name == real.__name__, (name, real.__spec__)
        import disco, disco.core, discolite.core, discolite.job
        from disco.core import Job, result_iterator
        from disco.util import kvgroup
        from disco.worker.classic.func import chain_reader, nop_map
        from disco.error import JobError, DiscoError
        assert Job is discolite.core.Job is discolite.job.Job
        assert disco.JOBPACK_VERSION1 == 1 and disco.JOBPACK_VERSION2 == 2
        assert b'discolite.job' in pickle.dumps(Job)
        assert sys.meta_path.count(alias._finder) == 1
        try:
            import disco.no_such_module
        except ModuleNotFoundError as e:
            print('missing', e.name)
        alias.uninstall()
        assert not [n for n in sys.modules if n == 'disco' or n.startswith('disco.')]
        try:
            import disco
        except ModuleNotFoundError:
            print('uninstalled')
        import discolite.core
        assert discolite.core.Job is Job
    ''' % (MODULES,))
    assert out.split('\n')[:2] == ['missing disco.no_such_module', 'uninstalled']


def test_install_refuses_to_shadow_a_different_disco(tmp_path):
    (tmp_path / 'disco').mkdir()
    (tmp_path / 'disco' / '__init__.py').write_text('REAL = True\n')
    out = python('''
        import disco
        from discolite import alias
        try:
            alias.install()
        except ImportError as e:
            print('refused:', e)
        assert disco.REAL
    ''', cwd=tmp_path)
    assert out.startswith("refused: cannot alias 'disco' to discolite")


def test_functions_of_a_foreign_disco_package_are_shipped_as_code(tmp_path):
    (tmp_path / 'disco').mkdir()
    (tmp_path / 'disco' / '__init__.py').write_text('')
    (tmp_path / 'disco' / 'helpers.py').write_text('def shout(x):\n    return x.upper()\n')
    python('''
        from disco.helpers import shout
        from discolite import dPickle
        import discolite.util
        assert not dPickle._by_reference(shout)
        assert dPickle._by_reference(discolite.util.kvgroup)
        open('shout.pickle', 'wb').write(dPickle.dumps(shout))
    ''', cwd=tmp_path)
    # Rebuilt from its code where that package does not exist (as on a node without it).
    out = python('''
        from discolite import dPickle
        print(dPickle.loads(open(%r, 'rb').read())('a'))
    ''' % str(tmp_path / 'shout.pickle'))
    assert out.strip() == 'A'


def test_aliased_functions_are_shipped_by_reference():
    python('''
        from discolite import alias, dPickle
        alias.install()
        from disco.util import kvgroup
        from disco.worker.classic.func import nop_map
        assert dPickle._by_reference(kvgroup) and dPickle._by_reference(nop_map)
        assert dPickle.loads(dPickle.dumps(nop_map)) is nop_map
    ''')


def test_job_functions_import_disco_even_without_the_alias_in_the_client():
    # A node has `disco` importable; discolite's task processes alias it themselves.
    out = python('''
        import sys
        from discolite import Job, result_iterator
        def fun_map(line, params):
            from disco.util import kvgroup
            for word in line.split():
                yield word, 1
        def fun_reduce(iter, params):
            from disco.util import kvgroup
            import disco.core
            for word, counts in kvgroup(sorted(iter)):
                yield word, sum(counts)
        job = Job().run(input=['raw://a b a'], map=fun_map, reduce=fun_reduce)
        print(sorted(result_iterator(job.wait(poll_interval=0.05))))
        assert 'disco' not in sys.modules
    ''')
    assert out.strip() == "[('a', 2), ('b', 1)]"
