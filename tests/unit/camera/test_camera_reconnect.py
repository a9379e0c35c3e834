"""Unplug/replug of a pyrealsense2 software device while RealSenseCamera streams from it.

Unplug removes the device from the context (the camera's pipeline is then the last holder; once the camera
drops it the device is gone from query_devices); replug adds a fresh device with the same serial, its clock
and frame counter restarted. librealsense raises no removal event for software devices, so removal reaches
the camera either announced through RealSenseContext (the path a real removal event takes) or not at all,
in which case the frame timeout has to catch it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from visuomotor.camera import (
    RealSenseCamera,
    RealSenseConfig,
    RgbdCapture,
    SoftwareRealSense,
    checkerboard_rgb,
    depth_to_z16,
    plane_depth_m,
)
from visuomotor.errors import CameraError

CFG = RealSenseConfig.from_flat(
    {"frame_timeout_s": 0.3, "reconnect.initial_backoff_s": 0.05, "reconnect.max_backoff_s": 0.4}
)


@pytest.fixture
def device() -> Iterator[SoftwareRealSense]:
    sw = SoftwareRealSense()
    sw.plug()
    yield sw
    sw.close()


def _scene(sw: SoftwareRealSense) -> tuple[np.ndarray, np.ndarray]:
    depth = plane_depth_m(sw.depth_intrinsics, np.array([0.0, 0.0, 1.0]), 0.8)
    return checkerboard_rgb(sw.colour_intrinsics), depth_to_z16(depth)


def _read_until(cam: RealSenseCamera, timeout_s: float) -> RgbdCapture | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        capture = cam.read(timeout_s=0.1)
        if capture is not None:
            return capture
    return None


def _check_plane(capture: RgbdCapture) -> None:
    assert set(np.unique(capture.depth_mm[capture.depth_mm > 0])) == {800}


@pytest.mark.parametrize("announce", [True, False], ids=["removal-announced", "silent-unplug"])
def test_frames_resume_after_unplug_and_replug(device: SoftwareRealSense, announce: bool) -> None:
    device.start_feed(*_scene(device))
    with RealSenseCamera(CFG, context=device.context) as cam:
        before = [_read_until(cam, 1.0) for _ in range(5)]
        assert all(c is not None for c in before)

        device.unplug(announce=announce)
        pushed = device.frames_pushed
        t0 = time.monotonic()
        while cam.connected and time.monotonic() - t0 < 3.0:
            capture = cam.read(timeout_s=0.05)  # at most frames already queued before the unplug; no crash
            assert capture is None or capture.frame_number <= pushed
        lost_after_s = time.monotonic() - t0
        assert not cam.connected and cam.disconnects == 1
        if announce:
            assert lost_after_s < 0.2 and cam.last_error == "the device was removed"
        else:
            assert 0.2 < lost_after_s < 1.5 and "frame_timeout_s" in cam.last_error
        # While unplugged, reads time out quietly and the back-off keeps failing to reopen.
        assert cam.read(timeout_s=0.3) is None
        assert cam.reconnects == 0 and "no RealSense device found" in cam.last_error

        device.plug()
        device.start_feed(*_scene(device))
        after = _read_until(cam, 2.0)
        assert after is not None, f"no frames after replug; last error: {cam.last_error}"
        assert cam.connected and cam.reconnects == 1
        _check_plane(after)
        # A fresh device: frame counter restarted, but our sequence and stamps carry on.
        last = before[-1]
        assert last is not None
        assert after.frame_number < last.frame_number
        assert after.sequence == last.sequence + 1
        assert after.host_time_ns > last.host_time_ns
        more = [_read_until(cam, 1.0) for _ in range(5)]
        assert all(c is not None and c.frame_number > after.frame_number for c in more)


def test_repeated_unplug_replug_counts_every_reconnect(device: SoftwareRealSense) -> None:
    with RealSenseCamera(CFG, context=device.context) as cam:
        for cycle in range(1, 4):
            device.start_feed(*_scene(device))
            capture = _read_until(cam, 2.0)
            assert capture is not None and cam.reconnects == cycle - 1
            _check_plane(capture)
            device.unplug()
            assert cam.read(timeout_s=0.1) is None
            device.plug()
        device.start_feed(*_scene(device))
        assert _read_until(cam, 2.0) is not None
        assert cam.reconnects == 3 and cam.disconnects == 3


def test_replug_during_a_long_backoff_reconnects_at_once(device: SoftwareRealSense) -> None:
    cfg = RealSenseConfig.from_flat(
        {"frame_timeout_s": 0.3, "reconnect.initial_backoff_s": 5.0, "reconnect.max_backoff_s": 10.0}
    )
    with RealSenseCamera(cfg, context=device.context) as cam:
        device.unplug()
        assert cam.read(timeout_s=0.1) is None and not cam.connected
        device.plug()  # the devices-added event for our serial cuts the 5 s back-off short
        device.start_feed(*_scene(device))
        t0 = time.monotonic()
        assert _read_until(cam, 2.0) is not None
        assert time.monotonic() - t0 < 1.0 and cam.reconnects == 1


def test_lost_device_without_reconnect_raises_the_fix(device: SoftwareRealSense) -> None:
    cfg = RealSenseConfig.from_flat({"frame_timeout_s": 0.3, "reconnect.enabled": False})
    with RealSenseCamera(cfg, context=device.context) as cam:
        device.unplug()
        with pytest.raises(
            CameraError,
            match=r"the device was removed; reconnect\.enabled is false, so plug "
            r"it back in and call start\(\) again",
        ):
            cam.read(timeout_s=0.5)
        assert not cam.connected
