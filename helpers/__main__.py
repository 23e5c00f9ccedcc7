"""``python -m helpers run ...`` (see :mod:`helpers.course`) and ``python -m helpers caption ...``
(see :mod:`helpers.captioner`)."""

import sys

from helpers.course import main

if __name__ == "__main__":
    sys.exit(main())
