"""Parsing and validating job pack bytes as the Disco master does (messages are Disco's)."""
import json
import struct

from discolite.master import names

HEADER_SIZE = 128
GROUPINGS = ('split', 'group_node_label', 'group_node', 'group_label', 'group_all')


class JobPackError(ValueError):
    """The pack is refused; ``str()`` is the reason Disco would give.

    ``atom``: Disco's reason is an Erlang atom, shown bare (``Job failed to start:
    repeated_pipeline_stages``) rather than as a quoted string.
    """

    def __init__(self, reason, atom=False):
        super().__init__(reason)
        self.atom = atom

    def render(self):
        """The reason as Disco's ``~p`` shows it after ``Job failed to start: ``."""
        import json as _json
        return str(self) if self.atom else _json.dumps(str(self))


class ParsedJobPack(object):
    def __init__(self, version, jobdict, jobenvs, jobhome, jobdata):
        self.version = version
        self.jobdict = jobdict
        self.jobenvs = jobenvs
        self.jobhome = jobhome
        self.jobdata = jobdata


def parse(data):
    """Split and check job pack bytes; a :class:`ParsedJobPack`, or raises JobPackError."""
    if len(data) < HEADER_SIZE or data[:2] != b'\xd5\xc0':
        raise JobPackError('invalid header')
    magic, dict_off, envs_off, home_off, data_off = struct.unpack('!IIIII', data[:20])
    if not (dict_off == HEADER_SIZE and envs_off > dict_off and home_off >= envs_off
            and data_off >= home_off and len(data) >= data_off):
        raise JobPackError('invalid header')
    version = magic & 0xffff
    if version not in (1, 2):
        raise JobPackError("unsupported version '%d'" % version)
    try:
        jobdict = json.loads(data[dict_off:envs_off].decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as e:
        raise JobPackError("invalid payload: jobdict is not JSON (%s)" % e)
    if not isinstance(jobdict, dict):
        raise JobPackError("invalid payload: jobdict is not a JSON object")
    try:
        jobenvs = json.loads(data[envs_off:home_off].decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as e:
        raise JobPackError("invalid payload: jobenvs is not JSON (%s)" % e)
    if not isinstance(jobenvs, dict) or not all(isinstance(v, str) for v in jobenvs.values()):
        raise JobPackError("invalid payload: jobenvs must be an object of strings")
    check_jobdict(version, jobdict)
    return ParsedJobPack(version, jobdict, jobenvs, data[home_off:data_off], data[data_off:])


def check_jobdict(version, jobdict):
    """Raise JobPackError when a required key is missing or a value is malformed."""
    required = ['prefix', 'worker', 'owner']
    required += ['input', 'nr_reduces', 'scheduler'] if version == 1 else \
        ['pipeline', 'inputs', 'scheduler']
    for key in required:
        if key not in jobdict:
            raise JobPackError("jobpack missing key '%s'" % key)
    try:
        names.check_prefix(jobdict['prefix'])
    except names.InvalidName as e:
        raise JobPackError(str(e))
    if not isinstance(jobdict['worker'], str) or not jobdict['worker']:
        raise JobPackError('invalid payload: worker must be a path in the job home')
    if not isinstance(jobdict['owner'], str):
        raise JobPackError('invalid payload: owner must be a string')
    if 'save_results' in jobdict and not isinstance(jobdict['save_results'], bool):
        raise JobPackError('invalid_job_save_results')
    info = jobdict.get('save_info', 'ddfs')
    if not isinstance(info, str) or len(info) < 4 or info[:4] not in ('ddfs', 'hdfs'):
        raise JobPackError('invalid_job_save_info')
    scheduler = jobdict['scheduler']
    if not isinstance(scheduler, dict):
        raise JobPackError('invalid payload: scheduler must be an object')
    max_cores = scheduler.get('max_cores', 2 ** 31)
    if not isinstance(max_cores, int) or isinstance(max_cores, bool) or max_cores < 1:
        raise JobPackError('invalid payload: scheduler max_cores must be a positive integer')
    for flag in ('force_local', 'force_remote'):
        if flag in scheduler and not isinstance(scheduler[flag], bool):
            raise JobPackError("invalid payload: scheduler %s must be a boolean" % flag)
    if version == 1:
        inputs = jobdict['input']
        if not isinstance(inputs, list) or not all(
                isinstance(i, str) or (isinstance(i, list) and i and all(isinstance(u, str) for u in i))
                for i in inputs):
            raise JobPackError('invalid_job_inputs')
        nr = jobdict['nr_reduces']
        if not isinstance(nr, int) or isinstance(nr, bool) or nr < 1:
            raise JobPackError('invalid payload: nr_reduces must be a positive integer')
        for flag in ('map?', 'reduce?', 'reduce_shuffle?'):
            if flag in jobdict and not isinstance(jobdict[flag], bool):
                raise JobPackError("invalid payload: '%s' must be a boolean" % flag)
    else:
        check_pipeline(jobdict['pipeline'])
        inputs = jobdict['inputs']
        if not isinstance(inputs, list) or not all(
                isinstance(i, list) and len(i) == 3 and _is_int(i[0]) and _is_int(i[1])
                and isinstance(i[2], list) and i[2] and all(isinstance(u, str) for u in i[2])
                for i in inputs):
            raise JobPackError('invalid_job_inputs', atom=True)


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def check_pipeline(pipeline):
    """A v2 ``pipeline``: a list of ``[name, grouping, concurrent]``, names unique."""
    if not isinstance(pipeline, list):
        raise _pipeline_error('list expected', pipeline)
    for stage in pipeline:
        if not isinstance(stage, list) or len(stage) != 3:
            raise _pipeline_error('list of length 3 expected', stage)
        name, grouping, concurrent = stage
        for value, kind in ((name, 'string'), (grouping, 'string'), (concurrent, 'boolean')):
            if not isinstance(value, bool if kind == 'boolean' else str):
                raise _pipeline_error('%s expected' % kind, value)
    for name, grouping, _concurrent in pipeline:
        if grouping not in GROUPINGS:
            raise JobPackError("invalid grouping '%s'" % _erl_term(grouping))
    names = [s[0] for s in pipeline]
    if len(set(names)) != len(names):
        raise JobPackError('repeated_pipeline_stages', atom=True)


def _erl_term(value):
    """``value`` (decoded JSON) as Erlang's ``~p`` prints mochijson's decoding of it."""
    if isinstance(value, str):
        return '<<%s>>' % json.dumps(value)
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if value is None:
        return 'null'
    if isinstance(value, list):
        return '[%s]' % ','.join(_erl_term(v) for v in value)
    if isinstance(value, dict):
        return '{struct,[%s]}' % ','.join('{%s,%s}' % (_erl_term(k), _erl_term(v))
                                          for k, v in value.items())
    return json.dumps(value)


def _erl_string(text):
    return '"%s"' % text.replace('\\', '\\\\').replace('"', '\\"')


def _erl_chars(value):
    """``value`` as the deep character list io_lib builds for ``~p`` (printed with ``~p``)."""
    if isinstance(value, str):
        return '[60,60,%s,62,62]' % _erl_string(json.dumps(value))
    if isinstance(value, list):
        if not value:
            return _erl_string('[]')
        return '[91,[%s],93]' % ',44,'.join(_erl_chars(v) for v in value)
    return _erl_string(_erl_term(value))


def _pipeline_error(expected, value):
    """Disco's garbled reason: the validator's message reaches the formatter as a list of
    character codes, so the text comes out as ``FORMAT ERROR: ... [108,105,...]``."""
    codes = lambda text: ','.join(str(ord(c)) for c in text)  # noqa: E731
    message = '[%s,%s,%s]' % (codes("%s, '" % expected), _erl_chars(value), codes("' received"))
    return JobPackError('FORMAT ERROR: "Invalid job pipeline: ~s" %s' % message)


def classic_pipeline(jobdict):
    """The (stage, grouping) list of a v1 job (spec section 0)."""
    has_map = jobdict.get('map?', False)
    has_reduce = jobdict.get('reduce?', False)
    nr = jobdict['nr_reduces']
    shuffle = jobdict.get('reduce_shuffle?', False)
    stages = []
    if has_map:
        stages += [('map', 'split'), ('map_shuffle', 'group_node')]
    if has_reduce:
        if nr == 1:
            stages.append(('reduce', 'group_all'))
        else:
            stages.append(('reduce', 'group_label'))
            if shuffle:
                stages.append(('reduce_shuffle', 'group_node'))
    return stages


def pipeline(version, jobdict):
    """The ``(stage, grouping)`` list of a job of either version."""
    if version == 1:
        return classic_pipeline(jobdict)
    return [(name, grouping) for name, grouping, _concurrent in jobdict['pipeline']]


def job_inputs(version, jobdict):
    """Inputs as a list of replica lists, in the jobdict's order."""
    if version == 1:
        return [i if isinstance(i, list) else [i] for i in jobdict['input']]
    return [i[2] for i in jobdict['inputs']]
