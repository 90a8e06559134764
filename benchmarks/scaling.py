"""``python -m benchmarks.scaling`` from a clone: the same as ``python -m graphc.bench.scaling``."""

import sys

from graphc.bench.scaling import main

if __name__ == "__main__":
    sys.exit(main())
