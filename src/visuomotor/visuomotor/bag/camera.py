"""RGB-D streams in a bag: topic layout detection, image decoding, colour ↔ depth pairing by stamp.

Layouts recognised (first match wins; every topic can also be named explicitly):

- our sim and realsense2_camera ≥ 4.54 (``camera_namespace:=camera camera_name:=camera``):
  ``/camera/camera/color/image_raw``, ``/camera/camera/color/camera_info``,
  ``/camera/camera/aligned_depth_to_color/image_raw`` (``align_depth.enable:=true``);
- older realsense2_camera: ``/camera/color/image_raw``, ``/camera/color/camera_info``,
  ``/camera/aligned_depth_to_color/image_raw``;
- any ``<ns>/color/image_raw`` with ``<ns>/color/camera_info`` (+ ``<ns>/aligned_depth_to_color/image_raw``).

Unaligned ``<ns>/depth/image_rect_raw`` is used only when no aligned depth exists (the localiser then
skips frames whose depth size differs from the colour size). ``/joint_states`` (ur_robot_driver) is
reported when present. Colour is ``rgb8``/``bgr8``; depth ``16UC1``/``mono16`` (mm) or ``32FC1`` (m).
"""

from __future__ import annotations

import bisect
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from visuomotor.bag.errors import BagError
from visuomotor.bag.reader import BagMessage, TopicSummary
from visuomotor.errors import CameraError
from visuomotor.geometry import CameraIntrinsics, depth_to_metres, intrinsics_from_camera_info
from visuomotor.interfaces import image_array

__all__ = [
    "CAMERA_INFO_TYPE",
    "COLOR_ENCODINGS",
    "DEPTH_ENCODINGS",
    "IMAGE_TYPE",
    "JOINT_STATE_TYPE",
    "BagFrame",
    "CameraLayout",
    "FramePairer",
    "color_array",
    "depth_array_m",
    "depth_image",
    "detect_camera_layout",
]

IMAGE_TYPE = "sensor_msgs/msg/Image"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
JOINT_STATE_TYPE = "sensor_msgs/msg/JointState"
COLOR_ENCODINGS = ("rgb8", "bgr8")
DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")

_COLOR_SUFFIX = "/color/image_raw"
_PREFIXES = ("/camera/camera", "/camera")  # sim + new realsense2_camera, then old realsense2_camera


@dataclass(frozen=True, slots=True)
class CameraLayout:
    """The camera topics of a bag.

    Attributes:
        color_topic: colour images.
        info_topic: colour camera_info (the intrinsics of colour and aligned depth).
        depth_topic: depth images; None when the bag has none (detection only).
        depth_aligned: the depth is registered to the colour image (pixel for pixel).
        joint_states_topic: the arm's joint states, None when absent.
    """

    color_topic: str
    info_topic: str
    depth_topic: str | None
    depth_aligned: bool
    joint_states_topic: str | None = None

    @property
    def topics(self) -> tuple[str, ...]:
        """The image and camera_info topics to read."""
        return tuple(t for t in (self.color_topic, self.depth_topic, self.info_topic) if t)


def _depth_candidates(prefix: str) -> tuple[tuple[str, bool], ...]:
    return ((f"{prefix}/aligned_depth_to_color/image_raw", True), (f"{prefix}/depth/image_rect_raw", False))


def detect_camera_layout(
    topics: Mapping[str, TopicSummary],
    *,
    color_topic: str = "",
    depth_topic: str = "",
    info_topic: str = "",
    bag: str = "the bag",
) -> CameraLayout:
    """Find the colour, depth and camera_info topics of a bag (explicit names win over detection).

    Args:
        topics: the bag's topics (``BagReader.topics``).
        color_topic, depth_topic, info_topic: names to use instead of detecting them ("" = detect).
        bag: the bag's name for messages.

    Raises:
        BagError: no colour topic, no camera_info, or a named topic that is absent or of the wrong type;
            the message lists the bag's image topics.
    """

    def typed(name: str, msgtype: str) -> bool:
        return name in topics and topics[name].msgtype == msgtype

    images = sorted(t for t, s in topics.items() if s.msgtype == IMAGE_TYPE)
    listing = ", ".join(images) or "none"
    for name, role, msgtype in (
        (color_topic, "colour", IMAGE_TYPE),
        (depth_topic, "depth", IMAGE_TYPE),
        (info_topic, "camera_info", CAMERA_INFO_TYPE),
    ):
        if name and not typed(name, msgtype):
            have = f"it holds {topics[name].msgtype}" if name in topics else "it is not in the bag"
            raise BagError(
                f"{bag}: the {role} topic {name} must hold {msgtype}, but {have}; image topics: {listing}"
            )

    if not color_topic:
        known = [f"{p}{_COLOR_SUFFIX}" for p in _PREFIXES]
        others = [t for t in images if t.endswith(_COLOR_SUFFIX) and t not in known]
        color_topic = next((t for t in (*known, *others) if typed(t, IMAGE_TYPE)), "")
        if not color_topic:
            raise BagError(
                f"{bag} has no colour image topic (looked for {', '.join(known)} and <ns>{_COLOR_SUFFIX}); "
                f"image topics: {listing}. Name it with --color-topic"
            )
    prefix = color_topic[: -len(_COLOR_SUFFIX)] if color_topic.endswith(_COLOR_SUFFIX) else ""
    if not info_topic:
        info_topic = color_topic.rsplit("/", 1)[0] + "/camera_info"
        if not typed(info_topic, CAMERA_INFO_TYPE):
            raise BagError(
                f"{bag} has no {info_topic} ({CAMERA_INFO_TYPE}): the intrinsics come from it. Record it "
                "with the images, or name another camera_info topic with --info-topic"
            )
    aligned = True
    if depth_topic:
        aligned = "aligned_depth" in depth_topic
    elif prefix or color_topic.endswith(_COLOR_SUFFIX):
        for name, is_aligned in _depth_candidates(prefix):
            if typed(name, IMAGE_TYPE):
                depth_topic, aligned = name, is_aligned
                break
    joints = "/joint_states" if typed("/joint_states", JOINT_STATE_TYPE) else None
    return CameraLayout(color_topic, info_topic, depth_topic or None, aligned, joints)


# ---------------------------------------------------------------------------------- decoding
def color_array(msg: object) -> tuple[np.ndarray, str]:
    """(H, W, 3) uint8 colour image and its encoding (``rgb8``/``bgr8``); BagError for other encodings."""
    encoding = msg.encoding  # type: ignore[attr-defined]
    if encoding not in COLOR_ENCODINGS:
        raise BagError(
            f"unsupported colour encoding {encoding!r}: the detector reads {' or '.join(COLOR_ENCODINGS)} "
            "(set the camera's colour format to RGB8, or convert the bag)"
        )
    return image_array(msg), encoding


def depth_image(msg: object) -> tuple[np.ndarray, str]:
    """(H, W) depth as stored (uint16 mm or float32 m) and its encoding; BagError for non-depth encodings.

    The perception pipeline takes it as it is (``visuomotor.perception.localiser_depth``).
    """
    encoding = msg.encoding  # type: ignore[attr-defined]
    if encoding not in DEPTH_ENCODINGS:
        raise BagError(
            f"unsupported depth encoding {encoding!r}: expected 16UC1 (mm) or 32FC1 (m), as "
            "realsense2_camera publishes"
        )
    return image_array(msg), encoding


def depth_array_m(msg: object) -> tuple[np.ndarray, str]:
    """(H, W) float32 metres (NaN = no data) and the source encoding; BagError for non-depth encodings."""
    depth, encoding = depth_image(msg)
    return depth_to_metres(depth, encoding), encoding


# ---------------------------------------------------------------------------------- pairing
@dataclass(frozen=True, slots=True)
class BagFrame:
    """One colour image with its depth partner and intrinsics, still serialised (decoding is timed apart).

    Attributes:
        stamp_ns: the colour image's header stamp.
        color: the colour message.
        depth: the depth message nearest in stamp (within tolerance); None when the bag has no depth topic.
        intrinsics: from the camera_info nearest in stamp.
    """

    stamp_ns: int
    color: BagMessage
    depth: BagMessage | None
    intrinsics: CameraIntrinsics


class FramePairer:
    """Pairs each colour image with the depth image nearest in stamp, streaming over a bag in log-time order.

    A colour image is decided once a depth and a camera_info stamped after it (beyond the tolerance) have
    been seen — no closer partner can come, since each topic's stamps increase — or at :meth:`finish`.
    Depth images are used once; those no colour image claims are counted as ``unpaired_depth``.

    Counters (``skipped``): ``no_depth_partner``, ``no_camera_info``, ``bad_camera_info``,
    ``colour_out_of_order``, ``unpaired_depth``.
    """

    #: colour images waiting for partners before the oldest is decided anyway (bounds memory, ~2 s at 30 Hz)
    MAX_PENDING = 60

    def __init__(
        self,
        layout: CameraLayout,
        tolerance_ns: int,
        stamp_of: Callable[[BagMessage], int],
        decode: Callable[[BagMessage], object],
    ) -> None:
        self.layout = layout
        self.tolerance_ns = int(tolerance_ns)
        self._stamp_of = stamp_of
        self._decode = decode
        self._pending: deque[tuple[int, BagMessage]] = deque()
        self._depths: deque[tuple[int, BagMessage]] = deque()
        self._info_stamps: list[int] = []
        self._infos: list[CameraIntrinsics] = []
        self._last_depth_ns = -1
        self._last_color_ns = -1
        self.skipped: Counter[str] = Counter()
        self.colour_seen = 0

    @property
    def dropped_frames(self) -> int:
        """Colour images that did not become frames."""
        return sum(self.skipped[k] for k in ("no_depth_partner", "no_camera_info", "colour_out_of_order"))

    def push(self, message: BagMessage) -> list[BagFrame]:
        """Feed one message (colour, depth or camera_info); returns the frames it completes."""
        stamp = self._stamp_of(message)
        if message.topic == self.layout.color_topic:
            self.colour_seen += 1
            if stamp <= self._last_color_ns:
                self.skipped["colour_out_of_order"] += 1
            else:
                self._last_color_ns = stamp
                self._pending.append((stamp, message))
        elif message.topic == self.layout.depth_topic:
            self._depths.append((stamp, message))
            self._last_depth_ns = max(self._last_depth_ns, stamp)
        elif message.topic == self.layout.info_topic:
            try:
                intrinsics = intrinsics_from_camera_info(self._decode(message))
            except CameraError:
                self.skipped["bad_camera_info"] += 1
            else:
                i = bisect.bisect_right(self._info_stamps, stamp)
                self._info_stamps.insert(i, stamp)
                self._infos.insert(i, intrinsics)
        return self._resolve(final=False)

    def finish(self) -> list[BagFrame]:
        """Decide every waiting colour image (end of the bag)."""
        frames = self._resolve(final=True)
        self.skipped["unpaired_depth"] += len(self._depths)
        self._depths.clear()
        return frames

    def _ready(self, stamp: int) -> bool:
        depth_done = self.layout.depth_topic is None or self._last_depth_ns > stamp + self.tolerance_ns
        info_done = bool(self._info_stamps) and self._info_stamps[-1] >= stamp
        return depth_done and info_done

    def _resolve(self, final: bool) -> list[BagFrame]:
        frames = []
        while self._pending:
            stamp, color = self._pending[0]
            if not (final or len(self._pending) > self.MAX_PENDING or self._ready(stamp)):
                break
            self._pending.popleft()
            frame = self._pair(stamp, color)
            if frame is not None:
                frames.append(frame)
        return frames

    def _pair(self, stamp: int, color: BagMessage) -> BagFrame | None:
        # Depth images older than this colour's window can no longer match anything: later colours are later.
        while self._depths and self._depths[0][0] < stamp - self.tolerance_ns:
            self._depths.popleft()
            self.skipped["unpaired_depth"] += 1
        depth: BagMessage | None = None
        if self.layout.depth_topic is not None:
            best = min(
                (i for i, (s, _) in enumerate(self._depths) if abs(s - stamp) <= self.tolerance_ns),
                key=lambda i: abs(self._depths[i][0] - stamp),
                default=None,
            )
            if best is None:
                self.skipped["no_depth_partner"] += 1
                return None
            depth = self._depths[best][1]
            del self._depths[best]
        if not self._infos:
            self.skipped["no_camera_info"] += 1
            return None
        # The nearest camera_info (drivers send one per frame with the frame's stamp; some only latch one).
        i = bisect.bisect_left(self._info_stamps, stamp)
        near = [j for j in (i - 1, i) if 0 <= j < len(self._infos)]
        j = min(near, key=lambda j: abs(self._info_stamps[j] - stamp))
        return BagFrame(stamp, color, depth, self._infos[j])
