"""``python -m helpers run ...`` and ``python -m helpers caption ...``: the course's commands (:mod:`course.cli`).

Kept here because this is the command the course has always documented; ``python -m course`` is the same.
"""

import sys

from course import quiet

if __name__ == "__main__":
    # Before TensorFlow or a notebook's kernel starts: no TensorFlow log lines, and no kernel TCP notice, in the output.
    quiet.setup()

    from course.cli import main  # after quiet.setup(): the commands import TensorFlow's neighbours

    sys.exit(main())
