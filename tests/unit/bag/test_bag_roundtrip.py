"""Bags written by BagWriter / record_sim_bag read back exactly, in the format rosbag2 Jazzy/Kilted reads."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from bag_fixtures import SIM_FRAMES

from visuomotor.bag import (
    BAG_VERSION,
    SENSOR_QOS,
    STATE_QOS,
    BagError,
    BagReader,
    BagWriter,
    bag_typestore,
    color_array,
    depth_array_m,
    detect_camera_layout,
    header_stamp_ns,
    image_message,
    interface_msg_dir,
    string_message,
)
from visuomotor.geometry import intrinsics_from_camera_info
from visuomotor.sim import SimConfig, SimWorld
from visuomotor.sim.recording import SIM_TOPICS, SimBagSummary


def test_sim_bag_metadata_is_rosbag2_v9_mcap(sim_bag: SimBagSummary) -> None:
    meta = yaml.safe_load((sim_bag.path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["version"] == BAG_VERSION == 9
    assert meta["storage_identifier"] == "mcap"
    assert meta["relative_file_paths"] == ["sim15.mcap"]
    assert meta["message_count"] == SIM_FRAMES * len(SIM_TOPICS)
    topics = {t["topic_metadata"]["name"]: t for t in meta["topics_with_message_count"]}
    assert set(topics) == set(SIM_TOPICS.values())
    color = topics["/camera/camera/color/image_raw"]
    assert color["message_count"] == SIM_FRAMES
    assert color["topic_metadata"]["type"] == "sensor_msgs/msg/Image"
    assert color["topic_metadata"]["serialization_format"] == "cdr"
    # v9 QoS: a list of profiles with named policies, as rosbag2 Jazzy/Kilted write them.
    (qos,) = color["topic_metadata"]["offered_qos_profiles"]
    assert (qos["reliability"], qos["durability"], qos["history"], qos["depth"]) == (
        "best_effort",
        "volatile",
        "keep_last",
        2,
    )
    assert qos["deadline"] == {"sec": 9223372036, "nsec": 854775807}  # RMW_DURATION_INFINITE
    (gt_qos,) = topics["/sim/ground_truth"]["topic_metadata"]["offered_qos_profiles"]
    assert gt_qos["reliability"] == "reliable"
    assert meta["duration"]["nanoseconds"] == sim_bag.stamps_ns[-1] - sim_bag.stamps_ns[0]


def test_mcap_schemas_carry_full_message_definitions(sim_bag: SimBagSummary) -> None:
    """ros2 bag play needs nothing but type names; other MCAP tools decode from the embedded ros2msg text."""
    data = (sim_bag.path / "sim15.mcap").read_bytes()
    assert data.startswith(b"\x89MCAP0\r\n") and data.endswith(b"\x89MCAP0\r\n")
    for text in (
        b"ros2msg",
        b"visuomotor_interfaces/msg/SimGroundTruth",
        b"MSG: visuomotor_interfaces/SimObject",
        b"string class_name",
        b"geometry_msgs/Vector3 extent",
        b"offered_qos_profiles",
    ):
        assert text in data, text


def test_custom_type_hashes_equal_the_rosidl_build() -> None:
    """The RIHS01 hashes written per topic match what rosidl generated for visuomotor_interfaces."""
    store = bag_typestore()
    shares = [
        Path(p) / "share" / "visuomotor_interfaces" / "msg"
        for p in os.environ.get("AMENT_PREFIX_PATH", "").split(":")
        if p
    ]
    share = next((s for s in shares if s.is_dir()), None)
    if share is None:
        pytest.skip("visuomotor_interfaces is not built (run scripts/setup.sh and source scripts/env.sh)")
    names = sorted(p.stem for p in interface_msg_dir().glob("*.msg"))
    assert len(names) >= 10
    for name in names:
        full = f"visuomotor_interfaces/msg/{name}"
        hashes = {
            h["type_name"]: h["hash_string"]
            for h in json.loads((share / f"{name}.json").read_text())["type_hashes"]
        }
        assert store.hash_rihs01(full) == hashes[full], name


def test_sim_frames_read_back_exactly(sim_bag: SimBagSummary) -> None:
    world = SimWorld(SimConfig())
    world.reset(4)
    first = world.render()
    world.close()
    with BagReader(sim_bag.path) as bag:
        assert bag.name == "sim15"
        assert {t: s.count for t, s in bag.topics.items()} == dict.fromkeys(SIM_TOPICS.values(), SIM_FRAMES)
        layout = detect_camera_layout(bag.topics)
        assert (layout.color_topic, layout.depth_topic, layout.info_topic, layout.depth_aligned) == (
            SIM_TOPICS["color"],
            SIM_TOPICS["depth"],
            SIM_TOPICS["color_info"],
            True,
        )
        assert layout.joint_states_topic == "/joint_states"
        colors = list(bag.messages({SIM_TOPICS["color"]}))
        assert [header_stamp_ns(m.data) for m in colors] == list(sim_bag.stamps_ns)
        assert [m.log_time_ns for m in colors] == list(sim_bag.stamps_ns)
        rgb, encoding = color_array(bag.decode(colors[0]))
        np.testing.assert_array_equal(rgb, first.rgb)
        depth_msg = next(bag.messages({SIM_TOPICS["depth"]}))
        depth_m, depth_encoding = depth_array_m(bag.decode(depth_msg))
        np.testing.assert_array_equal(np.nan_to_num(depth_m), np.nan_to_num(first.depth_m))
        assert (encoding, depth_encoding) == ("rgb8", "16UC1")
        _, info = next(bag.read(SIM_TOPICS["color_info"]))
        assert intrinsics_from_camera_info(info) == world.intrinsics
        _, truth = next(bag.read(SIM_TOPICS["ground_truth"]))
        assert [o.name for o in truth.objects] == ["red_cube_0", "green_cube_1", "blue_cube_2", "bin"]
        np.testing.assert_allclose(
            [truth.camera_pose.position.x, truth.camera_pose.position.y, truth.camera_pose.position.z],
            world.T_base_link_camera[:3, 3],
        )
        _, joints = next(bag.read("/joint_states"))
        assert len(joints.name) == 7 and len(joints.effort) == 7


def test_writer_raw_and_typed_messages_and_sqlite3(tmp_path: Path) -> None:
    """write() and write_raw() give the same bytes; the sqlite3 storage reads back too."""
    store = bag_typestore()
    image = image_message(store, np.arange(12, dtype=np.uint16).reshape(3, 4), "16UC1", 1_500_000_007, "cam")
    for storage in ("mcap", "sqlite3"):
        path = tmp_path / storage
        with BagWriter(path, storage=storage) as bag:
            bag.add_topic("/a", "sensor_msgs/msg/Image", [SENSOR_QOS])
            bag.add_topic("/b", "std_msgs/msg/String", [STATE_QOS, STATE_QOS])
            bag.write("/a", 10, image)
            bag.write_raw("/a", 20, store.serialize_cdr(image, "sensor_msgs/msg/Image"))
            bag.write("/b", 15, string_message(store, "hello"))
            assert bag.message_counts == {"/a": 2, "/b": 1}
        with BagReader(path) as bag:
            assert [(m.topic, m.log_time_ns) for m in bag.messages()] == [("/a", 10), ("/b", 15), ("/a", 20)]
            first, second = (bytes(m.data) for m in bag.messages({"/a"}))
            assert first == second
            assert header_stamp_ns(first) == 1_500_000_007
            assert bag.decode(next(bag.messages({"/b"}))).data == "hello"
            assert len(bag.topics["/b"].offered_qos) == 2


def test_writer_refuses_existing_paths_and_undeclared_topics(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="exists already"):
        BagWriter(tmp_path)
    with BagWriter(tmp_path / "new") as bag:
        with pytest.raises(BagError, match="was not added"):
            bag.write_raw("/nope", 0, b"\x00\x01\x00\x00")
        bag.add_topic("/a", "std_msgs/msg/String")
        with pytest.raises(BagError, match="already in the bag as std_msgs/msg/String"):
            bag.add_topic("/a", "sensor_msgs/msg/Image")
        with pytest.raises(BagError, match="no definition of message type 'nosuch_msgs/msg/Thing'"):
            bag.add_topic("/b", "nosuch_msgs/msg/Thing")
    assert (tmp_path / "new" / "metadata.yaml").is_file()
