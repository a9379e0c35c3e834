"""RealSense D4xx capture: device by serial, colour + depth, depth aligned to colour, host stamps, reconnect.

The same code path serves a real camera and :class:`~visuomotor.camera.SoftwareRealSense`: both are devices
of a :class:`~visuomotor.camera.RealSenseContext`, opened by serial through an ``rs.pipeline``.

Reconnect. A device counts as lost when librealsense reports its removal (devices-changed event), when
the pipeline raises, or when no frameset arrived for ``frame_timeout_s``. The pipeline is then stopped and
dropped (so nothing pins the old device), and :meth:`RealSenseCamera.read` retries opening the same serial
after ``reconnect.initial_backoff_s``, doubling up to ``reconnect.max_backoff_s``; a devices-added event for
that serial cuts the wait short. Each successful reopen increments :attr:`RealSenseCamera.reconnects`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import numpy as np

from visuomotor.camera.capture import DEPTH_SCALE_M, RgbdCapture, depth_to_millimetres
from visuomotor.camera.config import RealSenseConfig
from visuomotor.camera.context import DeviceEvent, RealSenseContext
from visuomotor.camera.timestamps import ClockOffsetEstimator
from visuomotor.errors import CameraError
from visuomotor.geometry import CameraIntrinsics

__all__ = ["RealSenseCamera"]

_log = logging.getLogger(__name__)

#: How long one blocking wait on the pipeline lasts, so a removal event is acted on within this time.
_POLL_S = 0.1


class RealSenseCamera:
    """A RealSense colour + depth source returning :class:`RgbdCapture` objects.

    Not thread-safe: one thread calls :meth:`start`, :meth:`read` and :meth:`stop` (device events arrive on
    librealsense's thread and only set flags).

    Args:
        config: streams, serial, timeouts, reconnect and timestamp settings.
        context: where devices are found; a new :class:`RealSenseContext` over every connected device by
            default. Pass the context of a :class:`~visuomotor.camera.SoftwareRealSense` to test without
            hardware.
        clock: host clock for arrival times and stamps, ns (the system clock = ROS time without sim time).

    Attributes:
        reconnects: successful reopens after a lost device, since construction.
        disconnects: times the device was declared lost (removal event, pipeline error or frame timeout).
        skipped_framesets: framesets not returned: colour or depth missing, a colour frame already returned,
            or colour and depth more than half a frame period apart. (``rs.pipeline`` fills a stream that
            did not arrive with its last frame, so both happen whenever one stream runs ahead.)
        last_error: why the device was last lost or the last reopen failed ("" if never).
    """

    def __init__(
        self,
        config: RealSenseConfig | None = None,
        context: RealSenseContext | None = None,
        *,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.config = config or RealSenseConfig()
        self._ctx = context
        self._clock = clock
        self._token: int | None = None
        self._started = False
        self._pipeline: Any = None
        self._device: Any = None
        self._align: Any = None
        self._serial: str | None = None
        self._name = ""
        self._intrinsics: CameraIntrinsics | None = None
        self._distortion: tuple[str, tuple[float, ...]] = ("plumb_bob", (0.0,) * 5)
        self._units_m = DEPTH_SCALE_M
        self._estimator = ClockOffsetEstimator(self.config.timestamps.offset_window_s)
        self._last_stamp_ns = -1
        self._sequence = 0
        self._last_frame_mono = 0.0
        self._removed = threading.Event()
        self._added = threading.Event()
        self._backoff_s = self.config.reconnect.initial_backoff_s
        self._next_attempt_mono = 0.0
        self.reconnects = 0
        self.disconnects = 0
        self.skipped_framesets = 0
        self._last_colour_number = -1
        self.last_error = ""

    # -- public API ------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether a pipeline is streaming now."""
        return self._pipeline is not None

    @property
    def serial(self) -> str | None:
        """Serial of the opened device (fixed at the first open), ``None`` before :meth:`start`."""
        return self._serial

    @property
    def intrinsics(self) -> CameraIntrinsics:
        """Colour-stream intrinsics read from the device (valid for the aligned depth too)."""
        if self._intrinsics is None:
            raise CameraError("the camera has no intrinsics yet: call start() first")
        return self._intrinsics

    @property
    def distortion(self) -> tuple[str, tuple[float, ...]]:
        """(CameraInfo distortion model, coefficients) of the colour stream, mapped like realsense2_camera."""
        return self._distortion

    @property
    def depth_units_m(self) -> float:
        """The device's depth unit (metres per raw z16 count) read at the last open."""
        return self._units_m

    def start(self) -> None:
        """Open the device and start streaming colour + depth (idempotent).

        Raises:
            CameraError: pyrealsense2 does not load, no device / not the configured serial is connected, or
                the device does not offer the configured profiles; the message names the fix.
        """
        if self._started:
            return
        if self._ctx is None:
            self._ctx = RealSenseContext()
        self._token = self._ctx.subscribe(self._on_device_event)
        try:
            self._open()
        except BaseException:
            self._ctx.unsubscribe(self._token)
            self._token = None
            raise
        self._started = True
        self._sequence = 0

    def read(self, timeout_s: float | None = None) -> RgbdCapture | None:
        """Wait for the next aligned capture.

        While the device is lost this waits out the reconnect back-off (within ``timeout_s``) and reopens it.

        Args:
            timeout_s: longest wait in seconds; ``None`` → ``frame_timeout_s``.

        Returns:
            The capture, or ``None`` if none arrived in time (device lost, reconnecting, or just slow).

        Raises:
            CameraError: called before :meth:`start`, or the device was lost with ``reconnect.enabled`` off.
        """
        if not self._started:
            raise CameraError("read() before start(): call RealSenseCamera.start() first")
        timeout = self.config.frame_timeout_s if timeout_s is None else max(0.0, timeout_s)
        deadline = time.monotonic() + timeout
        while True:
            if self._pipeline is None and not self._reconnect_until(deadline):
                return None
            if self._removed.is_set():
                self._lose("the device was removed")
                continue
            now = time.monotonic()
            wait_ms = max(1, int(1000 * min(_POLL_S, deadline - now)))
            try:
                ok, frames = self._pipeline.try_wait_for_frames(wait_ms)
            except RuntimeError as err:
                self._lose(f"the pipeline failed: {err}")
                continue
            now = time.monotonic()
            if ok:
                capture = self._to_capture(frames, arrival_ns=self._clock())
                del frames  # release the frameset to librealsense's pool before the next wait
                if capture is not None:
                    self._last_frame_mono = now
                    return capture
            # Skipped framesets do not count as alive: a device whose depth died still sends colour.
            if now - self._last_frame_mono > self.config.frame_timeout_s:
                silent_s = now - self._last_frame_mono
                self._lose(f"no complete frameset for {silent_s:.1f} s (frame_timeout_s)")
                continue
            if now >= deadline:
                return None

    def stop(self) -> None:
        """Stop streaming and release the device (idempotent)."""
        self._close_pipeline()
        if self._ctx is not None and self._token is not None:
            self._ctx.unsubscribe(self._token)
        self._token = None
        self._started = False

    def __enter__(self) -> RealSenseCamera:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- opening and losing the device ----------------------------------------------------------------

    @property
    def _context(self) -> RealSenseContext:
        if self._ctx is None:  # start() creates it; reaching here earlier is a bug in this class
            raise CameraError("internal: the camera has no RealSense context before start()")
        return self._ctx

    def _open(self) -> None:
        ctx = self._context
        rs, cfg = ctx.rs, self.config
        devices = ctx.devices()
        wanted = self._serial or cfg.serial
        if not devices:
            raise CameraError(
                "no RealSense device found: plug the camera into a USB 3 port (`lsusb` should list "
                "'Intel Corp. RealSense'); as non-root install librealsense's udev rules "
                "(99-realsense-libusb.rules in /etc/udev/rules.d); in Docker pass --device /dev/bus/usb; "
                f'then check camera.serial (now {wanted!r}; "" = first device)'
            )
        if wanted and wanted not in {d.serial for d in devices}:
            raise CameraError(
                f"no RealSense device with serial {wanted!r}; connected: "
                f'{", ".join(str(d) for d in devices)}. Set camera.serial to one of these ("" = first)'
            )
        serial = wanted or devices[0].serial
        name = next(d.name for d in devices if d.serial == serial)

        rs_config = rs.config()
        rs_config.enable_device(serial)
        c, d = cfg.colour, cfg.depth
        rs_config.enable_stream(rs.stream.depth, d.width_px, d.height_px, getattr(rs.format, d.format), d.fps)
        rs_config.enable_stream(rs.stream.color, c.width_px, c.height_px, getattr(rs.format, c.format), c.fps)
        pipeline = rs.pipeline(ctx.native)
        try:
            profile = pipeline.start(rs_config)
        except RuntimeError as err:
            raise CameraError(
                f"{name} ({serial}) refused colour {c.width_px}×{c.height_px}@{c.fps} {c.format} + depth "
                f"{d.width_px}×{d.height_px}@{d.fps} {d.format}: {err}. Supported: "
                f"{self._supported_profiles(serial)}; fix camera.colour.* / camera.depth.*"
            ) from err
        try:
            device = profile.get_device()
            self._set_global_time(device)
            colour = profile.get_stream(rs.stream.color).as_video_stream_profile().get_intrinsics()
            units_m = float(device.first_depth_sensor().get_depth_scale())
        except RuntimeError as err:  # unplugged between pipeline.start() and here
            with contextlib.suppress(RuntimeError):
                pipeline.stop()
            raise CameraError(f"{name} ({serial}) stopped answering while being opened: {err}") from err
        self._intrinsics = CameraIntrinsics(
            colour.width, colour.height, colour.fx, colour.fy, colour.ppx, colour.ppy
        )
        model = "equidistant" if colour.model == rs.distortion.kannala_brandt4 else "plumb_bob"
        self._distortion = (model, tuple(float(k) for k in colour.coeffs))
        self._units_m = units_m

        self._pipeline, self._device, self._serial, self._name = pipeline, device, serial, name
        self._align = rs.align(rs.stream.color)
        self._estimator.reset()  # a (re)opened device may have restarted its clock and frame counter
        self._last_colour_number = -1
        self._removed.clear()
        self._added.clear()
        self._last_frame_mono = time.monotonic()
        _log.info("streaming %s (%s): %s, depth unit %g m", name, serial, self._intrinsics, self._units_m)

    def _set_global_time(self, device: Any) -> None:
        rs = self._context.rs
        value = 1.0 if self.config.timestamps.use_global_time else 0.0
        for sensor in device.query_sensors():
            option = rs.option.global_time_enabled
            if sensor.supports(option) and not sensor.is_option_read_only(option):
                sensor.set_option(option, value)

    def _supported_profiles(self, serial: str) -> str:
        rs = self._context.rs
        found: set[str] = set()
        for dev in self._context.native.query_devices():
            if dev.get_info(rs.camera_info.serial_number) != serial:
                continue
            for sensor in dev.query_sensors():
                for p in sensor.get_stream_profiles():
                    if p.is_video_stream_profile() and p.stream_type() in (rs.stream.color, rs.stream.depth):
                        v = p.as_video_stream_profile()
                        size = f"{v.width()}×{v.height()}@{p.fps()}"
                        found.add(f"{p.stream_name().lower()} {size} {p.format().name}")
        listed = sorted(found)
        return ", ".join(listed[:24]) + (f" (+{len(listed) - 24} more)" if len(listed) > 24 else "") or "none"

    def _close_pipeline(self) -> None:
        # Drop every reference first: a software device stays listed while anything still holds it.
        pipeline, self._pipeline, self._device, self._align = self._pipeline, None, None, None
        if pipeline is not None:
            try:
                pipeline.stop()
            except RuntimeError as err:  # already stopped, or the device is gone mid-stop
                _log.debug("pipeline.stop(): %s", err)

    def _lose(self, reason: str) -> None:
        self.disconnects += 1
        self.last_error = reason
        self._close_pipeline()
        _log.warning("lost RealSense %s: %s", self._serial, reason)
        if not self.config.reconnect.enabled:
            self._started = False
            raise CameraError(
                f"lost RealSense {self._serial}: {reason}; reconnect.enabled is false, so plug it back in "
                "and call start() again (or enable reconnect)"
            )
        self._backoff_s = self.config.reconnect.initial_backoff_s
        self._next_attempt_mono = time.monotonic() + self._backoff_s

    def _reconnect_until(self, deadline: float) -> bool:
        """Try to reopen the device until it works (True) or ``deadline`` (monotonic s) passes (False)."""
        while True:
            now = time.monotonic()
            if self._added.is_set() or now >= self._next_attempt_mono:
                self._added.clear()
                try:
                    self._open()
                except CameraError as err:
                    self.last_error = str(err)
                    self._backoff_s = min(2.0 * self._backoff_s, self.config.reconnect.max_backoff_s)
                    self._next_attempt_mono = time.monotonic() + self._backoff_s
                    _log.debug("reopen of %s failed, retry in %.2f s: %s", self._serial, self._backoff_s, err)
                    continue
                self.reconnects += 1
                self._backoff_s = self.config.reconnect.initial_backoff_s
                _log.warning("RealSense %s reconnected (%d reconnects)", self._serial, self.reconnects)
                return True
            if now >= deadline:
                return False
            self._added.wait(min(self._next_attempt_mono, deadline) - now)

    def _on_device_event(self, event: DeviceEvent) -> None:
        # Runs on librealsense's thread: only flags, read() does the work.
        serial = self._serial
        if serial is None:
            return
        if event.was_removed(serial, self._device):
            self._removed.set()
        if serial in event.added_serials:
            self._added.set()

    # -- frames ---------------------------------------------------------------------------------------

    def _to_capture(self, frames: Any, arrival_ns: int) -> RgbdCapture | None:
        rs = self._context.rs
        colour, depth = frames.get_color_frame(), frames.get_depth_frame()
        if not colour or not depth:
            self.skipped_framesets += 1  # start-up or a dropped frame on one stream
            return None
        colour_number = int(colour.get_frame_number())
        skew_ms = abs(colour.get_timestamp() - depth.get_timestamp())
        if colour_number <= self._last_colour_number or skew_ms > 500.0 / self.config.colour.fps:
            self.skipped_framesets += 1  # a cached frame standing in for one that has not arrived yet
            return None
        self._last_colour_number = colour_number
        aligned = self._align.process(frames)
        a_colour, a_depth = aligned.get_color_frame(), aligned.get_depth_frame()
        rgb = np.asanyarray(a_colour.get_data())
        rgb = rgb[..., ::-1].copy() if a_colour.get_profile().format() == rs.format.bgr8 else rgb.copy()
        units = float(depth.as_depth_frame().get_units()) or self._units_m
        depth_mm = depth_to_millimetres(np.asanyarray(a_depth.get_data()), units)
        rgb.flags.writeable = False
        depth_mm.flags.writeable = False

        device_ns = round(colour.get_timestamp() * 1e6)
        domain = colour.get_frame_timestamp_domain()
        if domain == rs.timestamp_domain.hardware_clock:
            stamp = self._estimator.update(device_ns, arrival_ns)
        else:  # global_time and system_time are already host system clock (ms since the epoch)
            stamp = device_ns
        # Stamps never repeat or go back, even across a reconnect that restarted the device clock.
        stamp = max(stamp, self._last_stamp_ns + 1)
        self._last_stamp_ns = stamp
        capture = RgbdCapture(
            rgb=rgb,
            depth_mm=depth_mm,
            intrinsics=self.intrinsics,
            depth_scale_m=DEPTH_SCALE_M,
            device_depth_units_m=units,
            frame_number=colour_number,
            depth_frame_number=int(depth.get_frame_number()),
            device_time_ns=device_ns,
            depth_device_time_ns=round(depth.get_timestamp() * 1e6),
            host_time_ns=stamp,
            arrival_time_ns=arrival_ns,
            timestamp_domain=domain.name,
            sequence=self._sequence,
            serial=self._serial or "",
        )
        self._sequence += 1
        return capture
