"""Disco's pages and the dataflow view in a real headless chromium."""
import os
import time
import urllib.request

import pytest

from discolite import Job, result_iterator
from tests.web import jobs
from tests.web.conftest import assert_only_master, requested_urls, screenshot, wait_for

pytestmark = pytest.mark.timeout(180)


def By():
    from selenium.webdriver.common.by import By
    return By


def find(driver, css):
    return driver.find_elements(By().CSS_SELECTOR, css)


def word_count(disco, name='wordcount'):
    job = Job(name=name, master=disco).run(input=jobs.WORDS, map=jobs.word_map,
                                            reduce=jobs.word_reduce, partitions=2)
    return job


def slow_job(disco, seconds, n=1, name='slow'):
    return Job(name=name, master=disco).run(input=['raw://%s x%d' % (seconds, i)
                                                   for i in range(n)], map=jobs.slow_map)


def test_status_page_lists_a_finished_and_a_running_job(browser, disco, web_master):
    done = word_count(disco, 'finished')
    done.wait(poll_interval=0.05)
    running = slow_job(disco, 60, name='running')
    try:
        requested_urls(browser)
        browser.get(web_master + '/')
        row = wait_for(lambda: find(browser, '.joblist .job[data-name="%s"]' % running.name),
                       message='the running job in the list')[0]
        assert row.get_attribute('data-status') == 'active'
        row = find(browser, '.joblist .job[data-name="%s"]' % done.name)[0]
        assert row.get_attribute('data-status') == 'ready'
        names = [r.get_attribute('data-name') for r in find(browser, '.joblist .job')]
        assert names.index(running.name) < names.index(done.name)  # newest first
        node = wait_for(lambda: [n for n in find(browser, '.node .slots')
                                 if n.get_attribute('data-busy') == '1'],
                        message='a busy slot')[0]
        assert node.get_attribute('data-slots') == '2'
        assert len(find(browser, '.slot.busy')) == 1
        screenshot(browser, 'status-page')
        browser.find_element(By().ID, 'filter').send_keys('finished')
        wait_for(lambda: [r.get_attribute('data-name') for r in find(browser, '.joblist .job')]
                 == [done.name], message='the filter to leave the finished job only')
        assert_only_master(browser, web_master)
    finally:
        disco.kill(running.name)



def test_job_page_event_log_grows_while_the_job_runs(browser, disco, web_master):
    job = slow_job(disco, 0.4, n=8, name='growing')
    requested_urls(browser)
    browser.get(web_master + '/job.html?name=' + job.name)
    wait_for(lambda: find(browser, '.event'), message='the first events')
    seen = []

    def more():
        status = browser.find_element(By().ID, 'status').text
        count = len(find(browser, '#events .event'))
        if status == 'active':
            seen.append(count)
        return len(set(seen)) >= 3
    wait_for(more, timeout=30, message='the event log to grow while the job is active')
    assert seen == sorted(seen)
    wait_for(lambda: browser.find_element(By().ID, 'status').text == 'ready', timeout=30,
             message='the job to finish')
    texts = wait_for(lambda: [e.text for e in find(browser, '#events .event .msg')
                              if e.text.startswith('READY')], message='READY')
    assert texts
    events = [e for _, e in disco.events(job.name)]
    assert len(find(browser, '#events .event')) == len(events)
    rows = {r.get_attribute('data-stage'): [c.text for c in r.find_elements(By().TAG_NAME, 'td')]
            for r in find(browser, '#stages tr[data-stage]')}
    assert rows['map'] == ['map', '0', '0', '0', '8', '0']
    links = find(browser, '#results a')
    assert links and all(l.get_attribute('href').startswith(web_master + '/disco/')
                         for l in links)
    screenshot(browser, 'job-page')
    assert_only_master(browser, web_master)


def test_kill_button_kills_a_running_job(browser, disco, web_master):
    job = slow_job(disco, 60, name='tokill')
    try:
        browser.get(web_master + '/job.html?name=' + job.name)
        wait_for(lambda: browser.find_element(By().ID, 'status').text == 'active',
                 message='the job page')
        wait_for(lambda: disco.jobinfo(job.name)['hosts'], message='the task to start')
        browser.find_element(By().ID, 'kill').click()
        browser.switch_to.alert.accept()
        wait_for(lambda: disco.jobinfo(job.name)['active'] == 'dead', timeout=15,
                 message='the job to die')
        wait_for(lambda: browser.find_element(By().ID, 'status').text == 'dead',
                 message='the page to show it dead')
        wait_for(lambda: any(e.text == 'WARN: Job killed'
                             for e in find(browser, '#events .event .msg')),
                 message='the kill event')
        assert not browser.find_element(By().ID, 'kill').is_enabled()
    finally:
        disco.kill(job.name)


def test_dataflow_of_word_count(browser, disco, web_master, tmp_path):
    job = word_count(disco)
    results = job.wait(poll_interval=0.05)
    counts = dict(result_iterator(results))
    requested_urls(browser)
    browser.get(web_master + '/dataflow.html?name=' + job.name)
    wait_for(lambda: browser.find_element(By().TAG_NAME, 'body').get_attribute('data-status')
             == 'ready', message='the dataflow of the finished job')
    maps = find(browser, '.task[data-stage="map"]')
    assert len(maps) == 3
    assert [len(m.find_elements(By().CSS_SELECTOR, '.part')) for m in maps] == [2, 2, 2]
    assert len(find(browser, '.task[data-stage="map_shuffle"]')) == 1
    reduces = find(browser, '.task[data-stage="reduce"]')
    assert len(reduces) == 2
    assert all(t.get_attribute('data-state') == 'done' for t in find(browser, '.task'))
    # records: each input line is 1 record in, its words are the records out
    assert [m.get_attribute('data-records-in') for m in maps] == ['1', '1', '1']
    assert [int(m.get_attribute('data-records-out')) for m in maps] == \
        [len(w.split()) - 0 for w in (' '.join(u[6:].split()) for u in jobs.WORDS)]
    for m in maps:
        parts = m.find_elements(By().CSS_SELECTOR, '.part')
        assert sorted(p.get_attribute('data-label') for p in parts) == ['0', '1']
        assert sum(int(p.get_attribute('data-records')) for p in parts) == \
            int(m.get_attribute('data-records-out'))
    # a reduce reads every record of its partition and writes one record per distinct word
    assert sorted(int(r.get_attribute('data-records-in')) for r in reduces) == [8, 9]
    assert sum(int(r.get_attribute('data-records-out')) for r in reduces) == len(counts)
    results_shown = find(browser, '.result')
    assert len(results_shown) == 2
    assert sorted(int(r.get_attribute('data-records')) for r in results_shown) == \
        sorted(int(r.get_attribute('data-records-out')) for r in reduces)
    # arrows: 3 inputs -> maps, 3 x 2 partition files -> shuffle, 2 -> reduces, 2 -> results
    arrows = find(browser, 'svg path.arrow')
    assert len(arrows) == 3 + 6 + 2 + 2
    into_shuffle = [a for a in arrows if a.get_attribute('data-from').startswith('p-')
                    and a.get_attribute('data-to') == 't-3']
    assert sum(int(a.get_attribute('data-records')) for a in into_shuffle) == 17
    into_reduce = [a for a in arrows if a.get_attribute('data-to') in ('t-4', 't-5')]
    assert sorted(int(a.get_attribute('data-records')) for a in into_reduce) == [8, 9]
    labels = [t.text for t in find(browser, 'svg text.arrowlabel')]
    assert '4 rec \u00b7 77 B' in labels  # map:0's partition 0: cat sat on mat
    path = screenshot(browser, 'dataflow-wordcount')
    # clicking a task shows its events and lets one download its output
    find(browser, '#t-0')[0].click()
    detail = wait_for(lambda: find(browser, '#taskevents .event'), message='map:0 events')
    msgs = [e.find_element(By().CSS_SELECTOR, '.msg').text for e in detail]
    assert msgs[0] == 'map:0 assigned to localhost' and msgs[-1].startswith('SYS: [map:0]')
    links = find(browser, '#detail a.download')
    assert len(links) == 2
    href = links[0].get_attribute('href')
    assert href.startswith(web_master + '/disco/')
    with urllib.request.urlopen(href, timeout=10) as r:
        data = r.read()
    assert len(data) in (64, 77)
    screenshot(browser, 'dataflow-wordcount-task')
    assert_only_master(browser, web_master)
    assert os.path.getsize(path) > 10000


def test_dataflow_shows_a_failed_and_retried_task(browser, disco, web_master, tmp_path):
    marker = str(tmp_path / 'marker')
    open(str(tmp_path / 'none'), 'w').close()
    job = Job(name='flaky', master=disco).run(
        input=['raw://%s one two' % marker, 'raw://%s/none three' % tmp_path],
        map=jobs.flaky_map, reduce=jobs.word_reduce)
    job.wait(poll_interval=0.05)
    browser.get(web_master + '/dataflow.html?name=' + job.name)
    wait_for(lambda: browser.find_element(By().TAG_NAME, 'body').get_attribute('data-status')
             == 'ready', message='the dataflow')
    retried = find(browser, '.task.retried')
    assert len(retried) == 1
    task = retried[0]
    assert task.get_attribute('data-stage') == 'map'
    assert task.get_attribute('data-state') == 'done'
    assert task.get_attribute('data-failures') == '1'
    assert 'failed 1\u00d7, retried' in task.text
    task.click()
    msgs = wait_for(lambda: [e.text for e in find(browser, '#taskevents .event .msg')],
                    message='the events of the retried task')
    assert any('transient failure' in m for m in msgs)
    assert sum(m.endswith('assigned to localhost') for m in msgs) == 2
    screenshot(browser, 'dataflow-retried')


def test_dataflow_follows_a_running_job(browser, disco, web_master):
    job = slow_job(disco, 0.6, n=4, name='live')
    browser.get(web_master + '/dataflow.html?name=' + job.name)
    wait_for(lambda: find(browser, '.task[data-state="running"]'), message='a running task')
    screenshot(browser, 'dataflow-running')
    wait_for(lambda: len(find(browser, '.task[data-stage="map"][data-state="done"]')) == 4,
             timeout=30, message='all four map tasks done')
    assert browser.find_element(By().TAG_NAME, 'body').get_attribute('data-status') == 'ready'


def test_html_in_names_events_and_inputs_is_shown_as_text(browser, disco, web_master,
                                                           monkeypatch):
    evil = '<img src=x onerror="document.title=1">'
    monkeypatch.setenv('DISCO_JOB_OWNER', evil)
    try:
        job = Job(name='<b>bold</b>'.replace('/', ''), master=disco)
        job.run(input=['raw://' + evil, 'raw://<script>document.title=2</script>'],
                map=jobs.chatty_map)
    except Exception:  # a master that refuses such a prefix: the input and events remain
        job = Job(name='evil', master=disco).run(
            input=['raw://' + evil, 'raw://<script>document.title=2</script>'],
            map=jobs.chatty_map)
    job.wait(poll_interval=0.05)
    for page in ('/', '/job.html?name=', '/dataflow.html?name='):
        browser.get(web_master + page + (job.name if page != '/' else ''))
        wait_for(lambda: find(browser, '.event, .task, .joblist .job'), message=page)
        time.sleep(0.3)
        text = browser.find_element(By().TAG_NAME, 'body').text
        if page == '/':
            assert job.name in text
        elif page.startswith('/job'):
            wait_for(lambda: evil in browser.find_element(By().TAG_NAME, 'body').text,
                     message='the owner and events as text')
            assert 'MSG: [map:0] ' + evil in browser.find_element(By().TAG_NAME, 'body').text \
                or 'MSG: [map:1] ' + evil in browser.find_element(By().TAG_NAME, 'body').text
        else:
            assert evil[:20] in text
        assert not find(browser, 'main img, main script, main b')
        assert browser.title.endswith('discolite')


def test_unknown_and_purged_jobs_say_so(browser, disco, web_master):
    browser.get(web_master + '/job.html?name=NoSuchJob@000:00000:00000')
    msg = wait_for(lambda: find(browser, '#missing .message.error'), message='a message')[0]
    assert 'No job named "NoSuchJob@000:00000:00000"' in msg.text
    browser.get(web_master + '/dataflow.html?name=NoSuchJob@000:00000:00000')
    msg = wait_for(lambda: find(browser, '#missing .message.error'), message='a message')[0]
    assert 'No job named' in msg.text
    job = word_count(disco, 'topurge')
    job.wait(poll_interval=0.05)
    browser.get(web_master + '/job.html?name=' + job.name)
    wait_for(lambda: browser.find_element(By().ID, 'status').text == 'ready', message='job')
    browser.find_element(By().ID, 'purge').click()
    browser.switch_to.alert.accept()
    msg = wait_for(lambda: find(browser, '#missing .message.error'), message='purged')[0]
    assert 'purged' in msg.text
    assert job.name not in [n for _, _, n in disco.joblist()]
    browser.refresh()
    msg = wait_for(lambda: find(browser, '#missing .message.error'), message='gone')[0]
    assert 'No job named' in msg.text


@pytest.fixture(scope='module')
def crowded(tmp_path_factory):
    """A master with 1,000 finished jobs (no inputs: nothing to run) and one 1,000-task job."""
    from discolite import Disco
    from tests.helpers import http_master
    with http_master(tmp_path_factory.mktemp('crowded')) as url:
        disco = Disco(url)
        pack = Job(name='many', master=disco).pack(input=[], map=jobs.word_map).dumps()
        names = [disco.submit(pack) for _ in range(1000)]
        big = Job(name='thousand', master=disco).run(
            input=['raw://w%d x' % i for i in range(1000)], map=jobs.word_map,
            reduce=jobs.word_reduce, partitions=4)
        yield url, disco, names, big


def test_status_page_with_1000_jobs(browser, crowded):
    url, disco, names, big = crowded
    requested_urls(browser)
    start = time.time()
    browser.get(url + '/')
    wait_for(lambda: browser.execute_script("return document.querySelectorAll('.joblist .job').length")
             == 1001, message='1,001 rows')
    elapsed = time.time() - start
    assert find(browser, '.joblist .job')[0].get_attribute('data-name') == big.name  # newest first
    box = browser.find_element(By().ID, 'filter')
    box.send_keys(names[500].split('@')[1])
    wait_for(lambda: [r.get_attribute('data-name') for r in find(browser, '.joblist .job')]
             == [names[500]], message='the filter to find one job of 1,000')
    assert '(1 of 1001)' in browser.find_element(By().ID, 'jobcount').text
    assert_only_master(browser, url)
    with open(os.path.join(os.path.dirname(screenshot(browser, 'status-1000-jobs')),
                           'status-1000-jobs.txt'), 'w') as f:
        f.write('status page with 1,001 jobs listed in %.3f s (see benchmarks/web.py)\n'
                % elapsed)


def test_dataflow_of_a_1000_task_job(browser, crowded):
    url, disco, names, big = crowded
    big.wait(poll_interval=0.1, timeout=120)
    browser.get(url + '/dataflow.html?name=' + big.name)
    wait_for(lambda: browser.find_element(By().TAG_NAME, 'body').get_attribute('data-status')
             == 'ready', timeout=30, message='the dataflow of the 1,000-task job')
    column = find(browser, '.col[data-stage="map"]')[0]
    assert column.get_attribute('data-compact') == 'true'
    squares = column.find_elements(By().CSS_SELECTOR, '.sq')
    assert len(squares) == 1000
    assert all(s.get_attribute('data-state') == 'done' for s in squares[:20])
    assert '1000 done' in column.text and '1,000 in' in column.text
    reduces = find(browser, '.task[data-stage="reduce"]')
    assert len(reduces) == 4
    assert sum(int(r.get_attribute('data-records-in')) for r in reduces) == 2000
    wide = find(browser, 'svg path.arrow.wide')
    assert wide and all(w.get_attribute('data-records') for w in wide)
    squares[999].click()
    wait_for(lambda: find(browser, '#taskevents .event'), message='the events of map:999')
    assert 'map:999' in browser.find_element(By().ID, 'detail').text
    screenshot(browser, 'dataflow-1000-tasks')
    assert_only_master(browser, url)


def test_configuration_page_edits_the_node_table(browser, disco, web_master):
    import json as _json
    original = _json.loads(urllib.request.urlopen(web_master + '/disco/ctrl/load_config_table',
                                                  timeout=10).read())
    browser.get(web_master + '/config.html')
    wait_for(lambda: len(find(browser, 'tr.noderow')) == len(original), message='the table')
    try:
        browser.find_element(By().ID, 'addnode').click()
        row = find(browser, 'tr.noderow')[-1]
        row.find_element(By().CSS_SELECTOR, '.host').send_keys('node2')
        slots = row.find_element(By().CSS_SELECTOR, '.slots')
        slots.clear()
        slots.send_keys('3')
        browser.find_element(By().CSS_SELECTOR, '#config button[type=submit]').click()
        wait_for(lambda: browser.find_element(By().ID, 'configmsg').text == 'table saved!',
                 message='saved')
        table = _json.loads(urllib.request.urlopen(
            web_master + '/disco/ctrl/load_config_table', timeout=10).read())
        assert ['node2', '3'] in table
        browser.get(web_master + '/')
        wait_for(lambda: find(browser, '.node[data-host="node2"] .slots[data-slots="3"]'),
                 message='node2 on the status page')
        screenshot(browser, 'status-two-nodes')
        # a bad table is refused with the master's message
        browser.get(web_master + '/config.html')
        wait_for(lambda: len(find(browser, 'tr.noderow')) == len(original) + 1, message='table')
        browser.find_element(By().ID, 'addnode').click()
        find(browser, 'tr.noderow')[-1].find_element(By().CSS_SELECTOR, '.host').send_keys(
            'node2')
        browser.find_element(By().CSS_SELECTOR, '#config button[type=submit]').click()
        wait_for(lambda: 'duplicate nodes' in browser.find_element(By().ID, 'configmsg').text,
                 message='the refusal')
    finally:
        req = urllib.request.Request(web_master + '/disco/ctrl/save_config_table',
                                     data=_json.dumps(original).encode(), method='POST')
        urllib.request.urlopen(req, timeout=10).read()


def test_blacklist_button_flags_the_node(browser, disco, web_master):
    browser.get(web_master + '/')
    button = wait_for(lambda: find(browser, '.node[data-host="localhost"] button'),
                      message='the node box')[0]
    try:
        button.click()
        wait_for(lambda: find(browser, '.node.blacklisted[data-host="localhost"] .flag'),
                 message='the blacklisted flag')
        assert disco.request('/disco/ctrl/get_blacklist') in ('["localhost"]', b'["localhost"]')
        find(browser, '.node[data-host="localhost"] button')[0].click()
        wait_for(lambda: not find(browser, '.node.blacklisted'), message='whitelisted again')
    finally:
        disco.whitelist('localhost')
