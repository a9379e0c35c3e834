"""Camera topic layouts (sim, realsense2_camera old and new, ur_robot_driver) and colour ↔ depth pairing."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from visuomotor.bag import (
    CAMERA_INFO_TYPE,
    IMAGE_TYPE,
    JOINT_STATE_TYPE,
    BagError,
    BagMessage,
    CameraLayout,
    FramePairer,
    TopicSummary,
    bag_typestore,
    camera_info_message,
    detect_camera_layout,
    header_stamp_ns,
)
from visuomotor.geometry import CameraIntrinsics


def _bag(*images: str, infos: tuple[str, ...] = (), joints: bool = False) -> dict[str, TopicSummary]:
    topics = {t: TopicSummary(t, IMAGE_TYPE, 1, ()) for t in images}
    topics |= {t: TopicSummary(t, CAMERA_INFO_TYPE, 1, ()) for t in infos}
    if joints:
        topics["/joint_states"] = TopicSummary("/joint_states", JOINT_STATE_TYPE, 1, ())
    return topics


def test_sim_and_new_realsense_layout() -> None:
    topics = _bag(
        "/camera/camera/color/image_raw",
        "/camera/camera/aligned_depth_to_color/image_raw",
        "/camera/camera/depth/image_rect_raw",
        infos=("/camera/camera/color/camera_info",),
        joints=True,
    )
    assert detect_camera_layout(topics) == CameraLayout(
        "/camera/camera/color/image_raw",
        "/camera/camera/color/camera_info",
        "/camera/camera/aligned_depth_to_color/image_raw",
        True,
        "/joint_states",
    )


def test_old_realsense_layout_and_unaligned_depth_fallback() -> None:
    aligned = _bag(
        "/camera/color/image_raw",
        "/camera/aligned_depth_to_color/image_raw",
        "/camera/depth/image_rect_raw",
        infos=("/camera/color/camera_info", "/camera/depth/camera_info"),
    )
    layout = detect_camera_layout(aligned)
    assert (layout.color_topic, layout.depth_topic, layout.depth_aligned) == (
        "/camera/color/image_raw",
        "/camera/aligned_depth_to_color/image_raw",
        True,
    )
    assert layout.joint_states_topic is None
    unaligned = _bag(
        "/camera/color/image_raw", "/camera/depth/image_rect_raw", infos=("/camera/color/camera_info",)
    )
    layout = detect_camera_layout(unaligned)
    assert (layout.depth_topic, layout.depth_aligned) == ("/camera/depth/image_rect_raw", False)


def test_other_namespaces_and_explicit_topics() -> None:
    topics = _bag(
        "/wrist/color/image_raw",
        "/wrist/aligned_depth_to_color/image_raw",
        "/other/image",
        infos=("/wrist/color/camera_info", "/other/info"),
    )
    assert detect_camera_layout(topics).depth_topic == "/wrist/aligned_depth_to_color/image_raw"
    explicit = detect_camera_layout(topics, color_topic="/other/image", info_topic="/other/info")
    assert (explicit.color_topic, explicit.info_topic, explicit.depth_topic) == (
        "/other/image",
        "/other/info",
        None,
    )
    with pytest.raises(BagError, match=r"has no /other/camera_info \(sensor_msgs/msg/CameraInfo\)"):
        detect_camera_layout(topics, color_topic="/other/image")
    with pytest.raises(
        BagError, match=r"the depth topic /wrist/color/camera_info must hold sensor_msgs/msg/Image"
    ):
        detect_camera_layout(topics, depth_topic="/wrist/color/camera_info")


def _msg(topic: str, stamp_ns: int) -> BagMessage:
    # Just enough CDR for header_stamp_ns: encapsulation, then builtin_interfaces/Time.
    sec, nanosec = divmod(stamp_ns, 1_000_000_000)
    return BagMessage(topic, IMAGE_TYPE, stamp_ns, b"\x00\x01\x00\x00" + struct.pack("<iI", sec, nanosec))


def test_header_stamp_is_read_without_decoding() -> None:
    store = bag_typestore()
    info = camera_info_message(store, CameraIntrinsics.from_fovy(4, 3, 1.0), 12_345_678_901, "cam")
    assert header_stamp_ns(store.serialize_cdr(info, CAMERA_INFO_TYPE)) == 12_345_678_901
    assert header_stamp_ns(b"\x00\x03\x00\x00" + bytes(8)) is None  # not plain CDR


def test_pairing_matches_brute_force_nearest() -> None:
    """Jittered depth stamps, a missing depth, late depth messages: pairs equal the brute-force nearest."""
    store = bag_typestore()
    layout = CameraLayout("/c", "/i", "/d", True)
    K = CameraIntrinsics.from_fovy(4, 3, 1.0)
    rng = np.random.default_rng(3)
    color = [i * 33_333_333 for i in range(40)]
    depth = [s + int(rng.integers(-3_000_000, 3_000_000)) for s in color]
    del depth[17]
    tolerance = 4_000_000
    # Log order: per frame colour then camera_info; depth messages arrive two frames late.
    stream = []
    for s in color:
        stream.append((s, _msg("/c", s)))
        info = store.serialize_cdr(camera_info_message(store, K, s, "cam"), CAMERA_INFO_TYPE)
        stream.append((s + 1, BagMessage("/i", CAMERA_INFO_TYPE, s + 1, info)))
    stream += [(s + 60_000_000, _msg("/d", s)) for s in depth]
    stream.sort(key=lambda x: x[0])
    pairer = FramePairer(
        layout,
        tolerance,
        lambda m: header_stamp_ns(m.data) or 0,
        lambda m: store.deserialize_cdr(m.data, m.msgtype),
    )
    frames = [f for _, m in stream for f in pairer.push(m)] + pairer.finish()
    got = {f.stamp_ns: header_stamp_ns(f.depth.data) for f in frames if f.depth is not None}
    expected = {}
    for s in color:
        near = min(depth, key=lambda d: abs(d - s))
        if abs(near - s) <= tolerance:
            expected[s] = near
    assert got == expected
    assert len(frames) == len(color) - 1 and pairer.skipped["no_depth_partner"] == 1
    assert pairer.dropped_frames == 1 and pairer.skipped["unpaired_depth"] == 0
    assert all(f.intrinsics == K for f in frames)
