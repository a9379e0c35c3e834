"""A RealSense look-alike made of ``rs.software_device``, for tests and demos without hardware.

:class:`SoftwareRealSense` registers a device with a depth sensor (z16, ``depth_units`` option), a colour
sensor (rgb8/bgr8), intrinsics for both and depth→colour extrinsics, and injects frames you give it. A
:class:`~visuomotor.camera.RealSenseCamera` on the same context opens it by serial through an
``rs.pipeline`` and aligns it with ``rs.align`` exactly as it does a D455.

What it simulates: any colour/depth content, resolutions, intrinsics, extrinsics, depth unit, frame rate,
device-clock (``hardware_clock``) or ``global_time`` timestamps, dropped frames (push only one stream),
unplug (device leaves the context) and replug (a fresh device with the same serial, clock and frame
counter restarted). What it cannot: USB bandwidth/transport behaviour, real sensor noise or exposure,
device options beyond ``depth_units``, and a librealsense *removal event* — librealsense 2.59 holds a
software device's ``device_info`` by weak reference only and never reports it removed. So
:meth:`SoftwareRealSense.unplug` announces the removal through
:meth:`RealSenseContext.announce_removed` (the same subscriber path a real removal takes), or, with
``announce=False``, leaves the camera to notice the silence (frame timeout) as it would a hung device.

Keep-alive: because the context only holds a weak reference, a software device vanishes from
``query_devices()`` (and a pipeline cannot open it) unless someone holds the ``rs.event_information`` of
its devices-changed event; this class keeps that object while plugged.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import numpy as np

from visuomotor.camera.config import COLOUR_FORMATS
from visuomotor.camera.context import DeviceEvent, RealSenseContext
from visuomotor.errors import CameraError, ConfigError
from visuomotor.geometry import CameraIntrinsics

__all__ = [
    "D455_COLOUR_INTRINSICS",
    "D455_DEPTH_INTRINSICS",
    "D455_T_COLOUR_DEPTH",
    "SoftwareRealSense",
    "checkerboard_rgb",
    "depth_to_z16",
    "plane_depth_m",
]

#: D455-like colour stream, 640×480 (values of the order a real unit reports).
D455_COLOUR_INTRINSICS = CameraIntrinsics(640, 480, 382.6, 382.2, 320.9, 243.4)
#: D455-like depth stream, 848×480.
D455_DEPTH_INTRINSICS = CameraIntrinsics(848, 480, 426.0, 426.0, 424.3, 241.1)


def _rot_y(angle_rad: float) -> np.ndarray:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


#: Depth (left imager) optical frame → colour optical frame, p_colour = R·p_depth + t: the colour camera sits
#: 59 mm to the right of the left imager, with a 0.2° residual yaw like a real factory calibration.
D455_T_COLOUR_DEPTH = np.eye(4)
D455_T_COLOUR_DEPTH[:3, :3] = _rot_y(np.deg2rad(0.2))
D455_T_COLOUR_DEPTH[:3, 3] = (-0.059, 0.0002, 0.0003)
D455_T_COLOUR_DEPTH.flags.writeable = False


def plane_depth_m(K: CameraIntrinsics, normal: np.ndarray, offset_m: float) -> np.ndarray:
    """Render the plane ``normal · p = offset_m`` (optical frame) as a z-depth image.

    Args:
        K: the camera that sees the plane.
        normal: (3,) plane normal (any length; scaled together with ``offset_m``).
        offset_m: plane offset, metres per unit of ``normal``.

    Returns:
        (H, W) float64 z in metres along each pixel's ray; NaN where the ray misses or meets the plane
        behind the camera.
    """
    n = np.asarray(normal, dtype=float)
    u = np.arange(K.width_px, dtype=float)[None, :]
    v = np.arange(K.height_px, dtype=float)[:, None]
    # Ray through pixel (u, v) at z = 1: ((u − cx)/fx, (v − cy)/fy, 1); the plane is hit at z = d / (n·ray).
    n_dot_ray = n[0] * (u - K.cx_px) / K.fx_px + n[1] * (v - K.cy_px) / K.fy_px + n[2]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = offset_m / n_dot_ray
    z[~np.isfinite(z) | (z <= 0)] = np.nan
    return z


def depth_to_z16(depth_m: np.ndarray, units_m: float = 0.001) -> np.ndarray:
    """Quantise metric depth to a z16 image in counts of ``units_m`` (NaN / out of range → 0 = no data)."""
    counts = np.rint(np.where(np.isfinite(depth_m), depth_m, 0.0) / units_m)
    counts[(counts < 0) | (counts > np.iinfo(np.uint16).max)] = 0
    return counts.astype(np.uint16)


def checkerboard_rgb(K: CameraIntrinsics, square_px: int = 40) -> np.ndarray:
    """A (H, W, 3) uint8 RGB checkerboard with a red-green gradient, so misordered channels are visible."""
    v, u = np.mgrid[0 : K.height_px, 0 : K.width_px]
    board = ((u // square_px + v // square_px) % 2).astype(np.uint8)
    rgb = np.empty((K.height_px, K.width_px, 3), dtype=np.uint8)
    rgb[..., 0] = (255 * u // max(1, K.width_px - 1)).astype(np.uint8)
    rgb[..., 1] = (255 * v // max(1, K.height_px - 1)).astype(np.uint8)
    rgb[..., 2] = 200 * board
    return rgb


def _rs_intrinsics(rs: Any, K: CameraIntrinsics) -> Any:
    out = rs.intrinsics()
    out.width, out.height = K.width_px, K.height_px
    out.fx, out.fy, out.ppx, out.ppy = K.fx_px, K.fy_px, K.cx_px, K.cy_px
    out.model = rs.distortion.brown_conrady
    out.coeffs = [0.0] * 5
    return out


class SoftwareRealSense:
    """A simulated D4xx on a :class:`RealSenseContext`: plug, push frames, unplug, replug.

    Args:
        context: where the device appears; a new software-only context by default (hermetic even on a
            machine with a camera attached). Hand the same context to the camera.
        serial: the serial the device reports.
        name: the device name.
        colour_intrinsics: colour stream model (its size is the stream size).
        depth_intrinsics: depth stream model.
        T_colour_depth: (4, 4) depth optical frame → colour optical frame (p_colour = R·p_depth + t, m).
        fps: frame rate of both streams.
        colour_format: ``rgb8`` or ``bgr8`` as the device streams it (``push`` always takes RGB).
        depth_units_m: metres per z16 count (the ``depth_units`` option; 0.001 most D4xx, 0.0001 D405).
        timestamp_domain: ``hardware_clock`` (a device clock that restarts at 1 s on each plug) or
            ``global_time`` (host system clock, as librealsense produces with global time on).

    Attributes:
        plugs: how many times :meth:`plug` connected the device.
    """

    def __init__(
        self,
        context: RealSenseContext | None = None,
        *,
        serial: str = "000000000455",
        name: str = "Synthetic D455",
        colour_intrinsics: CameraIntrinsics = D455_COLOUR_INTRINSICS,
        depth_intrinsics: CameraIntrinsics = D455_DEPTH_INTRINSICS,
        T_colour_depth: np.ndarray = D455_T_COLOUR_DEPTH,
        fps: int = 30,
        colour_format: str = "rgb8",
        depth_units_m: float = 0.001,
        timestamp_domain: str = "hardware_clock",
    ) -> None:
        if colour_format not in COLOUR_FORMATS:
            raise ConfigError(f"colour_format must be one of {COLOUR_FORMATS}, got {colour_format!r}")
        if timestamp_domain not in ("hardware_clock", "global_time"):
            raise ConfigError(
                f"timestamp_domain must be hardware_clock or global_time, got {timestamp_domain!r}"
            )
        if np.asarray(T_colour_depth).shape != (4, 4):
            raise ConfigError("T_colour_depth must be a 4×4 homogeneous transform")
        self.context = context or RealSenseContext(software_only=True)
        self.serial, self.name = serial, name
        self.colour_intrinsics, self.depth_intrinsics = colour_intrinsics, depth_intrinsics
        self.T_colour_depth = np.array(T_colour_depth, dtype=float)
        self.fps, self.colour_format = fps, colour_format
        self.depth_units_m, self.timestamp_domain = depth_units_m, timestamp_domain
        self._lock = threading.RLock()
        self._device: Any = None
        self._sensors: tuple[Any, Any] | None = None  # (depth, colour) software sensors
        self._profiles: tuple[Any, Any] | None = None  # (depth, colour) stream profiles
        self._keepalive: Any = None
        self._frame_number = 0
        self._plug_mono_ns = 0
        self._feed_thread: threading.Thread | None = None
        self._feed_stop = threading.Event()
        self._scene: tuple[np.ndarray, np.ndarray] | None = None
        self.plugs = 0
        self._token = self.context.subscribe(self._on_device_event)

    @property
    def plugged(self) -> bool:
        """Whether the device is on the context now."""
        return self._device is not None

    @property
    def frames_pushed(self) -> int:
        """Colour + depth pairs injected since the last plug."""
        return self._frame_number

    def plug(self) -> None:
        """Connect a fresh device (new clock, frame counter from 1) with this serial to the context."""
        rs = self.context.rs
        with self._lock:
            if self._device is not None:
                raise CameraError(f"software device {self.serial} is already plugged in: unplug() it first")
            dev = rs.software_device()
            dev.register_info(rs.camera_info.name, self.name)
            dev.register_info(rs.camera_info.serial_number, self.serial)
            depth_sensor = dev.add_sensor("Stereo Module")
            colour_sensor = dev.add_sensor("RGB Camera")
            depth_profile = depth_sensor.add_video_stream(self._stream(rs, depth=True))
            colour_profile = colour_sensor.add_video_stream(self._stream(rs, depth=False))
            depth_sensor.add_read_only_option(rs.option.depth_units, self.depth_units_m)
            ex = rs.extrinsics()
            # librealsense stores rotations column-major: the flattened transpose of R.
            ex.rotation = [float(x) for x in self.T_colour_depth[:3, :3].T.ravel()]
            ex.translation = [float(x) for x in self.T_colour_depth[:3, 3]]
            depth_profile.register_extrinsics_to(colour_profile, ex)
            dev.create_matcher(rs.matchers.default)  # timestamp matching, as for D4xx colour + depth
            self._device, self._sensors = dev, (depth_sensor, colour_sensor)
            self._profiles = (
                depth_profile.as_video_stream_profile(),
                colour_profile.as_video_stream_profile(),
            )
            self._frame_number = 0
            self._plug_mono_ns = time.monotonic_ns()
            dev.add_to(self.context.native)  # raises the devices-changed event synchronously → keep-alive
            self.plugs += 1
            if self._keepalive is None:
                self._drop_device()
                raise CameraError(
                    "the software device was added but its devices-changed event never arrived, so it "
                    "cannot be kept alive; is another party calling set_devices_changed_callback on this "
                    "context? Share one RealSenseContext"
                )

    def unplug(self, *, announce: bool = True) -> None:
        """Disconnect the device: frames stop and it leaves the context once no pipeline holds it.

        Args:
            announce: tell context subscribers it was removed (what librealsense does for a real device);
                ``False`` simulates a device that silently stops delivering.
        """
        self.stop_feed()
        with self._lock:
            if self._device is None:
                return
            self._drop_device()
        if announce:
            self.context.announce_removed(self.serial)

    def push(
        self, rgb: np.ndarray | None, depth_z16: np.ndarray | None, *, device_time_ms: float | None = None
    ) -> int:
        """Inject one frame pair with the same frame number and timestamp.

        Args:
            rgb: (H, W, 3) uint8 RGB at the colour size, or ``None`` to drop the colour frame.
            depth_z16: (H, W) uint16 counts of ``depth_units_m`` at the depth size, or ``None`` to drop it.
            device_time_ms: timestamp to stamp both frames with; default: the device clock now
                (``hardware_clock``: ms since plug + 1 s; ``global_time``: host system clock).

        Returns:
            The frame number given to the pair.

        Raises:
            CameraError: the device is unplugged or an image has the wrong shape/dtype.
        """
        with self._lock:
            sensors, profiles = self._sensors, self._profiles
            if sensors is None or profiles is None:
                raise CameraError(f"software device {self.serial} is unplugged: plug() it before push()")
            depth_px = None
            if depth_z16 is not None:
                depth_px = self._checked(depth_z16, self.depth_intrinsics, (), np.uint16, "depth_z16")
            colour_px = None
            if rgb is not None:
                colour_px = self._checked(rgb, self.colour_intrinsics, (3,), np.uint8, "rgb")
                if self.colour_format == "bgr8":
                    colour_px = np.ascontiguousarray(colour_px[..., ::-1])
            rs = self.context.rs
            self._frame_number += 1
            if device_time_ms is None:
                if self.timestamp_domain == "global_time":
                    device_time_ms = time.time_ns() / 1e6
                else:
                    device_time_ms = 1000.0 + (time.monotonic_ns() - self._plug_mono_ns) / 1e6
            domain = getattr(rs.timestamp_domain, self.timestamp_domain)
            if depth_px is not None:
                self._inject(sensors[0], profiles[0], depth_px, 2, device_time_ms, domain)
            if colour_px is not None:
                self._inject(sensors[1], profiles[1], colour_px, 3, device_time_ms, domain)
            return self._frame_number

    def start_feed(self, rgb: np.ndarray, depth_z16: np.ndarray) -> None:
        """Push this scene at ``fps`` from a background thread until :meth:`stop_feed` / :meth:`unplug`."""
        self.set_scene(rgb, depth_z16)
        if self._feed_thread is not None:
            return
        self._feed_stop.clear()
        thread = threading.Thread(target=self._feed, name=f"sw-realsense-{self.serial}", daemon=True)
        self._feed_thread = thread
        thread.start()

    def set_scene(self, rgb: np.ndarray, depth_z16: np.ndarray) -> None:
        """Replace what the feed thread pushes (takes effect at the next frame)."""
        self._scene = (np.array(rgb, copy=True), np.array(depth_z16, copy=True))

    def stop_feed(self) -> None:
        """Stop the feed thread (no-op if none runs)."""
        thread, self._feed_thread = self._feed_thread, None
        if thread is not None:
            self._feed_stop.set()
            thread.join()

    def close(self) -> None:
        """Unplug (announced) and stop listening to the context."""
        self.unplug()
        self.context.unsubscribe(self._token)

    # -- internals -------------------------------------------------------------------------------------

    def _stream(self, rs: Any, *, depth: bool) -> Any:
        K = self.depth_intrinsics if depth else self.colour_intrinsics
        s = rs.video_stream()
        s.type = rs.stream.depth if depth else rs.stream.color
        s.index, s.uid = 0, 0 if depth else 1
        s.width, s.height, s.fps = K.width_px, K.height_px, self.fps
        s.bpp = 2 if depth else 3
        s.fmt = rs.format.z16 if depth else getattr(rs.format, self.colour_format)
        s.intrinsics = _rs_intrinsics(rs, K)
        return s

    @staticmethod
    def _checked(
        image: np.ndarray, K: CameraIntrinsics, channels: tuple[int, ...], dtype: type, name: str
    ) -> np.ndarray:
        shape = (K.height_px, K.width_px, *channels)
        if image.shape != shape or image.dtype != dtype:
            raise CameraError(
                f"{name} must be {shape} {np.dtype(dtype).name}, got {image.shape} {image.dtype}"
            )
        return np.ascontiguousarray(image)

    def _inject(
        self, sensor: Any, profile: Any, pixels: np.ndarray, bpp: int, ts_ms: float, domain: Any
    ) -> None:
        frame = self.context.rs.software_video_frame()
        frame.pixels = pixels
        frame.stride = pixels.shape[1] * bpp
        frame.bpp = bpp
        frame.timestamp = ts_ms
        frame.domain = domain
        frame.frame_number = self._frame_number
        frame.profile = profile
        if bpp == 2:  # the z16 stream carries its unit with every frame
            frame.depth_units = self.depth_units_m
        sensor.on_video_frame(frame)

    def _drop_device(self) -> None:
        # Releasing the event object and our device handles is what makes the device disappear.
        self._device = self._sensors = self._profiles = self._keepalive = None

    def _on_device_event(self, event: DeviceEvent) -> None:
        if self.serial in event.added_serials and event.native is not None and self._device is not None:
            self._keepalive = event.native

    def _feed(self) -> None:
        period = 1.0 / self.fps
        next_t = time.monotonic()
        while not self._feed_stop.is_set():
            scene = self._scene
            if scene is not None and self.plugged:
                # Unplugged between the check and the push: the feed just pauses.
                with contextlib.suppress(CameraError):
                    self.push(*scene)
            next_t += period
            self._feed_stop.wait(max(0.0, next_t - time.monotonic()))
