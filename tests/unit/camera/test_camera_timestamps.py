"""Device → host time mapping, depth-unit conversion and CameraInfo fields, against reference numbers."""

from __future__ import annotations

import numpy as np
import pytest

from visuomotor.camera import ClockOffsetEstimator, camera_info_fields, depth_to_millimetres
from visuomotor.errors import CameraError, ConfigError
from visuomotor.geometry import CameraIntrinsics

PERIOD_NS = 33_333_333  # 30 fps


def _simulate(n: int, offset_ns: int, latency_min_ns: int, jitter_mean_ns: float, drift_ppm: float = 0.0):
    """Device stamps of a 30 fps stream and their host arrivals: offset + drift + min latency + Exp jitter."""
    rng = np.random.default_rng(3)
    device = np.arange(n, dtype=np.int64) * PERIOD_NS + 5_000_000_000
    true_host = device + offset_ns + (device * drift_ppm * 1e-6).astype(np.int64)
    arrival = true_host + latency_min_ns + rng.exponential(jitter_mean_ns, n).astype(np.int64)
    return device, true_host, arrival


def test_min_offset_removes_transport_jitter_and_never_stamps_the_future() -> None:
    device, true_host, arrival = _simulate(
        900, offset_ns=1_700_000_000_000_000_000, latency_min_ns=2_000_000, jitter_mean_ns=4e6
    )
    est = ClockOffsetEstimator(window_s=10.0)
    stamps = np.array([est.update(int(d), int(h)) for d, h in zip(device, arrival, strict=True)])
    assert np.all(stamps <= arrival)
    err = stamps - (true_host + 2_000_000)  # ideal: exposure time + the smallest latency (not separable)
    assert np.all(err >= 0)
    # After ~1 s the window holds a nearly undelayed frame: stamps sit within 0.2 ms of ideal...
    assert np.max(err[30:]) < 200_000
    # ...while arrivals scatter by the full jitter (σ ≈ 4 ms): the spacing of stamps is the device's.
    assert np.std(np.diff(stamps[30:])) < 0.02 * np.std(np.diff(arrival[30:]))


def test_window_follows_clock_drift() -> None:
    # 100 ppm drift (twice a poor crystal) for 60 s: the windowed minimum may age by ≤ window × drift.
    device, true_host, arrival = _simulate(
        1800, offset_ns=0, latency_min_ns=1_000_000, jitter_mean_ns=2e6, drift_ppm=100.0
    )
    est = ClockOffsetEstimator(window_s=2.0)
    stamps = np.array([est.update(int(d), int(h)) for d, h in zip(device, arrival, strict=True)])
    err = stamps - (true_host + 1_000_000)
    assert np.all(stamps <= arrival)
    assert np.max(np.abs(err[60:])) < 2.0 * 100e-6 * 2e9 + 300_000  # 0.4 ms drift bound + jitter floor


def test_device_clock_going_backwards_resets_the_estimate() -> None:
    est = ClockOffsetEstimator(window_s=10.0)
    est.update(10_000_000_000, 50_000_000_000)
    assert est.offset_ns == 40_000_000_000
    # A device reset: its clock restarts near zero; the old offset would put stamps 10 s in the past.
    stamp = est.update(1_000_000, 50_100_000_000)
    assert est.resets == 1
    assert stamp == 50_100_000_000
    with pytest.raises(ConfigError, match=r"offset_window_s must be positive"):
        ClockOffsetEstimator(window_s=0.0)


def test_depth_units_are_normalised_to_millimetres() -> None:
    raw = np.array([[0, 8000, 65535], [1, 5, 12345]], dtype=np.uint16)
    # D405-style 0.1 mm units: 8000 → 800 mm; 5 counts = 0.5 mm rounds to even (0); 0 stays "no data".
    np.testing.assert_array_equal(
        depth_to_millimetres(raw, 0.0001), np.array([[0, 800, 6554], [0, 0, 1234]], dtype=np.uint16)
    )
    # The float32 the device reports for 1 mm converts nothing (and copies).
    out = depth_to_millimetres(raw, float(np.float32(0.001)))
    np.testing.assert_array_equal(out, raw)
    assert out is not raw
    # 1 cm units: 65535 counts = 655 m does not fit 16-bit mm → "no data", never a false 65.5 m.
    np.testing.assert_array_equal(depth_to_millimetres(raw, 0.01)[0], np.array([0, 0, 0], dtype=np.uint16))
    with pytest.raises(CameraError, match=r"depth unit of 0\.0 m"):
        depth_to_millimetres(raw, 0.0)


def test_camera_info_fields_follow_realsense2_camera() -> None:
    K = CameraIntrinsics(640, 480, 600.0, 601.0, 320.5, 240.25)
    info = camera_info_fields(K)
    assert info["k"] == [600.0, 0.0, 320.5, 0.0, 601.0, 240.25, 0.0, 0.0, 1.0]
    assert info["p"] == [600.0, 0.0, 320.5, 0.0, 0.0, 601.0, 240.25, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert info["r"] == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    assert info["d"] == [0.0] * 5 and info["distortion_model"] == "plumb_bob"
    assert (info["width"], info["height"]) == (640, 480)
    assert camera_info_fields(K, "equidistant", (0.1, 0.2, 0.0, 0.0))["d"] == [0.1, 0.2, 0.0, 0.0]
