#!/bin/bash
# Container entry point: ROS 2 + the venv + our colcon install, then the command (default: the sim launch).
set -e
# shellcheck disable=SC1090,SC1091
source "/opt/ros/${ROS_DISTRO}/setup.bash"
# shellcheck disable=SC1091
source /opt/venv/bin/activate
# shellcheck disable=SC1091
source /ws/install/setup.bash
exec "$@"
