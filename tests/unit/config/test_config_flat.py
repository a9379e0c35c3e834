"""config_from_flat / config_to_flat: round trips, nesting, and errors that name the key."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from visuomotor.config import config_from_flat, config_to_flat
from visuomotor.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Inner:
    size_m: float = 0.05
    names: tuple[str, ...] = ("a", "b")


@dataclass(frozen=True, slots=True)
class Outer:
    rate_hz: float = 30.0
    count: int = 3
    enabled: bool = False
    mode: str = "realtime"
    xy_m: tuple[float, float] = (0.5, -0.5)
    inner: Inner = field(default_factory=Inner)

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ConfigError(f"demo: count must be ≥ 0, got {self.count}")


def test_round_trip_and_defaults() -> None:
    flat = config_to_flat(Outer())
    assert flat == {"rate_hz": 30.0, "count": 3, "enabled": False, "mode": "realtime", "xy_m": [0.5, -0.5],
                    "inner.size_m": 0.05, "inner.names": ["a", "b"]}
    assert config_from_flat(Outer, flat, "demo") == Outer()
    got = config_from_flat(Outer, {"rate_hz": 15, "inner.names": ["x"], "xy_m": [1, 2]}, "demo")
    assert got == Outer(rate_hz=15.0, xy_m=(1.0, 2.0), inner=Inner(names=("x",)))
    assert isinstance(got.rate_hz, float)


def test_nested_mappings_are_flattened() -> None:
    assert config_from_flat(Outer, {"inner": {"size_m": 0.1}}, "demo").inner.size_m == 0.1


@pytest.mark.parametrize(
    ("flat", "match"),
    [
        ({"rate_hz_typo": 1.0}, "unknown demo parameter 'rate_hz_typo'"),
        ({"inner.sise_m": 1.0}, "unknown demo parameter 'inner.sise_m'"),
        ({"inner": 3}, "unknown demo parameter 'inner'"),
        ({"count": 1.5}, "demo: count must be an integer"),
        ({"enabled": 1}, "demo: enabled must be true or false"),
        ({"rate_hz": float("nan")}, "demo: rate_hz must be a finite number"),
        ({"xy_m": [1.0]}, "demo: xy_m must have 2 entries"),
        ({"mode": 3}, "demo: mode must be a string"),
        ({"count": -1}, "count must be ≥ 0"),
    ],
)
def test_errors_name_the_key(flat: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        config_from_flat(Outer, flat, "demo")
