"""Headless RGB-D rendering of the fixed camera and a stereo-like depth-noise model.

Rendering uses MuJoCo's classic OpenGL renderer in an offscreen EGL context (``MUJOCO_GL=egl``, set by
``visuomotor.sim`` before MuJoCo is imported). One render pass fills both the colour and the depth
buffer; anti-aliasing and shadows are off (≈ 23 ms per 640×480 frame on llvmpipe instead of ≈ 320 ms).

Frames: MuJoCo cameras look along −z with y up; the optical frame (REP-103) has x right, y down,
z forward, i.e. R_mujoco_optical = diag(1, −1, −1). MuJoCo depth is planar (the optical z), metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from visuomotor.errors import SimError
from visuomotor.geometry import CameraIntrinsics
from visuomotor.sim.config import CameraConfig, DepthNoiseConfig

__all__ = [
    "R_MUJOCO_OPTICAL",
    "RgbdFrame",
    "RgbdRenderer",
    "camera_intrinsics",
    "depth_edges",
    "depth_sigma_m",
    "make_depth_image",
]

#: Rotation from the MuJoCo camera frame to the optical frame (x right, y down, z forward).
R_MUJOCO_OPTICAL = np.diag([1.0, -1.0, -1.0])
R_MUJOCO_OPTICAL.setflags(write=False)


@dataclass(frozen=True, slots=True)
class RgbdFrame:
    """One aligned colour + depth frame.

    Attributes:
        rgb: (H, W, 3) uint8, RGB order.
        depth_mm: (H, W) uint16 millimetres along the optical axis, 0 = no data (``16UC1``).
        depth_m: (H, W) float32 metres, NaN = no data (``32FC1``); exactly ``depth_mm · 1e-3``.
        time_s: sim time the frame shows, seconds.
    """

    rgb: np.ndarray
    depth_mm: np.ndarray
    depth_m: np.ndarray
    time_s: float


def camera_intrinsics(config: CameraConfig) -> CameraIntrinsics:
    """Pinhole intrinsics of the rendered image: square pixels, centred principal point."""
    return CameraIntrinsics.from_fovy(config.width_px, config.height_px, np.deg2rad(config.fovy_deg))


class RgbdRenderer:
    """Renders one fixed MuJoCo camera to colour and planar depth.

    Not thread-safe: serialise calls. Any thread may render (the context is bound per call).

    Args:
        model: the compiled model (its offscreen buffer must be at least ``width_px × height_px``).
        camera_name: name of the fixed camera in the model.
        width_px, height_px: image size.

    Raises:
        SimError: the camera does not exist or no OpenGL context can be created (set ``MUJOCO_GL=egl``
            before importing MuJoCo, and install libEGL).
    """

    def __init__(self, model: mujoco.MjModel, camera_name: str, width_px: int, height_px: int) -> None:
        self._model = model
        cam_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, camera_name)
        if cam_id < 0:
            raise SimError(f"camera {camera_name!r} is not in the model")
        self.camera_id = cam_id
        self._width, self._height = width_px, height_px
        try:
            self._gl = mujoco.GLContext(width_px, height_px)
            with self._gl.as_current():
                self._context: mujoco.MjrContext | None = mujoco.MjrContext(
                    model, mujoco.mjtFontScale.mjFONTSCALE_100
                )
                mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._context)
        except Exception as err:  # the GL backends raise assorted types; all mean "no context"
            raise SimError(
                f"cannot create an offscreen OpenGL context ({err}); run with MUJOCO_GL=egl set before "
                "mujoco is imported and libEGL installed"
            ) from err
        # Reversed-z float depth: far = 0, which keeps precision at range (the classic Renderer does too).
        self._context.readDepthMap = mujoco.mjtDepthMap.mjDEPTH_ZEROFAR
        self._scene = mujoco.MjvScene(model, maxgeom=2000)
        self._scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
        self._scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
        self._option = mujoco.MjvOption()
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
        self._camera.fixedcamid = cam_id
        self._rect = mujoco.MjrRect(0, 0, width_px, height_px)
        self._rgb = np.empty((height_px, width_px, 3), dtype=np.uint8)
        self._depth = np.empty((height_px, width_px), dtype=np.float32)
        extent = model.stat.extent
        near, far = model.vis.map.znear * extent, model.vis.map.zfar * extent
        # OpenGL projection terms in float32 as glFrustum builds them, mapped for reversed z.
        zn, zf = np.float32(near), np.float32(far)
        c = -(zf + zn) / (zf - zn)
        d = -(np.float32(2) * zf * zn) / (zf - zn)
        self._c = float(np.float32(-0.5) * c - np.float32(0.5))
        self._d = float(np.float32(-0.5) * d)

    def render(self, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray]:
        """Render the current state.

        Args:
            data: the state to show (its kinematics must be current: after mj_step or mj_forward).

        Returns:
            (rgb, depth_m): (H, W, 3) uint8 and (H, W) float64 planar depth in metres, row 0 at the top.
        """
        if self._context is None:
            raise SimError("render() after close()")
        # Bind the context only while rendering, so that any thread may render next (one at a time).
        with self._gl.as_current():
            mujoco.mjv_updateScene(
                self._model, data, self._option, None, self._camera, mujoco.mjtCatBit.mjCAT_ALL, self._scene
            )
            mujoco.mjr_render(self._rect, self._scene, self._context)
            mujoco.mjr_readPixels(self._rgb, self._depth, self._rect, self._context)
        # OpenGL rows start at the bottom.
        rgb = np.ascontiguousarray(self._rgb[::-1])
        depth = self._d / (self._depth[::-1].astype(np.float64) + self._c)
        return rgb, depth

    def close(self) -> None:
        """Free the OpenGL resources (idempotent)."""
        if self._context is not None:
            with self._gl.as_current():
                self._context.free()
            self._context = None
            self._gl.free()


def depth_sigma_m(depth_m: np.ndarray, noise: DepthNoiseConfig) -> np.ndarray:
    """σ of the depth noise at each range: sigma_base_m + sigma_scale_per_m · z² (metres)."""
    z = np.asarray(depth_m, dtype=np.float64)
    return noise.sigma_base_m + noise.sigma_scale_per_m * z * z


def depth_edges(depth_m: np.ndarray, threshold_m: float) -> np.ndarray:
    """Pixels next to a depth discontinuity larger than ``threshold_m`` (either side of it).

    Args:
        depth_m: (H, W) depth, metres (NaN = no data; a step to no data is not an edge).
        threshold_m: jump between 4-neighbours that counts as a discontinuity.

    Returns:
        (H, W) bool mask.
    """
    edges = np.zeros(depth_m.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        jump_x = np.abs(np.diff(depth_m, axis=1)) > threshold_m
        jump_y = np.abs(np.diff(depth_m, axis=0)) > threshold_m
    edges[:, 1:] |= jump_x
    edges[:, :-1] |= jump_x
    edges[1:, :] |= jump_y
    edges[:-1, :] |= jump_y
    return edges


def make_depth_image(
    depth_m: np.ndarray,
    camera: CameraConfig,
    noise: DepthNoiseConfig,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Turn rendered planar depth into what a RealSense publishes.

    Steps: (noise on) holes at depth edges and random holes, Gaussian noise with σ(z) from
    :func:`depth_sigma_m`; then the range gate [min_range_m, max_range_m] (outside → no data) and
    quantisation to millimetres. The float image is derived from the millimetre one, so both encodings
    carry the same numbers.

    Args:
        depth_m: (H, W) exact planar depth, metres.
        camera: range gate.
        noise: noise model (``enabled`` False → exact depth, still gated and quantised).
        rng: random source (seeded by the world on reset).

    Returns:
        (depth_mm, depth_metres): (H, W) uint16 with 0 = no data, and (H, W) float32 with NaN = no data.
    """
    z = np.array(depth_m, dtype=np.float64)
    valid = np.isfinite(z) & (z > 0)
    if noise.enabled:
        holes = depth_edges(np.where(valid, z, np.nan), noise.edge_threshold_m)
        holes &= rng.random(z.shape) < noise.edge_hole_probability
        if noise.random_hole_probability > 0:
            holes |= rng.random(z.shape) < noise.random_hole_probability
        valid &= ~holes
        z = z + rng.standard_normal(z.shape) * depth_sigma_m(np.where(valid, z, 0.0), noise)
    valid &= (z >= camera.min_range_m) & (z <= camera.max_range_m)
    depth_mm = np.zeros(z.shape, dtype=np.uint16)
    depth_mm[valid] = np.clip(np.rint(z[valid] * 1000.0), 1, 65535).astype(np.uint16)
    metres = depth_mm.astype(np.float32) * np.float32(1e-3)
    metres[depth_mm == 0] = np.nan
    return depth_mm, metres
