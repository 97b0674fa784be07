"""``s3://BUCKET/KEY``: Amazon S3 objects.  Disco read them with boto under Python 2
only; discolite has no S3 client, so opening one says what is missing."""
from discolite.schemes._unavailable import needs

open = needs('s3', 'Amazon S3 access through the boto package (and network access)', 'boto')
input_stream = open
