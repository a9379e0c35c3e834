"""rosbag2 bags without rclpy: write (MCAP, as ``ros2 bag play`` reads), read (MCAP or sqlite3), RGB-D.

Built on rosbags: :class:`BagWriter` and :class:`BagReader` wrap its rosbag2 writer and reader with our
typestore (ROS 2 Kilted + ``visuomotor_interfaces``) and one error type, :class:`BagError`;
:mod:`~visuomotor.bag.camera` finds the camera topics of a bag (our sim, realsense2_camera, ur_robot_driver)
and pairs colour with depth by stamp; :mod:`~visuomotor.bag.messages` builds messages from core values;
:func:`bag_status` and :func:`repair_bag` (``visuomotor bag
info|repair``) report on and mend a bag whose recording was killed or whose chunks are corrupt
(:mod:`~visuomotor.bag.mcap_scan` walks an MCAP file without its index). Replaying a bag through the pipeline
lives in :mod:`visuomotor.replay`; rendering the sim into a bag in :mod:`visuomotor.sim.recording`.
"""

from visuomotor.bag.camera import (
    CAMERA_INFO_TYPE,
    COLOR_ENCODINGS,
    DEPTH_ENCODINGS,
    IMAGE_TYPE,
    JOINT_STATE_TYPE,
    BagFrame,
    CameraLayout,
    FramePairer,
    color_array,
    depth_array_m,
    detect_camera_layout,
)
from visuomotor.bag.errors import BagError
from visuomotor.bag.messages import (
    IMAGE_ENCODINGS,
    camera_info_message,
    frame_trail_message,
    ground_truth_message,
    header,
    image_message,
    joint_state_message,
    pose_message,
    string_message,
)
from visuomotor.bag.reader import BagMessage, BagReader, TopicSummary, header_stamp_ns
from visuomotor.bag.repair import BagStatus, RepairReport, TopicCount, bag_status, repair_bag
from visuomotor.bag.typestore import INTERFACES_PACKAGE, STORE, bag_typestore, ensure_type, interface_msg_dir
from visuomotor.bag.writer import (
    BAG_VERSION,
    CHUNK_BYTES,
    COMMIT_MESSAGES,
    LATCHED_QOS,
    SENSOR_QOS,
    STATE_QOS,
    STORAGES,
    SYNC_PERIOD_S,
    BagWriter,
    qos_profile,
)

__all__ = [
    "BAG_VERSION",
    "CAMERA_INFO_TYPE",
    "CHUNK_BYTES",
    "COLOR_ENCODINGS",
    "COMMIT_MESSAGES",
    "DEPTH_ENCODINGS",
    "IMAGE_ENCODINGS",
    "IMAGE_TYPE",
    "INTERFACES_PACKAGE",
    "JOINT_STATE_TYPE",
    "LATCHED_QOS",
    "SENSOR_QOS",
    "STATE_QOS",
    "STORAGES",
    "STORE",
    "SYNC_PERIOD_S",
    "BagError",
    "BagFrame",
    "BagMessage",
    "BagReader",
    "BagStatus",
    "BagWriter",
    "CameraLayout",
    "FramePairer",
    "RepairReport",
    "TopicCount",
    "TopicSummary",
    "bag_status",
    "bag_typestore",
    "camera_info_message",
    "color_array",
    "depth_array_m",
    "detect_camera_layout",
    "ensure_type",
    "frame_trail_message",
    "ground_truth_message",
    "header",
    "header_stamp_ns",
    "image_message",
    "interface_msg_dir",
    "joint_state_message",
    "pose_message",
    "qos_profile",
    "repair_bag",
    "string_message",
]
