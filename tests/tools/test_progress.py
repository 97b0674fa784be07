"""The live progress line, captured from a pseudo-terminal as a user sees it."""
import re
import sys
import textwrap
import time

import pexpect

from discolite import Disco, Job
from tests.tools.conftest import ROOT, clean_env


def slow_map(line, params):
    import time
    for n in range(4):  # one input record each: "N entries mapped" counts those
        time.sleep(0.25)
        yield '%s-%d' % (line, n), 1


FRAME = re.compile(r'\[(?P<job>[^\]]+)\] (?P<stages>[^|]*)\| (?P<records>[\d,]+) records '
                   r'(?P<rate>[\d,]+)/s \| (?P<elapsed>[\d.]+)s(?P<estimate>[^\r\n]*)')


def frames(text):
    return [m.groupdict() for m in FRAME.finditer(text)]


def test_cli_wait_progress_line_in_a_pty(http_url):
    disco = Disco(http_url)
    job = Job(master=disco).run(input=['raw://a', 'raw://b', 'raw://c', 'raw://d'],
                                map=slow_map, status_interval=1)
    child = pexpect.spawn(sys.executable, ['-m', 'discolite', '-M', http_url, 'wait', job.name],
                          env=clean_env(), cwd=str(ROOT), encoding='utf-8', timeout=60)
    try:
        child.expect(r'\r\[%s\] ' % re.escape(job.name))
        first = time.time()
        child.expect(r'\r\[%s\] ' % re.escape(job.name))  # the next frame ...
        assert time.time() - first < 1.0  # ... comes within a second
        child.expect(pexpect.EOF)
        text = child.before
    finally:
        child.close()
    assert child.exitstatus == 0, text
    seen = frames(text)
    assert seen and all(f['job'] == job.name for f in seen)
    assert any(re.search(r'map \d/4 \(\d running\)', f['stages']) for f in seen), seen
    assert any(int(f['records'].replace(',', '')) > 0 and
               int(f['rate'].replace(',', '')) > 0 for f in seen), seen
    assert any(re.search(r', map ~[\d.]+s left', f['estimate']) for f in seen), seen
    elapsed = [float(f['elapsed']) for f in seen]
    assert elapsed == sorted(elapsed) and len(set(elapsed)) > 3
    # the line is cleared, then the result URLs are printed
    assert text.rstrip().splitlines()[-1].strip().startswith('dir://')


def test_wait_show_progress_line_in_a_pty(tmp_path):
    script = tmp_path / 'show.py'
    script.write_text(textwrap.dedent('''
        from disco.core import Job, result_iterator
        def slow_map(line, params):
            import time
            for n in range(4):
                time.sleep(0.25)
                yield '%s-%d' % (line, n), 1
        job = Job().run(input=['raw://a', 'raw://b'], map=slow_map, status_interval=1)
        print('RECORDS', len(list(result_iterator(job.wait(show=True)))))
    '''))
    child = pexpect.spawn(sys.executable, ['-m', 'discolite', 'run', str(script)],
                          env=clean_env(), cwd=str(tmp_path), encoding='utf-8', timeout=60)
    try:
        child.expect('RECORDS 8')
        text = child.before
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    seen = frames(text)
    assert seen, text
    assert any('map ' in f['stages'] and 'running' in f['stages'] for f in seen), seen
    assert 'New job initialized!' in text  # the events are shown as well
