"""The promotion gate's record: each check, the decision, the alias moves it intends (written before
any alias moves) and what the register step returns.
"""

from __future__ import annotations

import datetime as dt

from pipelines.contracts.base import OVERALL, Contract, Outcome


class Check(Contract):
    name: str
    kind: str  # value | baseline | fairness | slices | change
    passed: bool
    value: float | None
    threshold: str
    detail: str
    slice: str = OVERALL
    skipped: bool = False
    rule: str = ""  # for change checks: point | non_inferiority | superiority


class Decision(Contract):
    decision: Outcome
    promote: bool
    reason: str
    champion_version: str | None
    checks: list[Check] = []

    @property
    def judged(self) -> list[Check]:
        return [c for c in self.checks if not c.skipped]

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    @property
    def promotion_checks(self) -> str:
        """passed = every judged promotion check passed, whatever the alias outcome."""
        return "passed" if self.judged and not self.failed else "failed"

    @property
    def checks_summary(self) -> str:
        passed = sum(c.passed and not c.skipped for c in self.checks)
        skipped = sum(c.skipped for c in self.checks)
        return f"{passed} passed, {len(self.failed)} failed, {skipped} not judged"


class AliasMove(Contract):
    alias: str
    version: str | None  # None: delete the alias


class DecisionRecord(Contract):
    """Written BEFORE any alias moves (write-ahead): a retry after a crash completes these moves."""

    project: str
    version: str
    run_id: str
    as_of: dt.date
    evaluation_uri: str
    decision: Decision
    champion_before: str | None
    previous_before: str | None
    moves: list[AliasMove]
    decided_at: str
    promote_allowed: bool = True


class Registered(Contract):
    version: str
    decision: str
    champion: str | None
    reused: bool
    decision_uri: str | None = None
