"""``python -m course run ...`` and ``python -m course caption ...``: the same as ``python -m helpers ...``."""

import sys

from course import quiet

if __name__ == "__main__":
    # Before TensorFlow or a notebook's kernel starts: no TensorFlow log lines, and no kernel TCP notice, in the output.
    quiet.setup()

    from course.cli import main  # after quiet.setup(): the commands import TensorFlow's neighbours

    sys.exit(main())
