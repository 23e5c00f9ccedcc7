"""``python -m helpers run ...``: see :mod:`helpers.course`."""

import sys

from helpers.course import main

if __name__ == "__main__":
    sys.exit(main())
