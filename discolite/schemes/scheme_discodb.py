"""``discodb://...``: DiscoDB files.  They need Disco's ``discodb`` C extension, which is
not part of discolite (nor built for Python 3), so every name here says so."""
from discolite.schemes._unavailable import Unavailable, needs

_need = needs('discodb', "Disco's discodb C extension", 'discodb')
open = input_stream = _need
discodb_output = discodb_stream = _need


class Open(Unavailable):
    _error = staticmethod(_need)


class DiscoDBOutput(Unavailable):
    _error = staticmethod(_need)
