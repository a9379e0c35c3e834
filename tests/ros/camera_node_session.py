"""One camera-node session on a software RealSense, run as its own process by test_camera_node.py.

Prints one JSON line of measurements and leaves with ``os._exit``: pyrealsense2 threads still winding
down during interpreter finalisation abort the process ("terminate called without an active exception")
even after every device and pipeline was stopped, so this process skips finalisation.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

import numpy as np
from graph_probe import GraphProbe
from sensor_msgs.msg import CameraInfo, Image

from visuomotor.camera import SoftwareRealSense, checkerboard_rgb, depth_to_z16, plane_depth_m
from visuomotor.errors import VisuomotorError
from visuomotor.geometry import deproject_image, depth_to_metres
from visuomotor_ros.camera_node import CameraNode
from visuomotor_ros.convert import image_array, intrinsics_from_camera_info, stamp_to_ns
from visuomotor_ros.qos import SENSOR

NS = "/camera/camera"
PLANE_M = 0.8


def wait(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def session() -> dict:
    out: dict = {}
    empty = SoftwareRealSense()  # never plugged: no device
    probe = GraphProbe("camera_probe")
    try:
        CameraNode(empty.context, context=probe.context)
        out["no_device_error"] = ""
    except VisuomotorError as err:
        out["no_device_error"] = str(err)

    sw = SoftwareRealSense()
    sw.plug()
    depth = depth_to_z16(plane_depth_m(sw.depth_intrinsics, np.array([0.0, 0.0, 1.0]), PLANE_M))
    sw.start_feed(checkerboard_rgb(sw.colour_intrinsics), depth)
    lock = threading.Lock()
    msgs: dict[str, list] = {"color": [], "depth": [], "info": []}

    def keep(key: str):
        def on_msg(m: object) -> None:
            with lock:
                msgs[key].append(m)

        return on_msg

    def count(key: str) -> int:
        with lock:
            return len(msgs[key])

    probe.node.create_subscription(Image, f"{NS}/color/image_raw", keep("color"), SENSOR)
    probe.node.create_subscription(Image, f"{NS}/aligned_depth_to_color/image_raw", keep("depth"), SENSOR)
    probe.node.create_subscription(CameraInfo, f"{NS}/color/camera_info", keep("info"), SENSOR)
    node = CameraNode(sw.context, context=probe.context)
    probe.add_node(node)
    out["frames_before"] = wait(lambda: min(count(k) for k in msgs) >= 10, 20) and count("color")
    with lock:
        color, depth_msg = msgs["color"][-1], msgs["depth"][-1]
        infos = {stamp_to_ns(m.header.stamp): m for m in msgs["info"]}
        color_stamps = [stamp_to_ns(m.header.stamp) for m in msgs["color"]]
        depth_stamps = [stamp_to_ns(m.header.stamp) for m in msgs["depth"]]
    K = intrinsics_from_camera_info(infos[stamp_to_ns(depth_msg.header.stamp)])
    z = deproject_image(depth_to_metres(image_array(depth_msg), "16UC1"), K)[..., 2]
    z = z[np.isfinite(z)]
    out.update(
        encodings=[color.encoding, depth_msg.encoding],
        sizes=[[color.width, color.height], [depth_msg.width, depth_msg.height]],
        stamps_sorted=color_stamps == sorted(color_stamps),
        shared_stamps=len(set(color_stamps) & set(depth_stamps)),
        valid_fraction=z.size / (K.width_px * K.height_px),
        depth_min_m=float(z.min()), depth_max_m=float(z.max()),
    )
    sw.unplug()
    before = count("color")
    sw.plug()
    sw.start_feed(checkerboard_rgb(sw.colour_intrinsics), depth)
    out["resumed"] = wait(lambda: count("color") >= before + 10, 20)
    out["reconnects"] = node.reconnects
    probe.close()
    sw.close()
    empty.close()
    return out


if __name__ == "__main__":
    try:
        result = session()
        print(json.dumps(result), flush=True)
        code = 0
    except Exception as err:  # report, then leave without finalisation either way
        print(f"camera session failed: {err!r}", file=sys.stderr, flush=True)
        code = 1
    os._exit(code)
