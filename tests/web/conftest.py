"""Browser tests: Debian's chromium driven by Selenium, against a `discolite master`.

Skipped, with the reason, when Selenium, chromium or chromedriver is missing
(`.ci/run` installs them: `apt-get install chromium chromium-driver`, `pip install
selenium`).  Selenium is pointed at Debian's binaries and told to stay offline, so
no browser or driver is ever downloaded.  Screenshots go to tests/artifacts/.
"""
import json
import os
import shutil
import time
from urllib.parse import urlsplit

import pytest

from discolite import Disco

ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         'artifacts')
CHROMIUM = os.environ.get('DISCOLITE_CHROMIUM') or shutil.which('chromium') or \
    shutil.which('chromium-browser')
CHROMEDRIVER = os.environ.get('DISCOLITE_CHROMEDRIVER') or shutil.which('chromedriver')


def start_browser(width=1500, height=950):
    """A headless chromium (Selenium); raises pytest.skip with the reason if it cannot."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip('browser tests need Selenium: pip install selenium')
    if not CHROMIUM or not CHROMEDRIVER:
        pytest.skip('browser tests need chromium and chromedriver: '
                    'apt-get install chromium chromium-driver')
    os.environ['SE_OFFLINE'] = 'true'  # Selenium Manager must never download anything
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu',
                '--window-size=%d,%d' % (width, height), '--no-first-run',
                '--disable-background-networking', '--disable-component-update',
                '--disable-sync', '--disable-default-apps', '--disable-extensions'):
        options.add_argument(arg)
    options.set_capability('goog:loggingPrefs', {'performance': 'ALL', 'browser': 'ALL'})
    try:
        return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    except Exception as e:
        pytest.skip('cannot start headless chromium: %s' % str(e).splitlines()[0])


@pytest.fixture(scope='session')
def browser():
    driver = start_browser()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(autouse=True)
def _fresh_page(request):
    """Each browser test starts on a blank page with an empty network log (so requests of
    the previous test's pages, to another master, are not counted against this one)."""
    if 'browser' in request.fixturenames:
        driver = request.getfixturevalue('browser')
        driver.get('about:blank')
        requested_urls(driver)
        driver.get_log('browser')
    yield


@pytest.fixture(scope='session')
def web_master(tmp_path_factory):
    """URL of a `discolite master` subprocess (2 workers) on loopback."""
    from tests.helpers import http_master
    with http_master(tmp_path_factory.mktemp('web-master')) as url:
        yield url


@pytest.fixture
def disco(web_master):
    return Disco(web_master)


@pytest.fixture(scope='session')
def artifacts():
    os.makedirs(ARTIFACTS, exist_ok=True)
    return ARTIFACTS


def screenshot(driver, name):
    """Save a PNG of the whole page under tests/artifacts/ and return its path."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, name + '.png')
    width = driver.execute_script('return document.documentElement.scrollWidth')
    height = driver.execute_script('return document.documentElement.scrollHeight')
    size = driver.get_window_size()
    driver.set_window_size(max(size['width'], min(width + 40, 4000)),
                           max(size['height'], min(height + 160, 6000)))
    try:
        driver.save_screenshot(path)
    finally:
        driver.set_window_size(size['width'], size['height'])
    return path


def wait_for(condition, timeout=20, interval=0.05, message='condition'):
    """Poll ``condition()`` until it returns something true; return that."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = condition()
        except Exception as e:  # an element replaced between find and read: try again
            last = e
            if type(e).__name__ not in ('StaleElementReferenceException',
                                        'NoSuchElementException', 'JavascriptException'):
                raise
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError('timed out waiting for %s (last: %r)' % (message, last))


def requested_urls(driver):
    """URLs the browser requested since the last call (from its performance log)."""
    urls = []
    for entry in driver.get_log('performance'):
        message = json.loads(entry['message'])['message']
        if message.get('method') == 'Network.requestWillBeSent':
            urls.append(message['params']['request']['url'])
    return urls


def assert_only_master(driver, master_url):
    """Every request the pages made went to the master (nothing else, not even a font)."""
    origin = urlsplit(master_url)
    urls = requested_urls(driver)
    assert urls, 'the performance log recorded no request at all'
    foreign = [u for u in urls if not u.startswith('data:') and
               (urlsplit(u).scheme, urlsplit(u).netloc) != (origin.scheme, origin.netloc)]
    assert not foreign, foreign
    errors = [e['message'] for e in driver.get_log('browser') if e['level'] == 'SEVERE']
    assert not errors, errors  # no script error, no request or style the policy refused
    return urls
