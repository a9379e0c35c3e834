"""ApproximateTimeSync: sets are matched by stamp within the slop, in any arrival order, once."""

from __future__ import annotations

import itertools
import random

import pytest

from visuomotor.errors import ConfigError
from visuomotor_ros.sync import ApproximateTimeSync

MS = 1_000_000


def test_exact_stamps_in_any_arrival_order() -> None:
    inputs = ("det", "depth", "info")
    for order in itertools.permutations(inputs):
        sync = ApproximateTimeSync(inputs, slop_ns=0)
        results = [sync.push(name, 100 * MS, name.upper()) for name in order]
        assert results[:2] == [None, None]
        assert results[2] == {n: (100 * MS, n.upper()) for n in inputs}
        assert sync.matched == 1


def test_slop_and_interleaved_streams_with_drops() -> None:
    sync = ApproximateTimeSync(("a", "b"), slop_ns=3 * MS, queue_size=5)
    rng = random.Random(0)
    events = []
    for k in range(200):
        t = k * 33 * MS
        if k % 7 != 3:  # stream a drops every 7th frame
            events.append(("a", t, k))
        events.append(("b", t + rng.randint(-2, 2) * MS, k))  # b jitters within the slop
    rng.shuffle(events)
    events.sort(key=lambda e: e[1] // (33 * MS))  # frames arrive roughly in order, topics interleaved
    matched = [m for e in events if (m := sync.push(*e))]
    frames = [m["a"][1] for m in matched]
    assert all(m["a"][1] == m["b"][1] for m in matched)  # never a cross-frame pair
    assert frames == sorted(frames) and len(frames) == len(set(frames))
    assert len(frames) == sum(1 for k in range(200) if k % 7 != 3)


def test_outside_slop_never_matches_and_old_items_are_discarded() -> None:
    sync = ApproximateTimeSync(("a", "b"), slop_ns=1 * MS)
    assert sync.push("a", 10 * MS, 1) is None
    assert sync.push("b", 12 * MS, 2) is None
    assert sync.push("a", 12 * MS, 3) == {"a": (12 * MS, 3), "b": (12 * MS, 2)}
    assert sync.discarded == 1  # the unmatched a@10 ms


def test_bad_configuration_and_input() -> None:
    with pytest.raises(ConfigError, match="≥ 2 distinct inputs"):
        ApproximateTimeSync(("a",))
    with pytest.raises(ConfigError, match="unknown input 'c'"):
        ApproximateTimeSync(("a", "b")).push("c", 0, None)
