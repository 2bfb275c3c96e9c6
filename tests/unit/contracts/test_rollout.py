"""The rollout setting and the canary's routing: share held, the same key always on the same arm."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipelines.contracts.rollout import BUCKETS, Rollout, bucket, in_canary


@pytest.mark.parametrize("share", [0.01, 0.1, 0.25, 0.5])
def test_canary_share_within_two_points_over_10000_ids(share):
    ids = [f"id:{15_600_000 + i}" for i in range(10_000)]
    got = sum(in_canary(k, share) for k in ids) / len(ids)
    assert abs(got - share) <= 0.02, (share, got)


def test_the_same_id_always_lands_on_the_same_arm_and_a_bigger_share_only_adds():
    ids = [f"id:{i}" for i in range(2000)]
    first = [in_canary(k, 0.1) for k in ids]
    assert first == [in_canary(k, 0.1) for k in ids]  # stable (no process-salted hash)
    assert bucket("id:42") == bucket("id:42") and 0 <= bucket("id:42") < BUCKETS
    wider = [in_canary(k, 0.2) for k in ids]
    assert all(w for f, w in zip(first, wider) if f)  # raising the share keeps everyone already in the canary


def test_the_tag_round_trips_and_bad_settings_are_refused_naming_the_rule():
    r = Rollout(mode="canary", share=0.1, set_by="ana")
    assert Rollout.from_tag(r.to_tag()) == r and Rollout.from_tag(None).mode == "off"
    for bad, msg in (({"mode": "canary", "share": 0.0}, "0 < share <= 0.5"), ({"mode": "canary", "share": 0.9}, "promote"),
                     ({"mode": "shadow", "share": 0.2}, "only for a canary"), ({"mode": "blue"}, "mode")):
        with pytest.raises(ValidationError, match=msg):
            Rollout.model_validate(bad)
    with pytest.raises(ValueError):
        Rollout.from_tag("{not json")
