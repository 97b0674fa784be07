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
        row = wait_for(lambda: find(browser, 'tr.job[data-name="%s"]' % running.name),
                       message='the running job in the list')[0]
        assert row.get_attribute('data-status') == 'active'
        row = find(browser, 'tr.job[data-name="%s"]' % done.name)[0]
        assert row.get_attribute('data-status') == 'ready'
        names = [r.get_attribute('data-name') for r in find(browser, 'tr.job')]
        assert names.index(running.name) < names.index(done.name)  # newest first
        node = wait_for(lambda: [n for n in find(browser, '.node .slots')
                                 if n.get_attribute('data-busy') == '1'],
                        message='a busy slot')[0]
        assert node.get_attribute('data-slots') == '2'
        assert len(find(browser, '.slot.busy')) == 1
        screenshot(browser, 'status-page')
        browser.find_element(By().ID, 'filter').send_keys('finished')
        wait_for(lambda: [r.get_attribute('data-name') for r in find(browser, 'tr.job')]
                 == [done.name], message='the filter to leave the finished job only')
        assert_only_master(browser, web_master)
    finally:
        disco.kill(running.name)

