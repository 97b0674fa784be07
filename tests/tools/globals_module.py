"""A job function that uses a module global (DISCOLITE_KEEP_GLOBALS tests)."""
SUFFIX = '!'


def shout_map(line, params):
    yield line + SUFFIX, 1
