"""``https://`` inputs (same as :mod:`discolite.schemes.scheme_http`)."""
from discolite.schemes.scheme_http import HTTPFile, input_stream, open  # noqa: F401
