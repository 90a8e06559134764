"""``python -m benchmarks.cold_start`` from a clone: the same as ``python -m graphc.bench.cold_start``."""

import sys

from graphc.bench.cold_start import main

if __name__ == "__main__":
    sys.exit(main())
