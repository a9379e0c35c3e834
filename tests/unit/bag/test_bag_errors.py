"""Bag problems end in a BagError (a VisuomotorError) that names the bag, the problem and the fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from bag_fixtures import replay_config

from visuomotor.bag import (
    BagError,
    BagReader,
    BagWriter,
    bag_typestore,
    camera_info_message,
    detect_camera_layout,
    image_message,
)
from visuomotor.errors import VisuomotorError
from visuomotor.geometry import CameraIntrinsics
from visuomotor.replay import replay_offline
from visuomotor.sim.recording import SIM_TOPICS, SimBagSummary


def _copy(sim_bag: SimBagSummary, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(sim_bag.path, dst)
    (dst / "sim15.mcap").rename(dst / "copy.mcap")
    meta = dst / "metadata.yaml"
    meta.write_text(meta.read_text().replace("sim15.mcap", "copy.mcap"))
    return dst


def test_bag_error_is_a_visuomotor_error() -> None:
    assert issubclass(BagError, VisuomotorError)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(BagError, match=r"nope does not exist: pass a rosbag2 directory"):
        BagReader(tmp_path / "nope")
    with pytest.raises(BagError, match="does not exist"):
        replay_offline(tmp_path / "nope", replay_config())
    (tmp_path / "empty").mkdir()
    with pytest.raises(BagError, match=r"no metadata\.yaml and 0 storage files"):
        BagReader(tmp_path / "empty")


def test_truncated_and_corrupt_files(sim_bag: SimBagSummary, tmp_path: Path) -> None:
    bag = _copy(sim_bag, tmp_path)
    storage = bag / "copy.mcap"
    whole = storage.read_bytes()
    storage.write_bytes(whole[: len(whole) // 2])  # a recorder killed mid-write: no summary, no footer
    with pytest.raises(BagError, match=r"copy is truncated or corrupt .*mcap recover"):
        BagReader(bag).open()
    storage.write_bytes(b"\x00" * 64 + whole[64:])  # garbage where the magic and header are
    with pytest.raises(BagError, match="truncated or corrupt"):
        replay_offline(bag, replay_config())
    storage.write_bytes(whole)
    (bag / "metadata.yaml").write_text("rosbag2_bagfile_information: [not, a, mapping")
    with pytest.raises(BagError, match="truncated or corrupt"):
        BagReader(bag).open()


def test_a_bag_without_metadata_yaml_reads_its_storage_file(sim_bag: SimBagSummary, tmp_path: Path) -> None:
    bag = _copy(sim_bag, tmp_path)
    (bag / "metadata.yaml").unlink()  # a recorder killed before close(): the MCAP summary may still be whole
    with BagReader(bag) as reader:
        assert reader.topics[SIM_TOPICS["color"]].count == 15


def test_missing_topics_are_named_with_what_the_bag_has(sim_bag: SimBagSummary, tmp_path: Path) -> None:
    with BagReader(sim_bag.path) as bag:
        with pytest.raises(
            BagError,
            match=r"has no topic /camera/color/image_raw \(colour\); it has: "
            r"/camera/camera/aligned_depth_to_color/camera_info",
        ):
            bag.require_topic("/camera/color/image_raw", what="colour")
        with pytest.raises(
            BagError, match="holds sensor_msgs/msg/Image, expected sensor_msgs/msg/CameraInfo"
        ):
            bag.require_topic(SIM_TOPICS["color"], "sensor_msgs/msg/CameraInfo")
        with pytest.raises(
            BagError,
            match=r"colour topic /cam must hold sensor_msgs/msg/Image, but it is not in "
            r"the bag; image topics: /camera/camera/aligned_depth",
        ):
            detect_camera_layout(bag.topics, color_topic="/cam")
    with pytest.raises(
        BagError, match=r"camera_info topic /sim/ground_truth must hold sensor_msgs/msg/CameraInfo"
    ):
        replay_offline(sim_bag.path, replay_config(info_topic="/sim/ground_truth"))
    joints_only = tmp_path / "joints_only"
    with BagWriter(joints_only) as w:
        w.add_topic("/joint_states", "sensor_msgs/msg/JointState")
    with pytest.raises(
        BagError, match=r"has no colour image topic .* image topics: none\. Name it with --color-topic"
    ):
        replay_offline(joints_only, replay_config())


def _one_frame_bag(path: Path, color_encoding: str, depth_encoding: str) -> Path:
    store = bag_typestore()
    K = CameraIntrinsics.from_fovy(8, 6, 1.0)
    color = np.zeros((6, 8, 1 if color_encoding == "mono8" else 3), np.uint8)
    depth = {
        "16UC1": np.full((6, 8), 1000, np.uint16),
        "32FC1": np.full((6, 8), 1.0, np.float32),
        "mono8": np.full((6, 8), 100, np.uint8),
    }[depth_encoding]
    with BagWriter(path) as bag:
        for role, msgtype in (
            ("color", "sensor_msgs/msg/Image"),
            ("depth", "sensor_msgs/msg/Image"),
            ("color_info", "sensor_msgs/msg/CameraInfo"),
        ):
            bag.add_topic(SIM_TOPICS[role], msgtype)
        bag.write(SIM_TOPICS["color"], 1, image_message(store, color.squeeze(), color_encoding, 1, "cam"))
        bag.write(SIM_TOPICS["depth"], 1, image_message(store, depth, depth_encoding, 1, "cam"))
        bag.write(SIM_TOPICS["color_info"], 1, camera_info_message(store, K, 1, "cam"))
    return path


def test_unknown_encodings(tmp_path: Path) -> None:
    with pytest.raises(
        BagError, match=r"unsupported colour encoding 'mono8': the detector reads rgb8 or bgr8"
    ):
        replay_offline(_one_frame_bag(tmp_path / "mono", "mono8", "16UC1"), replay_config())
    with pytest.raises(BagError, match=r"unsupported depth encoding 'mono8'"):
        replay_offline(_one_frame_bag(tmp_path / "depth8", "rgb8", "mono8"), replay_config())
    with pytest.raises(BagError, match=r"unsupported image encoding 'yuv422'"):
        image_message(bag_typestore(), np.zeros((2, 2), np.uint8), "yuv422", 0, "cam")
    run = replay_offline(_one_frame_bag(tmp_path / "ok", "rgb8", "32FC1"), replay_config())
    assert len(run.frames) == 1 and run.camera.depth_encoding == "32FC1"
