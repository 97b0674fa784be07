"""Web pages benchmark: ``python benchmarks/web.py [--quick]``.

A master with 1,000 jobs in its list (plus a word count and a 1,000-task job) is
served over HTTP on loopback; headless chromium (Debian's, through Selenium) loads
each page and the time from navigation start until the page shows its data is
read from the browser's own clock (``performance.now()``), with the time the
page's main thread was busy (Chrome's TaskDuration: less sensitive to a loaded
machine), and the ratio of that to a bare page building 1,000 rows of plain text in
the same run.  Target: every page under 1 second (median).  Needs ``chromium``, ``chromium-driver`` and ``selenium``.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from discolite import Disco, Job  # noqa: E402

TARGET = 1.0
WORDS = ['raw://the cat sat on the mat', 'raw://the dog sat on the log', 'raw://a cat and a dog']


def word_map(line, params):
    for word in line.split():
        yield word, 1


def word_reduce(iter, params):
    from disco.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    os.environ['SE_OFFLINE'] = 'true'
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which('chromium') or shutil.which('chromium-browser')
    for arg in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu',
                '--window-size=1500,950', '--disable-background-networking'):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=shutil.which('chromedriver')),
                            options=options)


def main_thread_seconds(driver):
    """Seconds the page's renderer main thread has been busy (Chrome's TaskDuration)."""
    metrics = driver.execute_cdp_cmd('Performance.getMetrics', {})['metrics']
    return {m['name']: m['value'] for m in metrics}.get('TaskDuration', 0.0)


def load_time(driver, url, ready_js, timeout=20):
    """(wall seconds from navigation start until ``ready_js`` is true, main-thread seconds)."""
    driver.get('about:blank')
    driver.execute_cdp_cmd('Performance.enable', {})
    busy = main_thread_seconds(driver)
    driver.get(url)
    deadline = time.time() + timeout
    while time.time() < deadline:
        done, now = driver.execute_script('return [!!(%s), performance.now()]' % ready_js)
        if done:
            return now / 1000.0, main_thread_seconds(driver) - busy
        time.sleep(0.02)
    raise RuntimeError('page %s not ready after %ss' % (url, timeout))


def start_master(data_dir):
    """``discolite master`` in a subprocess (as a user runs it); returns (process, url)."""
    proc = subprocess.Popen([sys.executable, '-m', 'discolite', 'master', '--port', '0',
                             '--workers', '2', '--data-dir', data_dir],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()
    if 'http://' not in line:
        proc.kill()
        raise RuntimeError('discolite master did not start: %s' % line)
    url = line.split(' at ', 1)[1].split()[0]
    os.environ['DISCO_PORT'] = url.rsplit(':', 1)[1]
    return proc, url


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='2 loads per page instead of 7')
    parser.add_argument('--jobs', type=int, default=1000)
    args = parser.parse_args(argv)
    runs = 2 if args.quick else 7
    data_dir = tempfile.mkdtemp(prefix='discolite-web-bench-')
    proc, url = start_master(data_dir)
    driver = None
    try:
        disco = Disco(url)
        t0 = time.time()
        pack = Job(name='many', master=disco).pack(input=[], map=word_map).dumps()
        for _ in range(args.jobs - 2):
            disco.submit(pack)
        wc = Job(name='wordcount', master=disco).run(input=WORDS, map=word_map,
                                                      reduce=word_reduce, partitions=2)
        wc.wait(poll_interval=0.05)
        big = Job(name='thousand', master=disco).run(
            input=['raw://w%d x' % i for i in range(1000)], map=word_map, reduce=word_reduce,
            partitions=4)
        big.wait(poll_interval=0.1)
        njobs = len(disco.joblist())
        print('== web pages: %d jobs in the list (set up in %.1f s), median of %d loads'
              % (njobs, time.time() - t0, runs))
        events = len(list(disco.events(wc.name)))
        pages = [
            ('status page (%d jobs)' % njobs, '/',
             "document.querySelectorAll('.joblist .job').length == %d" % njobs),
            ('job page (word count, %d events)' % events, '/job.html?name=' + wc.name,
             "document.querySelectorAll('#events .event').length == %d" % events),
            ('dataflow (word count)', '/dataflow.html?name=' + wc.name,
             "document.body.dataset.status == 'ready' && "
             "document.querySelectorAll('svg path.arrow').length == 13"),
            ('dataflow (1,000-task job)', '/dataflow.html?name=' + big.name,
             "document.body.dataset.status == 'ready' && "
             "document.querySelectorAll('.sq').length == 1000"),
            ('configuration page', '/config.html',
             "document.querySelectorAll('tr.noderow').length == 1"),
        ]
        driver = browser()
        # baseline, same browser and run: a bare page that builds 1,000 plain rows of text
        baseline = ('data:text/html,<body><script>for (var i = 0; i < %d; i++) {'
                    'var d = document.createElement("div"); d.className = "r";'
                    'd.textContent = "job" + i + "@704:871e5:e8de3 ready 2026/12/06 10:40";'
                    'document.body.appendChild(d);}</script></body>' % njobs)
        base = [load_time(driver, baseline, "document.querySelectorAll('.r').length == %d"
                          % njobs) for _ in range(runs)]
        base_wall = statistics.median(w for w, _ in base)
        base_busy = statistics.median(b for _, b in base)
        print('%-36s %10s %10s %12s %8s  %s' % ('page', 'median', 'max', 'main thread',
                                                 'ratio', 'target < %.0f ms' % (TARGET * 1e3)))
        print('%-36s %7.0f ms %10s %9.0f ms %8s' % ('baseline: %d bare rows' % njobs,
                                                   base_wall * 1e3, '', base_busy * 1e3, '1.0'))
        failed = 0
        for title, path, ready in pages:
            loads = [load_time(driver, url + path, ready) for _ in range(runs)]
            times = [wall for wall, _ in loads]
            med = statistics.median(times)
            ok = med < TARGET
            failed += not ok
            busy = statistics.median(b for _, b in loads)
            print('%-36s %7.0f ms %7.0f ms %9.0f ms %8.1f  %s'
                  % (title, med * 1e3, max(times) * 1e3, busy * 1e3,
                     busy / base_busy if base_busy else 0, 'ok' if ok else 'TOO SLOW'))
        if failed:
            print('%d page(s) over the target' % failed)
    finally:
        if driver is not None:
            driver.quit()
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == '__main__':
    main()
