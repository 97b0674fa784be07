"""examples/ run as scripts against the in-process master and print the right answers."""
import collections
import math
import re
import subprocess
import sys

from tests.tools.conftest import ROOT, clean_env

EXAMPLES = ROOT / 'examples'
TEXTS = sorted((ROOT / 'fixtures' / 'texts').glob('*.txt'))


def run(name, *args, cwd=ROOT):
    proc = subprocess.run([sys.executable, str(EXAMPLES / name)] + [str(a) for a in args],
                          capture_output=True, text=True, env=clean_env(), cwd=str(cwd),
                          timeout=120)
    return proc


def words(paths):
    counts = collections.Counter()
    for path in paths:
        counts.update(w.strip("'") for w in re.findall(r"[a-z']+", path.read_text().lower()))
    return counts


def test_word_count_prints_the_top_10_words():
    proc = run('word_count.py')
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith('Top 10 words in gettysburg.txt, tortoise_and_hare.txt')
    top = [(line.split()[1], int(line.split()[0])) for line in lines[1:]]
    expected = sorted(words(TEXTS).items(), key=lambda wc: (-wc[1], wc[0]))[:10]
    assert top == expected
    assert top[0] == ('the', 34)


def test_word_count_of_given_files(tmp_path):
    text = tmp_path / 'mine.txt'
    text.write_text('Spam spam SPAM eggs. Spam!\n')
    proc = run('word_count.py', text, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1:] == ['     4  spam', '     1  eggs']


def test_grep():
    proc = run('grep.py', '-i', 'steady|liberty')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        'gettysburg.txt:conceived in Liberty, and dedicated to the proposition that all men '
        'are created equal.',
        'tortoise_and_hare.txt:Slow and steady wins the race.',
        'tortoise_and_hare.txt:The tortoise did not stop to boast. He had kept on, step after '
        'step, and the steady step had']
    nothing = run('grep.py', 'zyzzyva')
    assert (nothing.returncode, nothing.stdout) == (1, '')


def test_inner_join():
    proc = run('inner_join.py')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        '1,Abraham Lincoln,Gettysburg Address,1863',
        '2,Aesop,The Fox and the Grapes,-600',
        '2,Aesop,The Hare and the Tortoise,-600',
        '3,Jane Austen,Emma,1815',
        '3,Jane Austen,Pride and Prejudice,1813',
        '4,Mark Twain,Adventures of Huckleberry Finn,1884']


def test_estimate_pi():
    proc = run('estimate_pi.py', 4, 20000)
    assert proc.returncode == 0, proc.stderr
    m = re.match(r'pi is about (\d\.\d+) \(80000 points in 4 map tasks\)', proc.stdout)
    assert m, proc.stdout
    assert abs(float(m.group(1)) - math.pi) < 0.05


def test_examples_run_unchanged_under_discolite_run():
    proc = subprocess.run([sys.executable, '-m', 'discolite', 'run',
                           str(EXAMPLES / 'estimate_pi.py'), '2', '1000'],
                          capture_output=True, text=True, env=clean_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert '2000 points in 2 map tasks' in proc.stdout
