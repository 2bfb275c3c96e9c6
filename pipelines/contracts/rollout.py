"""The online rollout of a project's `challenger`, as the prediction service reads it from the
registered model's `mlops.rollout` tag (set by `pipelines rollout`, picked up without a restart):

- `off`: only `champion` answers;
- `shadow`: `champion` answers every request; after the response, `challenger` scores the same
  records and its predictions are logged with its version and the arm `shadow`;
- `canary`: a stable hash of each record's id (the project's `id_column`, else the record's values)
  sends `share` of the records to `challenger`, which answers them; the response names the version.

The arm of a record is a pure function of its key, so the same customer always meets the same model
and the realized outcomes of the two arms can be compared later.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import Field, model_validator

from pipelines.contracts.base import Contract

RolloutMode = Literal["off", "shadow", "canary"]
ARM_CHAMPION, ARM_CHALLENGER, ARM_SHADOW = "champion", "challenger", "shadow"
BUCKETS = 10_000


class Rollout(Contract):
    mode: RolloutMode = "off"
    share: float = Field(0.0, ge=0.0, le=1.0)
    set_by: str | None = None
    set_at: str | None = None
    reason: str | None = None

    @model_validator(mode="after")
    def _share_fits_mode(self) -> Rollout:
        if self.mode == "canary" and not 0.0 < self.share <= 0.5:
            raise ValueError(f"a canary needs 0 < share <= 0.5 (got {self.share}); past half, promote the challenger instead")
        if self.mode != "canary" and self.share:
            raise ValueError(f"share is only for a canary (mode {self.mode!r} got share {self.share})")
        return self

    @classmethod
    def from_tag(cls, value: str | None) -> Rollout:
        """The tag's JSON; no tag means `off`. A malformed tag raises (the service then keeps its
        last good setting and says why, rather than guessing)."""
        if value is None:
            return cls()
        return cls.model_validate(json.loads(value))

    def to_tag(self) -> str:
        return json.dumps(self.model_dump(exclude_none=True), sort_keys=True)


def bucket(key: str) -> int:
    """0..9,999 from a keyed hash of the record's key: stable across processes and restarts (unlike
    Python's `hash`), uniform enough that a 10% canary gets 10% +- noise of the records."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8, person=b"mlops-canary").digest(), "big") % BUCKETS


def in_canary(key: str, share: float) -> bool:
    return bucket(key) < round(share * BUCKETS)
