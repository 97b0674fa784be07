"""Many clients at once: 20 jobs from 4 threads, nothing of one job shows up in another."""
import threading

from discolite import Disco, Job, result_iterator

from tests.control.common import POLL

JOBS, THREADS = 20, 4


def tagged_map(line, params):
    tag = params
    put('%s-%s' % (tag, line), ('%s:%s' % (tag, line)).encode())
    print('event-of-%s' % tag)
    yield '%s-%s' % (tag, line), 1


def tagged_reduce(iter, params):
    put('%s-reduce' % params, params.encode())
    for k, v in iter:
        yield k, get(k).decode()


def test_twenty_jobs_from_four_threads(disco):
    submitted, errors = {}, []
    barrier = threading.Barrier(THREADS)

    def client(t):
        try:
            mine = Disco(disco.master)  # each thread has its own client
            barrier.wait(10)
            for i in range(JOBS // THREADS):
                tag = 't%dj%d' % (t, i)
                job = Job(master=mine).run(input=['raw://a', 'raw://b'], map=tagged_map,
                                           reduce=tagged_reduce, params=tag)
                submitted[tag] = job.name
            for i in range(JOBS // THREADS):
                mine.wait(submitted['t%dj%d' % (t, i)], poll_interval=POLL, timeout=120)
        except Exception as e:  # reported below
            errors.append(e)
    threads = [threading.Thread(target=client, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not errors, errors
    assert len(submitted) == JOBS and len(set(submitted.values())) == JOBS
    for tag, name in submitted.items():
        status, results = disco.results(name)
        assert status == 'ready'
        got = sorted(result_iterator(results, ddfs=disco.master))
        assert got == [('%s-a' % tag, '%s:a' % tag), ('%s-b' % tag, '%s:b' % tag)]
        assert sorted(disco.oob_list(name)) == sorted(['%s-a' % tag, '%s-b' % tag,
                                                       '%s-reduce' % tag])
        texts = [e[2] for _o, e in disco.events(name)]
        printed = [t for t in texts if 'event-of-' in t]
        assert len(printed) == 2 and all(t.endswith('event-of-%s' % tag) for t in printed)
        assert 'Created job "%s"' % name in texts
        assert not any(other in t for other in submitted.values() if other != name
                       for t in texts)
        assert all(name in u for r in results for u in r)
