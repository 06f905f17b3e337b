"""gRPC hub vs raw TCP: round-trip time and throughput between a coordinator and N parties.

One "round" sends a model of S MB to each of N party processes and gets S MB back from each
(the shape of a FedAvg round). The anchor is the floor any transport pays: plain TCP
sockets moving the same bytes between the same processes. Also measured: the per-round
coordination overhead with a 1 KB model (everything that is not moving bytes).

Run (nothing to install beyond rengo's own dependencies):

    .venv/bin/python benchmarks/transport.py                 # 1, 10, 40 MB x 10 parties
    .venv/bin/python benchmarks/transport.py --sizes 1 --parties 4 --repeats 2   # quick

Targets: gRPC >= 50% of raw TCP throughput at 40 MB; overhead < 20 ms per round, 10 parties.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from rengo.transport.certs import init_certificates
from rengo.transport.grpc_hub import GrpcHub
from rengo.transport.grpc_party import Backoff, PartyConnection
from rengo.transport.grpc_security import HubSecurity, PartyCredentials
from rengo.transport.pool import Request

MB = 1024 * 1024
_LEN = struct.Struct("<Q")


# -- party processes ------------------------------------------------------------------------
def echo(cid: str, key: str, payload: bytes, state: bytes | None) -> tuple[bytes, None]:
    return payload, None


def grpc_party(address: str, name: str, certs: str, insecure: bool) -> None:
    credentials = (
        PartyCredentials(insecure=True)
        if insecure
        else PartyCredentials.from_directory(certs, name)
    )
    PartyConnection(
        address, name, credentials, handler=echo, backoff=Backoff(give_up_after=30)
    ).run()


def _recv_exact(sock: socket.socket, size: int) -> bytearray:
    buf = bytearray(size)
    view, got = memoryview(buf), 0
    while got < size:
        n = sock.recv_into(view[got:], size - got)
        if n == 0:
            raise ConnectionError("peer closed")
        got += n
    return buf


def tcp_party(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            try:
                (size,) = _LEN.unpack(_recv_exact(sock, _LEN.size))
            except ConnectionError:
                return
            data = _recv_exact(sock, size)
            sock.sendall(_LEN.pack(size))
            sock.sendall(data)


# -- coordinator side -------------------------------------------------------------------------
def spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, __file__, *args])


def bench_grpc(
    sizes: list[float], parties: int, repeats: int, insecure: bool
) -> dict[float, list[float]]:
    certs = tempfile.mkdtemp(prefix="rengo-bench-certs-")
    names = [f"p{i}" for i in range(parties)]
    security = HubSecurity(insecure=True) if insecure else None
    if security is None:
        init_certificates(certs, names)
        security = HubSecurity.from_directory(certs)
    hub = GrpcHub("127.0.0.1:0", security)
    hub.start()
    procs = [spawn("--grpc-party", hub.address, n, certs, "1" if insecure else "0") for n in names]
    try:
        assert hub.wait_for_parties(names, None, 60), "parties did not connect"
        times: dict[float, list[float]] = {}
        for size in sizes:
            payload = bytes(int(size * MB))
            requests = [Request(n, "echo", payload) for n in names]
            list(hub.request(requests, timeout=120))  # warm-up
            times[size] = []
            for _ in range(repeats):
                start = time.perf_counter()
                replies = list(hub.request(requests, timeout=120))
                times[size].append(time.perf_counter() - start)
                assert all(r.ok and len(r.payload or b"") == len(payload) for r in replies)
        return times
    finally:
        hub.close()
        for p in procs:
            p.wait(30)


def bench_tcp(sizes: list[float], parties: int, repeats: int) -> dict[float, list[float]]:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    procs = [spawn("--tcp-party", str(port)) for _ in range(parties)]
    conns = []
    for _ in range(parties):
        conn, _addr = server.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conns.append(conn)

    def exchange(conn: socket.socket, payload: bytes) -> None:
        sender = threading.Thread(target=lambda: conn.sendall(_LEN.pack(len(payload)) + payload))
        sender.start()
        (size,) = _LEN.unpack(_recv_exact(conn, _LEN.size))
        _recv_exact(conn, size)
        sender.join()

    def round_trip(payload: bytes) -> float:
        start = time.perf_counter()
        threads = [threading.Thread(target=exchange, args=(c, payload)) for c in conns]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - start

    try:
        times: dict[float, list[float]] = {}
        for size in sizes:
            payload = bytes(int(size * MB))
            round_trip(payload)
            times[size] = [round_trip(payload) for _ in range(repeats)]
        return times
    finally:
        for c in conns:
            c.close()
        server.close()
        for p in procs:
            p.wait(30)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--grpc-party":
        grpc_party(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] == "1")
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--tcp-party":
        tcp_party(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 10, 40])
    parser.add_argument("--parties", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sizes = [1 / 1024, *args.sizes]  # 1 KB first: the coordination overhead
    tcp = bench_tcp(sizes, args.parties, args.repeats)
    plain = bench_grpc(sizes, args.parties, args.repeats, insecure=True)
    tls = bench_grpc(sizes, args.parties, args.repeats, insecure=False)
    print(
        f"{args.parties} parties, echo round (S MB to each party and back), median of "
        f"{args.repeats}; throughput counts bytes both ways"
    )
    print(f"{'size':>8} {'raw TCP':>16} {'gRPC plain':>22} {'gRPC mTLS':>22}")
    for size in sizes:
        moved = 2 * args.parties * size * MB
        cols = []
        for times in (tcp, plain, tls):
            t = statistics.median(times[size])
            cols.append((t, moved / t / MB))
        label = "1 KB" if size < 1 else f"{size:g} MB"
        row = f"{label:>8} {cols[0][0] * 1e3:8.1f} ms {cols[0][1]:5.0f} MB/s"
        for t, rate in cols[1:]:
            row += f" {t * 1e3:8.1f} ms {rate:5.0f} MB/s {cols[0][0] / t:4.0%}"
        print(row)
    overhead_plain = statistics.median(plain[sizes[0]]) - statistics.median(tcp[sizes[0]])
    overhead_tls = statistics.median(tls[sizes[0]]) - statistics.median(tcp[sizes[0]])
    print(
        f"coordination overhead per round at 1 KB, {args.parties} parties: "
        f"{statistics.median(plain[sizes[0]]) * 1e3:.1f} ms plain, "
        f"{statistics.median(tls[sizes[0]]) * 1e3:.1f} ms mTLS "
        f"({overhead_plain * 1e3:+.1f} / {overhead_tls * 1e3:+.1f} ms over raw TCP)"
    )
    biggest = sizes[-1]
    print(
        f"throughput at {biggest:g} MB vs raw TCP: plain "
        f"{statistics.median(tcp[biggest]) / statistics.median(plain[biggest]):.0%}, mTLS "
        f"{statistics.median(tcp[biggest]) / statistics.median(tls[biggest]):.0%}"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    main()
