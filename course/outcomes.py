"""Learning outcomes: what training *should* reach, recorded in ``config.json`` and warned about when it did not.

Role: course machinery; notebooks 06 and 08 call :func:`check_outcome` (an ``# extra code`` line), and the
course command's summary lists the outcomes that did not hold (:func:`outcome_lines`).
"""

from __future__ import annotations

import html
import warnings
from pathlib import Path

from course.config import read_config, update_config

OUTCOMES_SECTION = "outcomes"  # config.json: {name: {"holds": bool, "message": str}}, read by summary()


class OutcomeWarning(UserWarning):
    """A learning outcome did not hold on this run's data (the run goes on)."""


def check_outcome(run_dir: str | Path, name: str, holds: bool, message: str, *, detail: str = "") -> bool:
    """Record a learning outcome (``dev loss falls``, ``beats the constant caption``, ...) and say so when it
    did not hold: a visible warning box in the notebook, a :class:`OutcomeWarning`, and a line in the course
    summary (:func:`summary`). Never raises: on a user's data an outcome may fail without an error anywhere.

    Invariants (shapes, probabilities summing to 1) stay ``assert``; this is for what training *should* reach.
    Shown in notebook 06 (and used in 08). Returns ``holds``."""
    holds = bool(holds)
    text = message + (f" ({detail})" if detail else "")
    update_config(run_dir, OUTCOMES_SECTION, {name: {"holds": holds, "message": text}})
    if holds:
        print(f"✅ {text}")
        return True
    warnings.warn(f"learning outcome not reached: {text}", OutcomeWarning, stacklevel=2)
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display

        if get_ipython() is not None:
            display(
                HTML(
                    '<div style="border-left: 6px solid #d97706; background: #fff7ed; color: #7c2d12; '
                    'padding: 8px 12px; margin: 6px 0;"><b>⚠️ Learning outcome not reached:</b> '
                    f"{html.escape(text)}<br><i>The run goes on; see the README's \"What results to "
                    'expect" for what usually helps (more data, pretrained features, more epochs).</i>'
                    "</div>"
                )
            )
    except ImportError:
        pass
    return False


def outcome_lines(run_dir: str | Path) -> list[str]:
    """One line per recorded learning outcome that did not hold (empty when all held or none was recorded)."""
    try:
        outcomes = read_config(run_dir).get(OUTCOMES_SECTION, {})
    except (FileNotFoundError, ValueError):
        return []
    return [f"  WARNING, not reached: {o['message']}" for o in outcomes.values() if not o.get("holds", True)]
