from glob import glob

from setuptools import find_packages, setup

PACKAGE = "visuomotor_ros"

# One executable per node, run as install/visuomotor_ros/lib/visuomotor_ros/<name> (or `ros2 run`).
NODES = {
    "sim": "visuomotor_ros.sim_node:main",
    "latency_monitor": "visuomotor_ros.latency_monitor:main",
    "scripted_pick": "visuomotor_ros.scripted_pick:main",
    "localiser": "visuomotor_ros.localiser_node:main",
    "tracker": "visuomotor_ros.tracker_node:main",
    "overlay": "visuomotor_ros.overlay_node:main",
    "camera": "visuomotor_ros.camera_node:main",
    "detector": "visuomotor_ros.detector_node:main",
    "perception": "visuomotor_ros.perception:main",
    "commander": "visuomotor_ros.commander_node:main",
    "policy": "visuomotor_ros.policy_node:main",
    "recorder": "visuomotor_ros.recorder_node:main",
    "replay": "visuomotor_ros.replay_node:main",
}

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "tests"]),
    package_data={PACKAGE: ["py.typed"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("../../launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("../../config/*.yaml") + glob("../../config/*.xml")),
        (f"share/{PACKAGE}/config/extrinsics", glob("../../config/extrinsics/*.yaml")),
        (f"share/{PACKAGE}/models", glob("../../models/*.onnx") + glob("../../models/*.md")),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    description="Thin rclpy nodes around the visuomotor core.",
    license="Apache-2.0",
    entry_points={"console_scripts": [f"{name} = {target}" for name, target in NODES.items()]},
)
