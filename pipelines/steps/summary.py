"""The closing lines of every task log: what the step did and decided, readable without scrolling.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def summarize(step: str, lines: list[str]) -> None:
    """The last lines of every task log: what it did and decided, readable without scrolling."""
    log.info("== %s: %s", step, lines[0])
    for line in lines[1:]:
        log.info("   %s", line)
