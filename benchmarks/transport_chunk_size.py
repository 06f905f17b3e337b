"""Payload chunk size on the hub's stream: loopback throughput against the slowest link a
party can stay connected over.

A deployed party or hub counts a peer alive while whole frames arrive within the heartbeat
timeout (10 s by default), so a payload chunk must cross the slowest link in less than
that: a 1 MiB chunk needs 0.84 Mbit/s, a 64 KiB one 52 kbit/s. Smaller chunks cost more
frames per message; this measures what that costs on loopback, where it shows most.

Each chunk size gets its own hub and party processes (mutual TLS), all started up front;
rounds (S MB to each party and back) run interleaved across the chunk sizes, repeated, so
every size sees the same machine load.

    .venv/bin/python benchmarks/transport_chunk_size.py --sizes 1 40 --parties 2 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from rengo.transport import grpc_frames
from rengo.transport.certs import init_certificates
from rengo.transport.grpc_hub import GrpcHub
from rengo.transport.grpc_party import Backoff, PartyConnection
from rengo.transport.grpc_security import HubSecurity, PartyCredentials
from rengo.transport.pool import Request

MB = 1024 * 1024
KIB = 1024


def echo(cid: str, key: str, payload: bytes, state: bytes | None) -> tuple[bytes, None]:
    return payload, None


def party(address: str, name: str, certs: str, chunk: int) -> None:
    grpc_frames.CHUNK_SIZE = chunk  # this process's replies go in chunks of this size
    credentials = PartyCredentials.from_directory(certs, name)
    PartyConnection(
        address, name, credentials, handler=echo, backoff=Backoff(give_up_after=30)
    ).run()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--party":
        party(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks-kib", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 40])
    parser.add_argument("--parties", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    certs = tempfile.mkdtemp(prefix="rengo-bench-chunks-")
    names = [f"p{i}" for i in range(args.parties)]
    init_certificates(certs, names)
    hubs: dict[int, GrpcHub] = {}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for kib in args.chunks_kib:
            hub = GrpcHub("127.0.0.1:0", HubSecurity.from_directory(certs))
            hub.start()
            hubs[kib] = hub
            procs += [
                subprocess.Popen(
                    [sys.executable, __file__, "--party", hub.address, n, certs, str(kib * KIB)]
                )
                for n in names
            ]
            assert hub.wait_for_parties(names, None, 60), "parties did not connect"
        times: dict[tuple[int, float], list[float]] = {}
        for size in args.sizes:
            payload = bytes(int(size * MB))
            requests = [Request(n, "echo", payload) for n in names]
            for repeat in range(args.repeats + 1):  # the first pass warms up
                for kib, hub in hubs.items():
                    grpc_frames.CHUNK_SIZE = kib * KIB  # the hub's requests
                    start = time.perf_counter()
                    replies = list(hub.request(requests, timeout=120))
                    took = time.perf_counter() - start
                    assert all(r.ok and len(r.payload or b"") == len(payload) for r in replies)
                    if repeat:
                        times.setdefault((kib, size), []).append(took)
        print(
            f"{args.parties} parties, mTLS, echo round (S MB to each party and back), "
            f"median [min-max] of {args.repeats} interleaved; load average "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        )
        for size in args.sizes:
            for kib in args.chunks_kib:
                t = times[(kib, size)]
                slowest = kib * KIB * 8 / 10.0 / 1000  # kbit/s to move one chunk in 10 s
                print(
                    f"{size:6g} MB  chunk {kib:5d} KiB: {statistics.median(t) * 1e3:8.1f} ms "
                    f"[{min(t) * 1e3:.1f}-{max(t) * 1e3:.1f}]  (slowest link for a 10 s "
                    f"heartbeat timeout: {slowest:.0f} kbit/s)"
                )
    finally:
        for hub in hubs.values():
            hub.close()
        for p in procs:
            p.wait(30)


if __name__ == "__main__":
    main()
