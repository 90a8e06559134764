"""``python -m graphc.bench [options]``: ``graphc bench`` measured in this process."""

import sys

from graphc.bench.run import main

sys.exit(main())
