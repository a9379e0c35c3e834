"""A lossy, slow network link between two network namespaces: two TUN devices and a delay line between.

What ``tc qdisc add dev veth root netem delay 20ms loss 5%`` does on a veth pair, for kernels built without
``sch_netem`` (CONFIG_NET_SCH_NETEM unset: "Specified qdisc kind is unknown"). Each IP packet (every
fragment, as netem sees frames) that one side sends is dropped with probability ``loss``, else handed to the
other side ``delay ± jitter`` later (jitter reorders, as netem's does). Run as root by ``netem.py``:

    python wire.py ROOT_IF NS_IF NETNS

creates ``ROOT_IF`` in this process's namespace and ``NS_IF`` moved into ``NETNS`` (addresses and routes
are the caller's business), prints ``ready``, then reads commands on stdin, one per line, each answered
on stdout: ``set DIRECTION DELAY_MS JITTER_MS LOSS_PCT`` → ``ok`` (DIRECTION: ``out`` = root → namespace,
``in`` = namespace → root, ``both``); ``stats`` → one JSON line (packets forwarded and dropped per
direction, [out, in]). End of stdin ends the link (the TUN devices vanish with the process).
"""

from __future__ import annotations

import contextlib
import fcntl
import heapq
import json
import os
import random
import select
import struct
import subprocess
import sys
import threading
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def open_tun(name: str) -> int:
    """A TUN device ``name`` (raw IP packets, no packet-info header); the device lives while ``fd`` does."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


class DelayLine:
    """Both directions of the link; ``impair`` changes delay, jitter and loss while packets flow."""

    def __init__(self, fd_a: int, fd_b: int, seed: int = 10) -> None:
        self.fds = (fd_a, fd_b)
        # Per direction: [0] packets read from fd_a (going to b), [1] from fd_b.
        self.delay_s = [0.0, 0.0]
        self.jitter_s = [0.0, 0.0]
        self.loss = [0.0, 0.0]
        self.forwarded = [0, 0]
        self.dropped = [0, 0]
        self._rng = random.Random(seed)
        self._queue: list[tuple[float, int, int, bytes]] = []  # (due, seq, out fd, packet)
        self._seq = 0
        self._lock = threading.Lock()

    def impair(self, sides: tuple[int, ...], delay_ms: float, jitter_ms: float, loss_pct: float) -> None:
        with self._lock:
            for side in sides:
                self.delay_s[side], self.jitter_s[side] = delay_ms / 1e3, jitter_ms / 1e3
                self.loss[side] = loss_pct / 100.0

    def stats(self) -> dict[str, object]:
        with self._lock:
            return {"forwarded": list(self.forwarded), "dropped": list(self.dropped),
                    "queued": len(self._queue), "delay_ms": [d * 1e3 for d in self.delay_s],
                    "loss_pct": [x * 100 for x in self.loss]}

    def run(self) -> None:
        while True:
            now = time.monotonic()
            with self._lock:
                while self._queue and self._queue[0][0] <= now:
                    _, _, out, packet = heapq.heappop(self._queue)
                    with contextlib.suppress(OSError):  # the interface is down or gone: lost, as on a wire
                        os.write(out, packet)
                timeout = max(0.0, self._queue[0][0] - now) if self._queue else 0.5
            readable, _, _ = select.select(self.fds, [], [], timeout)
            for fd in readable:
                side = self.fds.index(fd)
                out = self.fds[1 - side]
                for _ in range(64):  # drain what is there, boundedly
                    try:
                        packet = os.read(fd, 65535)
                    except BlockingIOError:
                        break
                    self._enqueue(side, out, packet)

    def _enqueue(self, side: int, out: int, packet: bytes) -> None:
        with self._lock:
            if self.loss[side] and self._rng.random() < self.loss[side]:
                self.dropped[side] += 1
                return
            self.forwarded[side] += 1
            j = self.jitter_s[side]
            delay = self.delay_s[side] + (self._rng.uniform(-j, j) if j else 0.0)
            if delay <= 0.0 and not self._queue:
                with contextlib.suppress(OSError):
                    os.write(out, packet)
                return
            self._seq += 1
            heapq.heappush(self._queue, (time.monotonic() + max(0.0, delay), self._seq, out, packet))


def main() -> int:
    root_if, ns_if, netns = sys.argv[1:4]
    fd_root, fd_ns = open_tun(root_if), open_tun(ns_if)
    # The fd keeps driving the device after it moves: packets the namespace sends on NS_IF come out here.
    subprocess.run(["ip", "link", "set", ns_if, "netns", netns], check=True)
    line = DelayLine(fd_root, fd_ns)
    threading.Thread(target=line.run, name="delay-line", daemon=True).start()
    print("ready", flush=True)
    for command in sys.stdin:
        words = command.split()
        sides = {"out": (0,), "in": (1,), "both": (0, 1)}
        if words[:1] == ["set"] and len(words) == 5 and words[1] in sides:
            line.impair(sides[words[1]], float(words[2]), float(words[3]), float(words[4]))
            print("ok", flush=True)
        elif words == ["stats"]:
            print(json.dumps(line.stats()), flush=True)
        else:
            print(f"error: unknown command {command.strip()!r}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
