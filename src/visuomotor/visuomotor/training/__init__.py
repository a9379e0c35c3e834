"""Tools above the runtime: training data, training, quantisation, experts and sim evaluations.

The runtime packages (camera, detection, geometry, tracking, policy, control, kinematics, latency,
calibration, bag, replay, perception) never import this package nor ``visuomotor.sim``; the CLI and the
benchmarks do. Some modules need the optional training extras (``scripts/setup.sh --train``: torch,
ultralytics) and import them where they are used.

- ``detector_data``: labelled sim renders in the ultralytics layout; ``detector``: train + export an ONNX
  detector and its model card; ``quantize``: INT8 static QDQ of a YOLO export, calibrated on sim frames;
  ``detector_eval``: mAP and timing on fresh labelled sim frames.
- ``policy_demos``: the closed-loop expert and the demo recorder; ``conveyor_expert``: its intercepting
  variant; ``policy_model``: the PyTorch ACT; ``policy``: train + export ACT; ``policy_eval`` and
  ``closed_loop``: rollouts of the shipped policy in the sim cell (lock-step and real time).
"""
