"""``python -m helpers run ...`` and ``python -m helpers caption ...`` (see :mod:`helpers.cli`)."""

import sys

from helpers import quiet

if __name__ == "__main__":
    # Before TensorFlow or a notebook's kernel starts: no TensorFlow log lines, and no kernel TCP notice, in the output.
    quiet.setup()

    from helpers.cli import main

    sys.exit(main())
