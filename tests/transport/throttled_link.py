"""A TCP relay that moves bytes at a fixed rate each way: a slow but healthy link between a
party and its coordinator on localhost (a phone's uplink, a VPN over a thin line)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

_PIECE = 4096


class ThrottledLink:
    """Listens on a free localhost port (:attr:`address`) and relays every connection to
    ``target`` (``host:port``), each direction at most ``bytes_per_second``."""

    def __init__(self, target: str, bytes_per_second: float) -> None:
        host, port = target.rsplit(":", 1)
        self._target = (host, int(port))
        self._rate = bytes_per_second
        self._server = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._server.getsockname()[1]}"
        self._sockets: list[socket.socket] = []
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
                upstream = socket.create_connection(self._target)
            except OSError:
                return
            self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._relay, args=(src, dst), daemon=True).start()

    def _relay(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(_PIECE):
                time.sleep(len(data) / self._rate)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Stop accepting and cut every relayed connection."""
        self._closed.set()
        self._server.close()
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.close()
