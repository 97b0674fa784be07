"""The dataflow endpoint, the static pages and `discolite ui`, without a browser."""
import json
import os
import pickle
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from discolite import Disco, Job, result_iterator
from discolite.master import Master
from discolite.master.dataflow import count_records
from discolite.master.httpserver import serve
from discolite.transport import Request
from discolite.worker.task_io import DiscoOutputStream
from tests.web import jobs

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope='module')
def master(module_master):
    return module_master


def get(master, url):
    r = master.app.handle(Request('GET', url))
    return r.status, r


def dataflow(master, name):
    status, r = get(master, '/disco/ctrl/dataflow?name=' + name)
    assert status == 200, r.body
    return json.loads(r.body)


def test_word_count_dataflow(master):
    disco = Disco(master.url)
    job = Job(name='wc', master=disco).run(input=jobs.WORDS, map=jobs.word_map,
                                            reduce=jobs.word_reduce, partitions=2)
    counts = dict(result_iterator(job.wait(poll_interval=0.05)))
    flow = dataflow(master, job.name)
    assert flow['status'] == 'ready'
    assert [(s['name'], s['grouping'], len(s['tasks'])) for s in flow['stages']] == \
        [('map', 'split', 3), ('map_shuffle', 'group_node', 1), ('reduce', 'group_label', 2)]
    maps, (shuffle,), reduces = [s['tasks'] for s in flow['stages']]
    assert [t['inputs'] for t in maps] == [[{'input': i, 'label': 0}] for i in range(3)]
    assert [t['records_in'] for t in maps] == [1, 1, 1]
    assert [t['records_out'] for t in maps] == [6, 6, 5]
    assert all([o['label'] for o in t['outputs']] == [0, 1] for t in maps)
    assert shuffle['inputs'] == [{'task': t['id'], 'label': 'all'} for t in maps]
    assert shuffle['records_in'] == shuffle['records_out'] == 17
    assert [t['inputs'] for t in reduces] == [[{'task': shuffle['id'], 'label': 0}],
                                             [{'task': shuffle['id'], 'label': 1}]]
    assert [t['records_in'] for t in reduces] == [8, 9]
    assert sum(t['records_out'] for t in reduces) == len(counts)
    for t in maps + [shuffle] + reduces:
        assert t['state'] == 'done' and t['failures'] == 0 and t['host'] == 'localhost'
        assert t['duration'] is not None and t['duration'] >= 0
        for o in t['outputs']:  # the download path serves the file the index names
            status, r = get(master, o['href'])
            assert status == 200 and len(r.body) == o['bytes']
    assert [r['task'] for r in flow['results']] == [t['id'] for t in reduces]
    assert flow['inputs'][0] == {'index': 0, 'url': jobs.WORDS[0], 'replicas': [jobs.WORDS[0]],
                                 'bytes': len(jobs.WORDS[0]) - len('raw://')}
    status, r = get(master, '/disco/ctrl/dataflow?name=%s&task=%d' % (job.name, maps[1]['id']))
    events = json.loads(r.body)
    assert events[0][2] == 'map:1 assigned to localhost'
    assert all('[map:1]' in m or 'map:1 ' in m for _, _, m in events)
    assert any(m == 'MSG: [map:1] Done: 1 entries mapped' for _, _, m in events)


def test_retried_and_running_tasks(master, tmp_path):
    disco = Disco(master.url)
    marker = str(tmp_path / 'marker')
    job = Job(name='flaky', master=disco).run(input=['raw://%s a b' % marker],
                                               map=jobs.flaky_map)
    job.wait(poll_interval=0.05)
    (task,) = dataflow(master, job.name)['stages'][0]['tasks']
    assert (task['state'], task['failures'], task['retried']) == ('done', 1, True)
    assert 'transient failure' in task['error']
    slow = Job(name='slow', master=disco).run(input=['raw://30 x'], map=jobs.slow_map)
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            (task,) = dataflow(master, slow.name)['stages'][0]['tasks']
            if task['state'] == 'running':
                break
            time.sleep(0.05)
        assert task['state'] == 'running' and task['outputs'] == []
        time.sleep(0.2)
        (later,) = dataflow(master, slow.name)['stages'][0]['tasks']
        assert later['duration'] > task['duration']
        flow = dataflow(master, slow.name)
        assert [s['scheduled'] for s in flow['stages']] == [True, False]
    finally:
        disco.kill(slow.name)
    (task,) = dataflow(master, slow.name)['stages'][0]['tasks']
    assert task['state'] == 'stopped'


def test_unknown_job_and_bad_task(master):
    assert get(master, '/disco/ctrl/dataflow?name=Nope@0:0:0')[0] == 404
    disco = Disco(master.url)
    job = Job(name='x', master=disco).run(input=['raw://a'], map=jobs.word_map)
    job.wait(poll_interval=0.05)
    assert get(master, '/disco/ctrl/dataflow?name=%s&task=x' % job.name)[0] == 400
    assert json.loads(get(master, '/disco/ctrl/dataflow?name=%s&task=99' % job.name)[1].body) \
        == []
    disco.purge(job.name)
    assert get(master, '/disco/ctrl/dataflow?name=' + job.name)[0] == 404


def write_records(path, records):
    with open(path, 'wb') as f:
        out = DiscoOutputStream(f)
        for k, v in records:
            out.add(k, v)
        out.close()


def test_count_records_runs_no_job_code(tmp_path):
    path = str(tmp_path / 'data')
    write_records(path, [(b'ab', 1), ('x', [1, 2]), (3, {'a': None})])
    assert count_records(path) == 3
    # a record whose unpickling would call os.system: counted, never run
    marker = tmp_path / 'ran'

    class Evil(object):
        def __reduce__(self):
            return (os.system, ('touch %s' % marker,))
    with open(path, 'wb') as f:
        out = DiscoOutputStream(f)
        out.hunk_write(pickle.dumps((b'k', Evil()), 1))
        out.hunk_write(pickle.dumps(('k2', 1), 2))
        out.close()
    assert count_records(path) == 2
    assert not marker.exists()
    with open(path, 'wb') as f:  # version 0 (netstrings)
        f.write(b'1 a 2 bc\n3 abc 0 \n')
    assert count_records(path) == 2
    with open(path, 'wb') as f:
        f.write(b'\x81garbage')
    assert count_records(path) is None
    assert count_records(str(tmp_path / 'missing')) is None


def test_pages_are_served_with_a_strict_policy(master):
    for path, ctype in (('/', 'text/html'), ('/index.html', 'text/html'),
                        ('/job.html', 'text/html'), ('/dataflow.html', 'text/html'),
                        ('/config.html', 'text/html'), ('/common.js', 'text/javascript'),
                        ('/disco.css', 'text/css')):
        status, r = get(master, path)
        assert status == 200, path
        assert r.headers['Content-Type'].startswith(ctype)
        policy = r.headers['Content-Security-Policy']
        assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    for path in ('/nope.html', '/../setup.py', '/web/index.html', '/%2e%2e/x.html',
                 '/.hidden.js', '/index.py'):
        assert get(master, path)[0] == 404, path
    # the API is unchanged: unknown /disco/ paths are still Disco's 404
    status, r = get(master, '/disco/ctrl/nonsense')
    assert status == 404 and r.body == b'Not found.'


def test_pages_ship_no_reference_to_another_host():
    from discolite.master.static import WEB_DIR
    names = sorted(os.listdir(WEB_DIR))
    assert {'index.html', 'job.html', 'dataflow.html', 'config.html'} <= set(names)
    for name in names:
        with open(os.path.join(WEB_DIR, name)) as f:
            text = f.read()
        for bad in ('http://', 'https://', '//cdn', 'innerHTML', 'outerHTML',
                    'insertAdjacentHTML', 'document.write', 'eval('):
            if bad == 'http://' and 'http://www.w3.org/2000/svg' in text:
                text = text.replace('http://www.w3.org/2000/svg', '')
            assert bad not in text, (name, bad)


def test_http_master_serves_pages_and_ui_prints_the_url(master, tmp_path):
    server, url = serve(master)
    try:
        with urllib.request.urlopen(url + '/', timeout=10) as r:
            assert b'status.js' in r.read()
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url + '/..%2f..%2fetc/passwd', timeout=10)
        assert e.value.code == 404
        disco = Disco(url)
        job = Job(name='ui', master=disco).run(input=['raw://a'], map=jobs.word_map)
        job.wait(poll_interval=0.05)
        env = dict(os.environ, DISCO_MASTER=url)
        env.pop('DISPLAY', None)
        env.pop('WAYLAND_DISPLAY', None)
        env.pop('BROWSER', None)

        def ui(*args, **extra):
            return subprocess.run([sys.executable, '-m', 'discolite', 'ui'] + list(args),
                                  env=dict(env, **extra), capture_output=True, text=True,
                                  timeout=60)
        out = ui('@')
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == '%s/dataflow.html?name=%s' % (url, job.name)
        assert ui().stdout.strip() == url + '/'
        assert ui('--job-page', job.name).stdout.strip() == \
            '%s/job.html?name=%s' % (url, job.name)
        bad = ui('Nope@0:0:0')
        assert bad.returncode == 1 and 'unknown job' in bad.stderr
        opener = tmp_path / 'browser.sh'
        opener.write_text('#!/bin/sh\necho "$1" > %s\n' % (tmp_path / 'opened'))
        opener.chmod(0o755)
        out = ui(job.name, BROWSER=str(opener))
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith('opened ')
        assert (tmp_path / 'opened').read_text().strip() == \
            '%s/dataflow.html?name=%s' % (url, job.name)
        local = subprocess.run([sys.executable, '-m', 'discolite', 'ui'], capture_output=True,
                               text=True, timeout=60,
                               env={k: v for k, v in env.items() if k != 'DISCO_MASTER'})
        assert local.returncode == 1 and 'discolite master' in local.stderr
    finally:
        server.shutdown()
        server.server_close()


def test_master_prints_the_page_url(tmp_path):
    proc = subprocess.Popen([sys.executable, '-m', 'discolite', 'master', '--port', '0',
                             '--data-dir', str(tmp_path), '--workers', '1'],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first, second = proc.stdout.readline(), proc.stdout.readline()
        port = first.split('http://127.0.0.1:', 1)[1].split()[0]
        assert second.startswith('pages: http://127.0.0.1:%s/' % port)
        with urllib.request.urlopen('http://127.0.0.1:%s/' % port, timeout=10) as r:
            assert r.headers['Content-Type'].startswith('text/html')
    finally:
        proc.terminate()
        proc.wait(10)


def test_pipeline_job_has_one_column_per_stage(master):
    from tests.pipeline import pipejobs
    disco = Disco(master.url)
    words = [['raw://a_cat_sat'], ['raw://on_the_mat'], ['raw://the_cat_ran']]
    job = pipejobs.WordCount(master=disco).run(input=words)
    counts = dict(result_iterator(job.wait(poll_interval=0.05)))
    flow = dataflow(master, job.name)
    assert [(s['name'], s['grouping'], len(s['tasks'])) for s in flow['stages']] == \
        [('map', 'split', 3), ('reduce', 'group_label', 2)]
    maps, reduces = [s['tasks'] for s in flow['stages']]
    assert sorted(i['input'] for t in maps for i in t['inputs']) == [0, 1, 2]
    assert all(t['state'] == 'done' and t['records_out'] == 3 for t in maps)
    map_ids = {t['id'] for t in maps}
    for t in reduces:  # each reduce reads its label from the map tasks that wrote it
        assert t['inputs'] and {i['task'] for i in t['inputs']} <= map_ids
        assert len({i['label'] for i in t['inputs']}) == 1
    assert sum(t['records_in'] for t in reduces) == 9
    assert sum(t['records_out'] for t in reduces) == len(counts)
    assert sorted(r['task'] for r in flow['results']) == sorted(t['id'] for t in reduces)


def failing_map(line, params):
    raise ValueError('no good: <b>%s</b>' % line)


def test_a_task_that_kills_its_job_is_failed(master):
    from discolite.error import JobError
    disco = Disco(master.url)
    job = Job(name='fails', master=disco).run(input=['raw://x'], map=failing_map)
    with pytest.raises(JobError):
        job.wait(poll_interval=0.05)
    flow = dataflow(master, job.name)
    assert flow['status'] == 'dead'
    (task,) = flow['stages'][0]['tasks']
    assert task['state'] == 'failed'
    assert task['error'] == 'ValueError: no good: <b>x</b>'
    assert flow['results'] == []


def test_reloaded_job_without_task_records_still_shows_its_tasks(master):
    disco = Disco(master.url)
    job = Job(name='wc', master=disco).run(input=jobs.WORDS, map=jobs.word_map,
                                            reduce=jobs.word_reduce, partitions=2)
    job.wait(poll_interval=0.05)
    master.scheduler.jobs[job.name].stage_tasks.clear()  # as a master restarted from disk has
    flow = dataflow(master, job.name)
    assert [len(s['tasks']) for s in flow['stages']] == [3, 1, 2]
    assert all(t['state'] == 'done' and t['records_out'] for s in flow['stages']
               for t in s['tasks'])


def test_teaching_doc_shows_the_screenshot_the_browser_tests_take():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, 'docs', 'teaching.md')) as f:
        text = f.read()
    assert '](images/dataflow-wordcount.png)' in text and 'discolite ui @' in text
    with open(os.path.join(root, 'docs', 'images', 'dataflow-wordcount.png'), 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_three_emulated_nodes():
    m = Master(DISCOLITE_NODES=3, DISCOLITE_WORKERS=1)
    try:
        disco = Disco(m.url)
        job = Job(name='wc3', master=disco).run(input=jobs.WORDS * 2, map=jobs.word_map,
                                                 reduce=jobs.word_reduce, partitions=3)
        counts = dict(result_iterator(job.wait(poll_interval=0.05)))
        flow = dataflow(m, job.name)
        maps, shuffles, reduces = [s['tasks'] for s in flow['stages']]
        assert len(maps) == 6 and len(reduces) == 3
        assert sorted(t['host'] for t in shuffles) == sorted({t['host'] for t in maps})
        for t in shuffles:  # each node's shuffle reads the maps that ran on that node
            sources = {i['task'] for i in t['inputs']}
            assert sources == {x['id'] for x in maps if x['host'] == t['host']}
            for o in t['outputs']:
                assert get(m, o['href'])[0] == 200
        assert sum(t['records_in'] for t in reduces) == 34
        assert sum(t['records_out'] for t in reduces) == len(counts)
        for t in reduces:
            assert {i['task'] for i in t['inputs']} <= {s['id'] for s in shuffles}
    finally:
        m.close()
