import sys

from discolite.cli import main

sys.exit(main())
