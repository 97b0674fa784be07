"""docs/teaching.md runs as written: its ```python blocks are executed in order."""
import re

from tests.tools.conftest import ROOT

DOC = ROOT / 'docs' / 'teaching.md'


def python_blocks(text):
    return re.findall(r'^```python\n(.*?)^```\s*$', text, re.S | re.M)


def test_teaching_walkthrough_runs_as_written(capsys):
    blocks = python_blocks(DOC.read_text())
    assert len(blocks) >= 10
    namespace = {'__name__': '__teaching__'}
    for number, block in enumerate(blocks, 1):
        code = compile(block, '%s [python block %d]' % (DOC.name, number), 'exec')
        exec(code, namespace)
    out = capsys.readouterr().out
    assert 'Stage map scheduled with 3 tasks' in out
    assert "partition 1: ['a', 'a', 'dog', 'dog', 'log', 'the', 'the', 'the', 'the']" in out
    assert namespace['master'].closed
    # 3 emulated nodes: some reduce partition is fetched from more than one node
    assert re.search(r"partition \d is read from \['node\d', 'node\d'", out), out
    assert namespace['cluster'].closed
