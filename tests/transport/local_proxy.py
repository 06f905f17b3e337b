"""An HTTP ``CONNECT`` proxy on loopback for the tests of parties behind proxies."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from pathlib import Path

PROXY_VARIABLES = ("grpc_proxy", "https_proxy", "http_proxy", "no_grpc_proxy", "no_proxy")
"""The environment variables gRPC reads a proxy (and the hosts to dial directly) from."""


class _LoopbackProxy:
    """A listener on loopback that hands each connection to :meth:`_handle` (in its accept
    thread), and closes every connection kept in ``_held`` when closed."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self._held: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._handle(conn)

    def _handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._listener.close()
        for conn in self._held:
            conn.close()


class LocalProxy(_LoopbackProxy):
    """An HTTP proxy on loopback that records each ``CONNECT`` line and answers it with
    ``reply`` (None: never answers, holding the connection). With ``inspecting`` (a
    certificate and key file) it answers ``200`` and then speaks TLS itself with that
    certificate, as a proxy that inspects TLS does."""

    def __init__(self, reply: bytes | None, inspecting: tuple[Path, Path] | None = None) -> None:
        self.reply = reply
        self._tls: ssl.SSLContext | None = None
        if inspecting is not None:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(*inspecting)
            self._tls.set_alpn_protocols(["h2"])
        super().__init__()

    def _handle(self, conn: socket.socket) -> None:
        self.requests.append(conn.recv(4096).split(b"\r\n")[0])
        if self._tls is not None:
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            with contextlib.suppress(OSError):  # the party refuses the certificate
                self._held.append(self._tls.wrap_socket(conn, server_side=True))
        elif self.reply is None:
            self._held.append(conn)
        else:
            conn.sendall(self.reply)
            conn.close()


class ForwardingProxy(_LoopbackProxy):
    """An HTTP ``CONNECT`` proxy on loopback that opens the tunnels it is asked for and
    forwards bytes both ways, resolving the host names in ``names`` itself (a name the
    party's own resolver does not know: a coordinator reachable only through the proxy)."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names
        self.heads: list[bytes] = []  # each request's whole head: its headers too
        super().__init__()

    def _handle(self, conn: socket.socket) -> None:
        threading.Thread(target=self._tunnel, args=(conn,), daemon=True).start()

    def _tunnel(self, conn: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk:
                conn.close()
                return
            head += chunk
        line = head.split(b"\r\n")[0]
        self.requests.append(line)
        self.heads.append(head)
        host, _, port = line.split()[1].decode().rpartition(":")
        try:
            upstream = socket.create_connection((self.names.get(host, host), int(port)), 5)
        except OSError:
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            conn.close()
            return
        self._held += [conn, upstream]
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        for source, sink in ((conn, upstream), (upstream, conn)):
            threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
