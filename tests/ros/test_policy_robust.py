"""The policy node survives whatever arrives on its topics and keeps acting (issue 10's probe).

Probe on the old code: one ``/joint_states`` with 6 names and 2 positions killed the policy node
(IndexError at the position lookup), as it killed the commander. Here the node gets malformed joint states
and malformed tracks (NaN, an unknown track state, empty), then a sane arm and sane tracks: it must still
be running and send an action chunk for them.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
import pytest
from graph_probe import GraphProbe, wait_until
from sensor_msgs.msg import JointState

from visuomotor.interfaces import Track, TrackState
from visuomotor.kinematics import UR10E_JOINT_NAMES
from visuomotor_interfaces.msg import ActionChunk, TrackArray
from visuomotor_interfaces.msg import Track as TrackMsg
from visuomotor_ros.convert import joint_state_msg, track_to_msg
from visuomotor_ros.qos import STATE

pytestmark = [pytest.mark.ros]

ROOT = Path(__file__).resolve().parents[2]
Q_HOME = np.array([-0.4, -2.2, 2.1, -1.47, -1.5708, 0.0])


def _tracks(probe: GraphProbe, tracks: list[TrackMsg]) -> TrackArray:
    msg = TrackArray(tracks=tracks)
    msg.header.stamp = probe.node.get_clock().now().to_msg()
    msg.header.frame_id = "base_link"
    return msg


def test_malformed_joint_states_and_tracks_never_kill_the_policy_node(probe: GraphProbe, launch) -> None:
    proc = launch("policy", {"target_class": "red_cube"}, params_files=[ROOT / "config" / "policy.yaml"])
    node = probe.node
    joints = node.create_publisher(JointState, "/joint_states", STATE)
    tracks = node.create_publisher(TrackArray, "/visuomotor/tracks", STATE)
    chunks: list[ActionChunk] = []
    lock = threading.Lock()

    def on_chunk(msg: ActionChunk) -> None:
        with lock:
            chunks.append(msg)

    node.create_subscription(ActionChunk, "/visuomotor/action_chunk", on_chunk, STATE)
    probe.wait_for_subscribers("/joint_states")
    probe.wait_for_subscribers("/visuomotor/tracks")
    probe.wait_for_publishers("/visuomotor/action_chunk")

    now = lambda: node.get_clock().now().nanoseconds  # noqa: E731
    six = list(UR10E_JOINT_NAMES)
    bad_joints = [
        JointState(name=six, position=[0.1, 0.2]),  # the probe: 6 names, 2 positions
        JointState(name=six[:3], position=[0.0] * 3),
        JointState(name=six + six, position=[0.0] * 12),
        joint_state_msg(UR10E_JOINT_NAMES, np.full(6, math.nan), np.zeros(6), now()),
        joint_state_msg(UR10E_JOINT_NAMES, np.full(6, math.inf), np.zeros(6), now()),
        JointState(name=[], position=[]),
        JointState(name=six, position=[0.0] * 6, velocity=[1.0]),
    ]
    cube = Track(1, 0, "red_cube", (0.6, 0.1, 0.025), (0.0, 0.0, 0.0), TrackState.CONFIRMED, 10, 10, 0, 0.9,
                 "base_link")
    bin_ = Track(2, 3, "bin", (0.55, -0.45, 0.05), (0.0, 0.0, 0.0), TrackState.CONFIRMED, 10, 10, 0, 0.9,
                 "base_link")
    nan_cube = track_to_msg(cube)
    nan_cube.position.x = math.nan
    odd_state = track_to_msg(cube)
    odd_state.state = 77  # not a TrackState
    bad_tracks = [[nan_cube, track_to_msg(bin_)], [odd_state, track_to_msg(bin_)], []]
    for _ in range(3):
        for msg in bad_joints:
            joints.publish(msg)
        joints.publish(joint_state_msg(UR10E_JOINT_NAMES, Q_HOME, np.zeros(6), now()))
        for t in bad_tracks:
            tracks.publish(_tracks(probe, t))
    assert proc.alive(), proc.output()[-3000:]

    def sane() -> bool:
        joints.publish(joint_state_msg(UR10E_JOINT_NAMES, Q_HOME, np.zeros(6), now()))
        tracks.publish(_tracks(probe, [track_to_msg(cube), track_to_msg(bin_)]))
        with lock:
            return any(c.target_track_id == 1 for c in chunks)

    wait_until(sane, 20, "an action chunk for the sane cube after the malformed input", period_s=0.1)
    assert proc.alive(), proc.output()[-3000:]
    with lock:
        chunk = next(c for c in chunks if c.target_track_id == 1)
    positions = np.array([[s.tcp_pose.position.x, s.tcp_pose.position.y, s.tcp_pose.position.z]
                          for s in chunk.steps])
    assert np.isfinite(positions).all() and len(positions) >= 1
