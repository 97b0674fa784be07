"""A big task's inputs in a file (protocol.InputsFile) and the shuffle's label files."""
import os

from hypothesis import given, settings, strategies as st

from discolite.worker import Worker, protocol
from discolite.worker.classic.worker import _LabelFiles

urls = st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=3)
inputs = st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(-1, 100), urls), max_size=60)


@settings(max_examples=40, deadline=None)
@given(inputs, st.integers(1, 7))
def test_inputs_file_gives_back_what_was_written(tmp_path_factory, items, chunk):
    path = str(tmp_path_factory.mktemp('inputs') / 'map_shuffle-3.inputs')
    old = protocol.INPUTS_CHUNK
    protocol.INPUTS_CHUNK = chunk  # several chunks, a partial last one
    try:
        written = protocol.write_inputs_file(path, items)
    finally:
        protocol.INPUTS_CHUNK = old
    assert list(written) == [(i, l, list(u)) for i, l, u in items]
    assert list(written) == list(written)  # read again from the start
    assert not os.path.exists(path + '.partial')


def test_a_pool_task_lists_its_inputs_from_the_file(tmp_path):
    items = [(i, 0, ['dir://localhost/x/%d index' % i]) for i in range(2500)]
    inputs = protocol.write_inputs_file(str(tmp_path / 'reduce-0.inputs'), items)
    old = protocol.CHANNEL
    protocol.CHANNEL = protocol.PipeChannel(None, inputs)
    try:
        assert protocol.get_inputs() == [(i, l, u) for i, l, u in items]
        assert list(Worker().iter_inputs()) == [(i, l, u) for i, l, u in items]

        class Mine(Worker):
            def get_inputs(self):
                return [(0, 0, ['raw://mine'])]
        assert list(Mine().iter_inputs()) == [(0, 0, ['raw://mine'])]
    finally:
        protocol.CHANNEL = old


class _Task(object):
    stage, group = 'map_shuffle', (0, 'localhost')

    def __init__(self, root):
        self.taskpath = str(root)

    def path(self, name):
        return os.path.join(self.taskpath, name)

    def makedirs(self):
        os.makedirs(self.taskpath, exist_ok=True)


def test_label_files_keep_input_order_with_few_open(tmp_path, monkeypatch):
    monkeypatch.setattr(_LabelFiles, 'MAX_OPEN', 2)
    task = _Task(tmp_path / 'task')
    files = _LabelFiles(task)
    os.makedirs(task.taskpath)
    with open(files.path(1) + '.partial', 'wb') as f:
        f.write(b'left by an earlier attempt')
    writes = [(l, b'%d.%d;' % (l, i)) for i in range(5) for l in (2, 0, 1, 0)]
    for label, data in writes:
        files.get(label).write(data)
        assert len(files.open) <= 2
    files.close()
    assert files.labels == {0, 1, 2}
    for label in (0, 1, 2):
        with open(files.path(label) + '.partial', 'rb') as f:
            assert f.read() == b''.join(d for l, d in writes if l == label)


def test_no_label_no_directory(tmp_path):
    task = _Task(tmp_path / 'task')
    files = _LabelFiles(task)
    files.close()
    assert files.labels == set() and not os.path.exists(task.taskpath)
