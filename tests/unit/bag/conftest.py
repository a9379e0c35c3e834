"""Bags shared by the bag tests: one sim recording per session (rendering is the slow part)."""

from __future__ import annotations

import pytest
from bag_fixtures import SIM_FRAMES

from visuomotor.sim.recording import SimBagSummary, record_sim_bag


@pytest.fixture(scope="session")
def sim_bag(tmp_path_factory: pytest.TempPathFactory) -> SimBagSummary:
    """15 frames of sim scene 4 with every sim topic (colour, depth, infos, ground truth, joints, trails)."""
    return record_sim_bag(tmp_path_factory.mktemp("bags") / "sim15", SIM_FRAMES, seed=4)
