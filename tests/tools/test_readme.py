"""The README's quick start stays in sync with CI, and its Python snippets run."""
import re
import subprocess
import sys

from tests.tools.conftest import ROOT, clean_env

README = (ROOT / 'README.md').read_text()


def shell_blocks():
    return re.findall(r'^```sh\n(.*?)^```\s*$', README, re.S | re.M)


def test_quick_start_has_exactly_two_commands_and_ci_runs_the_test_one():
    quick = README.split('## Quick start', 1)[1].split('\n## ', 1)[0]
    commands = [block.strip() for block in re.findall(r'^```sh\n(.*?)^```', quick, re.S | re.M)]
    assert commands == ['pip install . && python examples/word_count.py',
                        "pip install -e '.[test]' && python -m pytest -q"]
    ci = (ROOT / '.ci' / 'run').read_text().splitlines()
    # CI may quieten pip with -q; otherwise the command is the same
    assert commands[1] in [line.strip().replace('pip install -q ', 'pip install ') for line in ci]


def test_readme_python_snippets_run(tmp_path):
    blocks = re.findall(r'^```python\n(.*?)^```\s*$', README, re.S | re.M)
    assert len(blocks) == 3
    intro, pytest_module, ddfs_test = blocks  # the third one continues the pytest module
    pytest_module += '\n' + ddfs_test
    proc = subprocess.run([sys.executable, '-c', intro], capture_output=True, text=True,
                          env=clean_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[('disco', 1), ('hello', 2), ('world', 1)]"
    (tmp_path / 'test_snippet.py').write_text(pytest_module)
    proc = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
                           str(tmp_path / 'test_snippet.py')], capture_output=True, text=True,
                          env=clean_env(), timeout=120, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '2 passed' in proc.stdout
