"""``python -m helpers run ...`` and ``python -m helpers caption ...`` (see :mod:`helpers.cli`)."""

import sys

from helpers.cli import main

if __name__ == "__main__":
    sys.exit(main())
