"""``disco.worker.classic.modutil``: the module finder of :mod:`discolite.worker.modutil`."""
from discolite.worker.modutil import *  # noqa: F401,F403
from discolite.worker.modutil import (ModUtilImportError, find_modules, locate_modules,  # noqa: F401
                                      parse_function, recurse_module, scanner, user_paths)
