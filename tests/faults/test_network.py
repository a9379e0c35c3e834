"""DDS delay and loss on the camera and joint-state paths (issue 10), on a real link between namespaces.

The sim (camera, arm, /clock) runs in a network namespace of its own, the commander and the probe in the
root namespace; all of DDS between them crosses one link (``netem.ImpairedLink``: veth + tc netem, or a TUN
delay line where the kernel has no netem), over UDP, in a domain of this module's own. The probe relays
the joint states to the commander and stamps its chunks with the newest ground truth (the camera path), so
both paths cross the link; the impairment is on the robot → controller direction (camera, joint states,
clock). Two stretches: the issue's 20 ms (± 5 ms) and 5 % loss, then a link going bad (70 % loss:
perception goes stale). In each: no node dies, every command is inside the limits and the measured arm
too (both judged by the arm's true state, read beside the sim: ``netem.TruthTap``), wherever an input went
stale on the graph's clock the commander held within one control period (``StalenessAudit``), and the loop
recovers once the link is clean. Skipped, with the reason, where the
machine cannot build the link (no root, no ``ip netns``). ``bench/faults.py`` runs longer stretches.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from chaos import ChaosGraph
from graph_probe import wait_until
from netem import ImpairedLink, Impairment, impaired_stretch, network_graph, unavailable

pytestmark = [pytest.mark.ros, pytest.mark.slow]

STRETCHES = [  # (delay ms, jitter ms, loss %, seconds) robot → controller: the figure, then a link
    (20.0, 5.0, 5.0, 10.0),  # going bad (perception goes stale: the commander must hold)
    (20.0, 5.0, 70.0, 4.0),
]


@pytest.fixture(scope="module")
def net(
    ros_domain: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ChaosGraph, ImpairedLink]]:
    why = unavailable()
    if why is not None:
        pytest.skip(why)
    with network_graph(ros_domain, tmp_path_factory.mktemp("network")) as (graph, link):
        yield graph, link


def _recovers(graph: ChaosGraph, what: str, timeout_s: float = 30.0) -> None:
    graph.mark(f"recovery after {what}")
    graph.home()
    t = time.monotonic()
    wait_until(lambda: graph.accepted_since(t) >= 2, timeout_s, f"accepted chunks again after {what}")


def test_the_loop_runs_across_the_link(net: tuple[ChaosGraph, ImpairedLink]) -> None:
    graph, link = net
    _recovers(graph, "start-up", 60.0)
    stats = link.stats()
    print(f"\nlink backend {link.backend}: {stats}")
    if link.backend == "tun-wire":  # all of DDS crosses it, both ways
        forwarded = stats["forwarded"]
        assert isinstance(forwarded, list) and min(forwarded) > 100, stats


RESULTS: dict[float, Impairment] = {}


@pytest.mark.parametrize(("delay_ms", "jitter_ms", "loss_pct", "seconds"), STRETCHES,
                         ids=[f"{d:g}ms-{loss:g}pct" for d, _, loss, _ in STRETCHES])
def test_delay_and_loss_hold_when_stale_and_recover(
    net: tuple[ChaosGraph, ImpairedLink], delay_ms: float, jitter_ms: float, loss_pct: float, seconds: float,
    record_property: Any,
) -> None:
    graph, link = net
    before = graph.restarts()
    result = RESULTS[loss_pct] = impaired_stretch(graph, link, delay_ms, jitter_ms, loss_pct, seconds)
    record_property("impairment", {k: v for k, v in result.__dict__.items() if k != "link"})
    print(f"\n{delay_ms:g} ± {jitter_ms:g} ms, {loss_pct:g} % loss for {seconds:g} s: "
          f"{result.commands} commands ({result.accepted} motions), rejections {result.rejections}, "
          f"stale spans {result.stale_spans}, hold latencies {result.hold_latencies_ms} ms, "
          f"longest joint-state gap {result.max_joint_gap_ms} ms, outside the limits {len(result.outside)}")
    assert graph.restarts() == before and all(graph.alive().values()), graph.output("commander")[-3000:]
    assert result.checked >= result.commands > 0
    assert not result.missed_holds, result.missed_holds[:5]
    if loss_pct <= 5.0:  # the figure: every command and the measured arm inside the limits
        assert not result.outside, "\n".join(result.outside[:8])
        assert not result.arm_violations, result.arm_violations[:3]
    _recovers(graph, f"{loss_pct:g} % loss")


def test_every_command_under_heavy_loss_was_inside_the_limits() -> None:
    """Found by the 70 % stretch (not every run): a 0.2 s HOLD from a joint state up to 200 ms old needed
    12.8 rad/s² from the arm's true state. The HOLD now starts from the state extrapolated to now and
    lasts long enough for whatever the arm did since the stamp (``Commander.hold``)."""
    heavy = [r for loss, r in RESULTS.items() if loss > 5.0]
    if not heavy:
        pytest.skip("the heavy-loss stretch did not run")
    outside = [x for r in heavy for x in r.outside]
    arm = [x for r in heavy for x in r.arm_violations]
    assert not outside and not arm, "\n".join(outside[:8] + arm[:8])
