"""``disco.comm_pycurl``: Disco's pycurl-based HTTP layer, importable on Disco only where
pycurl is installed.  discolite never uses pycurl (``disco.comm`` speaks HTTP with the
standard library), so importing this module fails with an ImportError that says so."""
raise ImportError("disco.comm_pycurl is not provided by discolite: its HTTP client "
                  "(disco.comm) uses the standard library, never pycurl")
