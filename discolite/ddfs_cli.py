"""``discolite ddfs COMMAND ...``: Disco's ``ddfs`` command for everyday use.

Every command talks to the DDFS of one master (``-M URL``, else DISCO_MASTER, else
an in-process master that lives as long as the command).  Errors print one line
``discolite ddfs: error: ...`` and exit 1; ``exists`` exits 1 for a missing tag.
"""
import argparse
import os
import sys
import textwrap

from discolite.error import CommError, DiscoError

COMMANDS = {}


class UsageError(Exception):
    pass


def command(name, help, args=()):
    """Register ``func`` as a subcommand: ``args`` are (flags, kwargs) pairs."""
    def register(func):
        COMMANDS[name] = (func, help, args)
        return func
    return register


def _out(line=''):
    sys.stdout.write('%s\n' % line)


def _entries_line(entry):
    return '\t'.join(entry) if isinstance(entry, list) else str(entry)


@command('ls', 'list the tags starting with each PREFIX (all tags without one)',
         [(('prefix',), {'nargs': '*', 'metavar': 'PREFIX'})])
def cmd_ls(ddfs, args):
    for prefix in args.prefix or ['']:
        for name in ddfs.list(prefix):
            _out(name)


@command('exists', 'print True or False; exit 1 when a TAG does not exist',
         [(('tags',), {'nargs': '+', 'metavar': 'TAG'})])
def cmd_exists(ddfs, args):
    found = [ddfs.exists(tag) for tag in args.tags]
    for value in found:
        _out(value)
    return 0 if all(found) else 1


@command('urls', 'print the entries of each TAG, one per line (replicas TAB-separated)',
         [(('tags',), {'nargs': '+', 'metavar': 'TAG'})])
def cmd_urls(ddfs, args):
    for tag in args.tags:
        for entry in ddfs.urls(tag, token=args.token):
            _out(_entries_line(entry))


@command('blobs', 'print the blobs reachable from each TAG (links followed)',
         [(('tags',), {'nargs': '+', 'metavar': 'TAG'})])
def cmd_blobs(ddfs, args):
    for tag in args.tags:
        for blob in ddfs.blobs(tag, ignore_missing=False, token=args.token):
            _out(_entries_line(blob))


@command('find', 'print every tag reachable from each TAG (depth first; missing ones marked)',
         [(('tags',), {'nargs': '+', 'metavar': 'TAG'})])
def cmd_find(ddfs, args):
    from discolite.ddfs import tagname
    for tag in args.tags:
        for tagpath, tags, _blobs in ddfs.walk(tag, token=args.token):
            path = ' -> '.join(tagname(t) for t in tagpath)
            _out(path if tags != () or _blobs != () else '%s (missing)' % path)


@command('cat', 'write the bytes of every blob of each TAG (or blob URL) to stdout',
         [(('tags',), {'nargs': '+', 'metavar': 'TAG|URL'})])
def cmd_cat(ddfs, args):
    out = sys.stdout.buffer
    for item in args.tags:
        for replicas in _blob_lists(ddfs, item, args.token):
            out.write(ddfs.read_blob(replicas))
    out.flush()


@command('xcat', 'print the records stored in each TAG (e.g. saved results, chunks)',
         [(('tags',), {'nargs': '+', 'metavar': 'TAG|URL'})])
def cmd_xcat(ddfs, args):
    from discolite.core import result_iterator
    from discolite.ddfs import istag
    urls = [istag(t) if '://' not in t else t for t in args.tags]
    for record in result_iterator(urls, ddfs=ddfs.master):
        if isinstance(record, tuple) and len(record) == 2:
            _out('%r\t%r' % record)
        else:
            _out(repr(record))


@command('get', 'save every blob of TAG as a file named after the blob in DIR',
         [(('tag',), {'metavar': 'TAG'}), (('dir',), {'nargs': '?', 'default': '.'})])
def cmd_get(ddfs, args):
    os.makedirs(args.dir, exist_ok=True)
    for replicas in ddfs.blobs(args.tag, ignore_missing=False, token=args.token):
        name = ddfs.blob_name(replicas[0])
        path = os.path.join(args.dir, name)
        with open(path, 'wb') as f:
            f.write(ddfs.read_blob(replicas))
        _out(path)


@command('push', 'upload FILEs (directories: every file in them) as blobs of TAG',
         [(('tag',), {'metavar': 'TAG'}), (('files',), {'nargs': '+', 'metavar': 'FILE'}),
          (('-d', '--delayed'), {'action': 'store_true', 'help': 'delayed tag update'}),
          (('-u', '--update'), {'action': 'store_true',
                                'help': 'skip blob names the tag already has'}),
          (('-n', '--replicas'), {'type': int, 'help': 'replicas of each blob'})])
def cmd_push(ddfs, args):
    files = []
    for path in args.files:
        if os.path.isdir(path):
            for d, _dirs, names in sorted(os.walk(path)):
                files.extend(os.path.join(d, n) for n in sorted(names))
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise UsageError('no such file: %s' % path)
    _locs, blobs = ddfs.push(args.tag, files, replicas=args.replicas, delayed=args.delayed,
                             update=args.update, token=args.token)
    for blob in blobs:
        _out(_entries_line(blob))


@command('chunk', 'split the records (lines) of URLs/files into chunks stored in TAG',
         [(('tag',), {'metavar': 'TAG'}), (('urls',), {'nargs': '+', 'metavar': 'URL'}),
          (('-S', '--size'), {'type': int, 'default': 64 * 1024 * 1024,
                              'help': 'chunk size in bytes (default 64 MiB)'}),
          (('-d', '--delayed'), {'action': 'store_true'}),
          (('-u', '--update'), {'action': 'store_true'})])
def cmd_chunk(ddfs, args):
    _locs, blobs = ddfs.chunk(args.tag, args.urls, chunk_size=args.size, delayed=args.delayed,
                              update=args.update, token=args.token)
    for blob in blobs:
        _out(_entries_line(blob))


@command('tag', 'add each URL (an entry; a,b for replicas) to TAG, creating it if needed',
         [(('tag',), {'metavar': 'TAG'}), (('urls',), {'nargs': '*', 'metavar': 'URL'}),
          (('-d', '--delayed'), {'action': 'store_true'}),
          (('-u', '--update'), {'action': 'store_true'})])
def cmd_tag(ddfs, args):
    ddfs.tag(args.tag, [u.split(',') for u in args.urls], token=args.token,
             delayed=args.delayed, update=args.update)


@command('put', 'replace the entries of TAG by the URLs (a,b for replicas)',
         [(('tag',), {'metavar': 'TAG'}), (('urls',), {'nargs': '*', 'metavar': 'URL'})])
def cmd_put(ddfs, args):
    ddfs.put(args.tag, [u.split(',') for u in args.urls], token=args.token)


@command('touch', 'create each TAG (empty) unless it exists',
         [(('tags',), {'nargs': '+', 'metavar': 'TAG'})])
def cmd_touch(ddfs, args):
    for tag in args.tags:
        ddfs.tag(tag, [], token=args.token)


@command('cp', 'copy the entries of SRC to DST (DST is replaced)',
         [(('src',), {'metavar': 'SRC'}), (('dst',), {'metavar': 'DST'})])
def cmd_cp(ddfs, args):
    ddfs.put(args.dst, ddfs.urls(args.src, token=args.token), token=args.token)


@command('stat', "print a summary of each TAG: id, last-modified, entries, attributes",
         [(('tags',), {'nargs': '+', 'metavar': 'TAG'})])
def cmd_stat(ddfs, args):
    for tag in args.tags:
        doc = ddfs.get(tag, token=args.token)
        _out('%s	id=%s	last-modified=%s	entries=%d	attributes=%d'
             % (tag, doc['id'], doc['last-modified'], len(doc['urls']), len(doc['user-data'])))


@command('rm', 'delete each TAG (its blobs stay until garbage collected)',
         [(('tags',), {'nargs': '+', 'metavar': 'TAG'})])
def cmd_rm(ddfs, args):
    for tag in args.tags:
        ddfs.delete(tag, token=args.token)


@command('attrs', 'print the attributes of TAG (name TAB value)',
         [(('tag',), {'metavar': 'TAG'})])
def cmd_attrs(ddfs, args):
    for key, value in sorted(ddfs.attrs(args.tag, token=args.token).items()):
        _out('%s\t%s' % (key, value))


@command('getattr', 'print one attribute of TAG (also ddfs:read-token, ddfs:urls ...)',
         [(('tag',), {'metavar': 'TAG'}), (('attr',), {'metavar': 'ATTR'})])
def cmd_getattr(ddfs, args):
    value = ddfs.getattr(args.tag, args.attr, token=args.token)
    if isinstance(value, list):
        for entry in value:
            _out(_entries_line(entry))
    else:
        _out('' if value is None else value)


@command('setattr', 'set an attribute of TAG (creating the tag if needed)',
         [(('tag',), {'metavar': 'TAG'}), (('attr',), {'metavar': 'ATTR'}),
          (('value',), {'metavar': 'VALUE'})])
def cmd_setattr(ddfs, args):
    ddfs.setattr(args.tag, args.attr, args.value, token=args.token)


@command('delattr', 'delete an attribute of TAG',
         [(('tag',), {'metavar': 'TAG'}), (('attr',), {'metavar': 'ATTR'})])
def cmd_delattr(ddfs, args):
    ddfs.delattr(args.tag, args.attr, token=args.token)


@command('chtok', "set TAG's read and write tokens (-r / -w: only one of them)",
         [(('tag',), {'metavar': 'TAG'}), (('new',), {'metavar': 'TOKEN'}),
          (('-r', '--read'), {'action': 'store_true', 'help': 'only the read token'}),
          (('-w', '--write'), {'action': 'store_true', 'help': 'only the write token'})])
def cmd_chtok(ddfs, args):
    which = ['read'] if args.read and not args.write else \
        ['write'] if args.write and not args.read else ['read', 'write']
    for kind in which:  # the read token first: the write token may be needed to set it
        ddfs.setattr(args.tag, 'ddfs:%s-token' % kind, args.new, token=args.token)


def _blob_lists(ddfs, item, token):
    from discolite.ddfs import istag
    if '://' in item and not item.startswith('tag://'):
        return [[item]]
    if not istag(item):
        raise UsageError('not a tag or URL: %s' % item)
    return list(ddfs.blobs(item, ignore_missing=False, token=token))


def build_parser():
    parser = argparse.ArgumentParser(
        prog='discolite ddfs', formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.fill("Disco's `ddfs` command: tags and blobs of a master's "
                                  "DDFS.", 78))
    parser.add_argument('-M', '--master', metavar='URL', help='master URL (default: '
                        'DISCO_MASTER, else an in-process master)')
    parser.add_argument('-t', '--token', metavar='TOKEN', default=None,
                        help='token for every request (default: from the tag name, then '
                        'DDFS_READ_TOKEN / DDFS_WRITE_TOKEN)')
    parser.add_argument('-v', '--verbose', action='store_true', help='full tracebacks')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    for name, (func, help, args) in COMMANDS.items():
        p = sub.add_parser(name, help=help, description=help)
        for flags, kwargs in args:
            p.add_argument(*flags, **kwargs)
        p.set_defaults(func=func)
    return parser


def _message(e):
    if isinstance(e, CommError):
        body = e.msg
        if isinstance(body, str) and body.startswith(("b'", 'b"')):
            body = body[2:-1]
        where = e.url or ''
        return '%s (HTTP %s from %s)' % (body, e.code, where) if e.code else str(e)
    return str(e) or type(e).__name__


def main(argv=None, master=None):
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if not getattr(args, 'func', None):
        parser.print_help()
        return 2
    try:
        from discolite.ddfs import DDFS
        ddfs = DDFS(args.master or master)
        port = ddfs.master.rsplit(':', 1)[-1] if ddfs.master.startswith('http') else ''
        if port.isdigit() and 'DISCO_PORT' not in os.environ:
            os.environ['DISCO_PORT'] = port  # blob URLs (disco://host/...) resolve to it
        code = args.func(ddfs, args)
        sys.stdout.flush()
        return code or 0
    except BrokenPipeError:
        return 0
    except (DiscoError, UsageError, OSError, ValueError) as e:
        if args.verbose:
            raise
        sys.stderr.write('discolite ddfs: error: %s\n' % _message(e))
        return 1


if __name__ == '__main__':
    sys.exit(main())
