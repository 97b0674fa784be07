"""Memory limits for tasks (``disco.sysutil``)."""
import os
import resource
import sys

_FALLBACK = 1024 ** 4   # 1 TiB where the size of physical memory cannot be read


def available_memory():
    """Physical memory in bytes (page size x pages; 1 TiB when unknown)."""
    try:
        pages = os.sysconf('SC_PHYS_PAGES')
        size = os.sysconf('SC_PAGE_SIZE')
        if pages > 0 and size > 0:
            return pages * size
    except (ValueError, OSError, AttributeError):
        pass
    if sys.platform == 'darwin':
        try:
            import subprocess
            return int(subprocess.check_output(['sysctl', '-n', 'hw.memsize']))
        except Exception:
            pass
    return _FALLBACK


def set_mem_limit(limit):
    """Lower the address-space limit (soft and hard) to ``limit``: ``'N%'`` of the physical
    memory, or a byte count; ``''`` (or None) leaves it alone."""
    if limit in ('', None):
        return
    text = str(limit).strip()
    if text.endswith('%'):
        try:
            fraction = float(text[:-1]) / 100
        except ValueError:
            raise ValueError("Invalid memory limit %r: expected 'N%%' or a number of bytes"
                             % (limit,))
        nbytes = int(available_memory() * fraction)
    else:
        try:
            nbytes = int(text)
        except ValueError:
            raise ValueError("Invalid memory limit %r: expected 'N%%' or a number of bytes"
                             % (limit,))
    if nbytes <= 0:
        raise ValueError("Invalid memory limit %r: must be positive" % (limit,))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        nbytes = min(nbytes, hard)   # a process may only lower its hard limit
    resource.setrlimit(resource.RLIMIT_AS, (nbytes, nbytes))
