"""RealSenseCamera on a real pyrealsense2 software device: geometry, alignment, stamps and error messages.

Every capture goes through the production path: rs.pipeline opened by serial → rs.align → conversion.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from visuomotor.camera import (
    RealSenseCamera,
    RealSenseConfig,
    RealSenseContext,
    RgbdCapture,
    SoftwareRealSense,
    checkerboard_rgb,
    depth_to_z16,
    import_pyrealsense2,
    plane_depth_m,
)
from visuomotor.errors import CameraError
from visuomotor.geometry import CameraIntrinsics, deproject_image, deproject_pixel, depth_to_metres

FAST = RealSenseConfig.from_flat({"frame_timeout_s": 0.5, "reconnect.initial_backoff_s": 0.05})


@pytest.fixture
def device() -> Iterator[SoftwareRealSense]:
    sw = SoftwareRealSense()
    sw.plug()
    yield sw
    sw.close()


@pytest.fixture
def camera(device: SoftwareRealSense) -> Iterator[RealSenseCamera]:
    with RealSenseCamera(FAST, context=device.context) as cam:
        yield cam


def _capture(sw: SoftwareRealSense, cam: RealSenseCamera, depth_m: np.ndarray) -> RgbdCapture:
    sw.push(checkerboard_rgb(sw.colour_intrinsics), depth_to_z16(depth_m, sw.depth_units_m))
    capture = cam.read(timeout_s=1.0)
    assert capture is not None, "a pushed frame pair must come out of the pipeline"
    return capture


def _plane_in_colour(sw: SoftwareRealSense, n_depth: np.ndarray, d_depth: float) -> tuple[np.ndarray, float]:
    """n·p = d in the depth frame → the same plane in the colour frame (p_c = R p_d + t)."""
    R, t = sw.T_colour_depth[:3, :3], sw.T_colour_depth[:3, 3]
    n_colour = R @ n_depth
    return n_colour, d_depth + float(n_colour @ t)


def test_fronto_parallel_plane_deprojects_to_its_true_depth(
    device: SoftwareRealSense, camera: RealSenseCamera
) -> None:
    capture = _capture(device, camera, plane_depth_m(device.depth_intrinsics, np.array([0.0, 0.0, 1.0]), 0.8))
    K = capture.intrinsics
    # The intrinsics are the colour stream's, as the device reports them (float32 inside librealsense).
    ref = device.colour_intrinsics
    assert (K.width_px, K.height_px) == (ref.width_px, ref.height_px)
    np.testing.assert_allclose(
        [K.fx_px, K.fy_px, K.cx_px, K.cy_px], [ref.fx_px, ref.fy_px, ref.cx_px, ref.cy_px], atol=1e-4
    )
    assert capture.rgb.shape == (480, 640, 3) and capture.rgb.dtype == np.uint8
    assert capture.depth_mm.shape == (480, 640) and capture.depth_mm.dtype == np.uint16
    valid = capture.depth_mm > 0
    # The colour camera sees ±32° vertically, the depth camera ±29°: rows outside have no depth (0).
    assert 0.85 < valid.mean() < 0.95
    assert set(np.unique(capture.depth_mm[valid])) == {800}
    # rs.align copies each depth pixel's z to the colour pixels it lands on: the plane reads 0.8 m exactly.
    points = deproject_image(depth_to_metres(capture.depth_mm, "16UC1"), K)
    np.testing.assert_allclose(points[valid][:, 2], 0.8, atol=1e-6)
    # Hand-computed: pixel (u, v) = (100, 240) → X = (100 − cx)·0.8/fx, Y = (240 − cy)·0.8/fy.
    p = deproject_pixel(100, 240, capture.depth_mm[240, 100] * 1e-3, K)
    np.testing.assert_allclose(p, [(100 - 320.9) * 0.8 / 382.6, (240 - 243.4) * 0.8 / 382.2, 0.8], atol=1e-6)


def test_tilted_plane_with_identical_streams_is_exact_to_the_millimetre() -> None:
    # Colour and depth share intrinsics and pose, so alignment maps every pixel onto itself.
    K = CameraIntrinsics(640, 480, 500.0, 500.0, 319.5, 239.5)
    sw = SoftwareRealSense(colour_intrinsics=K, depth_intrinsics=K, T_colour_depth=np.eye(4))
    sw.plug()
    n = np.array([0.3, -0.5, 1.0]) / np.linalg.norm([0.3, -0.5, 1.0])
    truth_z16 = depth_to_z16(plane_depth_m(K, n, 0.7))
    try:
        cfg = RealSenseConfig.from_flat({**FAST.to_flat_dict(), "depth.width_px": 640})
        with RealSenseCamera(cfg, context=sw.context) as cam:
            capture = _capture(sw, cam, plane_depth_m(K, n, 0.7))
    finally:
        sw.close()
    valid = capture.depth_mm > 0
    # rs.align splats each depth pixel onto the colour pixels its corners cover; float32 rounding of the
    # corners skips about one pixel in 60 (holes) or lands one pixel over (a neighbour's value).
    assert valid.mean() > 0.95
    exact = capture.depth_mm[valid] == truth_z16[valid]
    assert exact.mean() > 0.98
    points = deproject_image(depth_to_metres(capture.depth_mm, "16UC1"), capture.intrinsics)[valid]
    # p = z·ray with ray = ((u − cx)/fx, (v − cy)/fy, 1), so n·p − d = (n·ray)(z − z_true): the plane
    # residual of a deprojected point is its z error (≤ 0.5 mm of quantisation) times n·ray.
    z_error_m = np.abs(points @ n - 0.7) / np.abs(points @ n / points[:, 2])
    assert np.max(z_error_m[exact]) <= 0.0005 + 1e-9
    assert np.max(z_error_m) < 0.0025  # a neighbour's depth on this slope is ≤ 2 mm away


def test_tilted_plane_through_d455_extrinsics_recovers_the_plane(
    device: SoftwareRealSense, camera: RealSenseCamera
) -> None:
    # A table-like plane tilted 35° about x and 11° about y, 0.9 m from the depth camera.
    n_depth = np.array([0.2, -np.sin(np.deg2rad(35)), np.cos(np.deg2rad(35))])
    n_depth /= np.linalg.norm(n_depth)
    capture = _capture(device, camera, plane_depth_m(device.depth_intrinsics, n_depth, 0.9))
    n_c, d_c = _plane_in_colour(device, n_depth, 0.9)
    valid = capture.depth_mm > 0
    assert valid.mean() > 0.85

    # Reference for rs.align: at colour pixel q it stores the *depth-frame* z of the plane point seen
    # along q's ray (it copies depth values, it does not re-express them in the colour frame).
    K = capture.intrinsics
    z_colour = plane_depth_m(K, n_c, d_c)
    v, u = np.mgrid[0 : K.height_px, 0 : K.width_px]
    rays = np.stack([(u - K.cx_px) / K.fx_px, (v - K.cy_px) / K.fy_px, np.ones(u.shape)], axis=-1)
    R, t = device.T_colour_depth[:3, :3], device.T_colour_depth[:3, 3]
    expected_mm = (((z_colour[..., None] * rays) - t) @ R)[..., 2] * 1e3  # (R^T (p_c − t))_z
    slope_mm_per_px = np.hypot(*np.gradient(expected_mm))
    error_mm = np.abs(capture.depth_mm - expected_mm)[valid]
    # Splatting puts a value at most one colour pixel away: mm quantisation + one pixel of slope.
    assert np.mean(error_mm <= 0.5 + slope_mm_per_px[valid] + 1e-6) > 0.999

    # Deprojected with the colour intrinsics, the points lie on the true colour-frame plane up to that
    # resampling and the depth-frame-z approximation (|x/z|·0.2° of yaw → ≤ 2.6 mm at the edge here).
    points = deproject_image(depth_to_metres(capture.depth_mm, "16UC1"), K)[valid]
    residual_mm = np.abs(points @ n_c - d_c) * 1e3
    assert np.median(residual_mm) < 2.0
    assert np.percentile(residual_mm, 99) < 5.0
    centroid = points.mean(axis=0)
    normal = np.linalg.svd(points - centroid, full_matrices=False)[2][-1]
    normal *= np.sign(normal @ n_c)
    assert np.degrees(np.arccos(min(1.0, float(normal @ n_c)))) < 0.3
    assert abs(float(normal @ centroid) - d_c) < 0.001


def test_depth_unit_and_colour_order_come_from_the_device() -> None:
    # D405-style 0.1 mm depth units and a BGR colour stream: captures are still mm and RGB.
    sw = SoftwareRealSense(depth_units_m=0.0001, colour_format="bgr8", serial="D405")
    sw.plug()
    cfg = RealSenseConfig.from_flat({"colour.format": "bgr8", "serial": "D405"})
    try:
        with RealSenseCamera(cfg, context=sw.context) as cam:
            capture = _capture(sw, cam, plane_depth_m(sw.depth_intrinsics, np.array([0.0, 0.0, 1.0]), 0.8))
            assert cam.depth_units_m == pytest.approx(0.0001, rel=1e-6)
    finally:
        sw.close()
    assert capture.device_depth_units_m == pytest.approx(0.0001, rel=1e-6)
    assert capture.depth_scale_m == 0.001
    assert set(np.unique(capture.depth_mm[capture.depth_mm > 0])) == {800}
    np.testing.assert_array_equal(capture.rgb, checkerboard_rgb(sw.colour_intrinsics))


def test_every_frame_is_aligned_numbered_and_stamped_consistently(
    device: SoftwareRealSense, camera: RealSenseCamera
) -> None:
    depth = depth_to_z16(plane_depth_m(device.depth_intrinsics, np.array([0.0, 0.0, 1.0]), 1.2))
    device.start_feed(checkerboard_rgb(device.colour_intrinsics), depth)
    captures = [camera.read(timeout_s=1.0) for _ in range(45)]
    device.stop_feed()
    assert all(c is not None for c in captures)
    caps: list[RgbdCapture] = [c for c in captures if c is not None]
    for c in caps:
        assert c.rgb.shape[:2] == c.depth_mm.shape == (c.intrinsics.height_px, c.intrinsics.width_px)
        assert c.frame_number == c.depth_frame_number  # the pair the device produced together
        assert c.device_time_ns == c.depth_device_time_ns
        assert c.timestamp_domain == "hardware_clock"
        assert c.host_time_ns <= c.arrival_time_ns  # a stamp is never in the future
        assert not c.rgb.flags.writeable and not c.depth_mm.flags.writeable
    frames = np.array([c.frame_number for c in caps])
    host = np.array([c.host_time_ns for c in caps])
    device_t = np.array([c.device_time_ns for c in caps])
    assert np.all(np.diff(frames) > 0)
    assert np.all(np.diff(host) > 0)
    assert [c.sequence for c in caps] == list(range(len(caps)))
    # The min-offset estimate only improves (decreases) inside its window; stamps keep device spacing.
    offsets = host - device_t
    assert np.all(np.diff(offsets) <= 0)
    np.testing.assert_allclose(np.diff(host)[5:], np.diff(device_t)[5:], atol=2e6)


def test_global_time_frames_are_used_as_host_stamps() -> None:
    sw = SoftwareRealSense(timestamp_domain="global_time")
    sw.plug()
    try:
        with RealSenseCamera(FAST, context=sw.context) as cam:
            captures = [
                _capture(sw, cam, plane_depth_m(sw.depth_intrinsics, np.array([0, 0, 1.0]), 1.0))
                for _ in range(3)
            ]
    finally:
        sw.close()
    for c in captures:
        assert c.timestamp_domain == "global_time"
        assert c.host_time_ns == c.device_time_ns  # librealsense already mapped it to the system clock
        assert 0 <= c.arrival_time_ns - c.host_time_ns < 500_000_000


def test_incomplete_and_cached_framesets_are_skipped(
    device: SoftwareRealSense, camera: RealSenseCamera
) -> None:
    rgb = checkerboard_rgb(device.colour_intrinsics)
    depth = depth_to_z16(plane_depth_m(device.depth_intrinsics, np.array([0.0, 0.0, 1.0]), 0.8))
    device.push(rgb, depth)
    first = camera.read(timeout_s=1.0)
    device.push(None, depth)  # colour dropped: the pipeline would pair this depth with the cached colour
    assert camera.read(timeout_s=0.2) is None
    assert camera.skipped_framesets >= 1
    device.push(rgb, depth)
    second = camera.read(timeout_s=1.0)
    assert first is not None and second is not None
    assert second.frame_number == second.depth_frame_number == first.frame_number + 2


def test_no_device_names_the_fix() -> None:
    empty = RealSenseContext(software_only=True)
    with pytest.raises(
        CameraError,
        match=r"no RealSense device found: plug the camera into a USB 3 port.*udev rules.*"
        r"check camera\.serial \(now ''",
    ):
        RealSenseCamera(FAST, context=empty).start()


def test_wrong_serial_lists_the_serials_found(device: SoftwareRealSense) -> None:
    cfg = RealSenseConfig.from_flat({"serial": "123456789012"})
    with pytest.raises(
        CameraError,
        match=r"no RealSense device with serial '123456789012'; connected: "
        r"Synthetic D455 \(serial 000000000455\)\. Set camera\.serial",
    ):
        RealSenseCamera(cfg, context=device.context).start()


def test_unsupported_profile_lists_what_the_device_offers(device: SoftwareRealSense) -> None:
    cfg = RealSenseConfig.from_flat({"colour.width_px": 1280, "colour.height_px": 720})
    with pytest.raises(
        CameraError,
        match=r"refused colour 1280×720@30 rgb8.*Supported: "
        r"color 640×480@30 rgb8, depth 848×480@30 z16; fix camera\.colour",
    ):
        RealSenseCamera(cfg, context=device.context).start()


def test_read_before_start_is_an_error(device: SoftwareRealSense) -> None:
    with pytest.raises(CameraError, match=r"call RealSenseCamera\.start\(\) first"):
        RealSenseCamera(FAST, context=device.context).read()


@pytest.mark.parametrize(
    ("error", "match"),
    [
        (
            "libusb-1.0.so.0: cannot open shared object file",
            r"libusb-1\.0 is missing.*apt-get install -y libusb",
        ),
        ("No module named 'pyrealsense2'", r"pyrealsense2 is not importable.*pip install pyrealsense2=="),
    ],
)
def test_import_failure_names_the_install(monkeypatch: pytest.MonkeyPatch, error: str, match: str) -> None:
    real_import = builtins.__import__

    def failing_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pyrealsense2":
            raise ImportError(error)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", failing_import)
    with pytest.raises(CameraError, match=match):
        import_pyrealsense2()


def test_software_device_is_kept_alive_only_while_plugged() -> None:
    sw = SoftwareRealSense(serial="KEEPALIVE")
    assert sw.context.devices() == []
    sw.plug()
    assert [d.serial for d in sw.context.devices()] == ["KEEPALIVE"]
    with pytest.raises(CameraError, match=r"already plugged in: unplug\(\) it first"):
        sw.plug()
    with pytest.raises(CameraError, match=r"rgb must be \(480, 640, 3\) uint8, got \(480, 640\) uint8"):
        sw.push(np.zeros((480, 640), np.uint8), None)
    sw.unplug()
    assert sw.context.devices() == []
    with pytest.raises(CameraError, match=r"unplugged: plug\(\) it before push\(\)"):
        sw.push(None, None)
    sw.close()


def test_stopping_the_camera_releases_the_device(device: SoftwareRealSense) -> None:
    with RealSenseCamera(FAST, context=device.context) as cam:
        assert cam.connected and cam.serial == device.serial
    assert not cam.connected
    time.sleep(0.01)
    device.unplug()
    assert device.context.devices() == []  # nothing in the camera pins the old device any more
