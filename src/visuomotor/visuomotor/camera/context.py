"""The librealsense context, shared by the camera and by a simulated device, with its device events.

``rs.context.set_devices_changed_callback`` holds exactly one callback per context (a second call replaces
the first), yet two parties need the events: :class:`~visuomotor.camera.RealSenseCamera` (removed → drop
the stream, added → reopen now) and :class:`~visuomotor.camera.SoftwareRealSense` (which must keep its
device's ``device_info`` alive, see there). :class:`RealSenseContext` registers the one callback and fans
each event out to subscribers as a :class:`DeviceEvent`.

``pyrealsense2`` is imported lazily, so ``import visuomotor.camera`` works on machines without it; the
first use raises one :class:`~visuomotor.errors.CameraError` that names the install.
"""

from __future__ import annotations

import json
import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from visuomotor.errors import CameraError

__all__ = ["DeviceEvent", "DeviceSummary", "RealSenseContext", "import_pyrealsense2"]

_log = logging.getLogger(__name__)

#: The pip pin and the Debian package pyrealsense2 needs (its wheel links libusb-1.0 dynamically).
INSTALL_HINT = "pip install pyrealsense2==2.59.1.11053 and apt-get install -y libusb-1.0-0"


def import_pyrealsense2() -> ModuleType:
    """Import ``pyrealsense2`` or raise a :class:`CameraError` that names the fix.

    Raises:
        CameraError: the module is missing or its native library does not load.
    """
    try:
        import pyrealsense2
    except ImportError as err:
        cause = "libusb-1.0 is missing" if "libusb" in str(err) else "pyrealsense2 is not importable"
        raise CameraError(f"{cause} ({err}): {INSTALL_HINT}") from err
    return pyrealsense2


@dataclass(frozen=True, slots=True)
class DeviceSummary:
    """One connected device, as listed in error messages and by :meth:`RealSenseContext.devices`."""

    serial: str
    name: str
    usb_type: str  # "3.2", "2.1", … ("" where the device does not say: software and network devices)

    def __str__(self) -> str:
        usb = f", USB {self.usb_type}" if self.usb_type else ""
        return f"{self.name} (serial {self.serial}{usb})"


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """Devices that appeared or disappeared.

    Attributes:
        added_serials: serials of devices that were connected.
        removed_serials: serials announced as removed without a librealsense event (software devices,
            see :meth:`RealSenseContext.announce_removed`).
        native: the ``rs.event_information`` when librealsense raised the event, else ``None``.
    """

    added_serials: tuple[str, ...] = ()
    removed_serials: tuple[str, ...] = ()
    native: Any = None

    def was_removed(self, serial: str, device: Any = None) -> bool:
        """Whether the device with ``serial`` (``device``: its ``rs.device``, if held) went away."""
        if serial in self.removed_serials:
            return True
        if self.native is None or device is None:
            return False
        try:
            return bool(self.native.was_removed(device))
        except RuntimeError:
            return True  # a device that cannot even be compared any more is gone


Subscriber = Callable[[DeviceEvent], None]


def _dispatch_to(ref: weakref.ref[RealSenseContext]) -> Callable[[Any], None]:
    # The native context holds this closure for its whole life; a weak reference keeps that from pinning
    # the Python wrapper (a C++ → Python reference cycle that the garbage collector cannot see).
    def on_devices_changed(info: Any) -> None:
        ctx = ref()
        if ctx is None:
            return
        try:
            added = _serials(ctx.rs, info.get_new_devices())
        except RuntimeError:  # a device that vanished while we listed it; the event still counts
            _log.warning("could not read the serials of newly connected devices", exc_info=True)
            added = ()
        ctx._dispatch(DeviceEvent(added_serials=added, native=info))

    return on_devices_changed


def _serials(rs: ModuleType, devices: Any) -> tuple[str, ...]:
    out = []
    for dev in devices:
        if dev.supports(rs.camera_info.serial_number):
            out.append(dev.get_info(rs.camera_info.serial_number))
    return tuple(out)


class RealSenseContext:
    """An ``rs.context`` plus a fan-out of its devices-changed events.

    Args:
        native: an existing ``rs.context``; by default a new one that sees every device.
        software_only: create a context that lists software devices only (``device-mask`` = SW_ONLY), so
            tests stay hermetic on a machine with a camera plugged in. Ignored when ``native`` is given.
    """

    def __init__(self, native: Any = None, *, software_only: bool = False) -> None:
        self.rs = import_pyrealsense2()
        if native is None:
            settings = {"device-mask": int(self.rs.product_line.sw_only)} if software_only else {}
            native = self.rs.context(json.dumps(settings)) if settings else self.rs.context()
        self.native = native
        self._lock = threading.Lock()
        self._subscribers: dict[int, Subscriber] = {}
        self._next_token = 0
        native.set_devices_changed_callback(_dispatch_to(weakref.ref(self)))

    def subscribe(self, callback: Subscriber) -> int:
        """Call ``callback(event)`` on every device change; returns a token for :meth:`unsubscribe`.

        Callbacks run on librealsense's thread (or the caller's, for software devices): keep them short.
        """
        with self._lock:
            self._next_token += 1
            self._subscribers[self._next_token] = callback
            return self._next_token

    def unsubscribe(self, token: int) -> None:
        """Stop calling the subscriber behind ``token`` (unknown tokens are ignored)."""
        with self._lock:
            self._subscribers.pop(token, None)

    def announce_removed(self, serial: str) -> None:
        """Tell subscribers that ``serial`` went away.

        librealsense 2.59 raises no removal event for software devices (the context holds them by weak
        reference only), so :class:`~visuomotor.camera.SoftwareRealSense` announces its unplug here; the
        camera handles it exactly like a removal reported by librealsense.
        """
        self._dispatch(DeviceEvent(removed_serials=(serial,)))

    def devices(self) -> list[DeviceSummary]:
        """The devices connected now."""
        rs = self.rs
        out = []
        for dev in self.native.query_devices():

            def info(key: Any, dev: Any = dev) -> str:
                return str(dev.get_info(key)) if dev.supports(key) else ""

            try:
                summary = DeviceSummary(
                    serial=info(rs.camera_info.serial_number),
                    name=info(rs.camera_info.name),
                    usb_type=info(rs.camera_info.usb_type_descriptor),
                )
            except RuntimeError:  # unplugged while being listed: it is not connected now
                continue
            out.append(summary)
        return out

    def _dispatch(self, event: DeviceEvent) -> None:
        with self._lock:
            subscribers = list(self._subscribers.values())
        for callback in subscribers:
            try:
                callback(event)
            except Exception:  # one faulty subscriber must not starve the others; logged, not swallowed
                _log.exception("device-event subscriber %r failed", callback)
