"""The ``discolite`` command line."""
import sys


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == 'master':
        from discolite.master.httpserver import main as master_main
        return master_main(argv[1:])
    print('usage: discolite master [--host H] [--port P] [--data-dir D] [--workers N]',
          file=sys.stderr)
    return 2
