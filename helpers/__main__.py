"""``python -m helpers run ...`` (see :mod:`helpers.course`) and ``python -m helpers caption ...``
(see :mod:`helpers.captioner`)."""

import sys

from helpers import quiet

if __name__ == "__main__":
    # Before TensorFlow or a notebook's kernel starts: no TensorFlow log lines, and no kernel TCP notice, in the output.
    quiet.setup()

    from helpers.course import main

    sys.exit(main())
