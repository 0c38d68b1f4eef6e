"""Serve a ``SandboxApp`` with uvicorn in a daemon thread (notebooks, tests, the CLI).

The listening socket is bound before the thread starts, so port 0 (a free port) is known
at once, and ``start()`` returns as soon as uvicorn accepts connections. Requests are
served concurrently on the thread's event loop.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import uvicorn
from starlette.types import Scope

from ._app import SandboxApp

__all__ = ["ServerThread"]


class ServerThread:
    """uvicorn on one pre-bound socket, in a daemon thread."""

    def __init__(self, app: SandboxApp, *, host: str = "127.0.0.1", port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # proto=IPPROTO_TCP lets asyncio set TCP_NODELAY on accepted connections; without it
        # every answer on a kept-alive connection waits for the client's delayed ACK.
        self._socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host.strip("[]"), port))
            self._socket.listen(512)
        except OSError:
            self._socket.close()
            raise
        self.host = host
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            app,
            # httptools' C parser spends less server CPU per request than h11's pure Python
            # one, so the benchmarks measure the client (docs/benchmarks.md, "Sandbox").
            http="httptools",
            loop="asyncio",
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=2,
            backlog=512,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"segwidgets-sandbox-{self.port}",
            daemon=True,
        )
        app.drop_connection = self._drop

    def start(self, *, timeout: float = 10.0) -> None:
        """Start serving; returns once uvicorn accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                msg = "The sandbox server did not start; see the log for the reason."
                raise RuntimeError(msg)
            time.sleep(0.002)

    @property
    def is_running(self) -> bool:
        """True while the server thread serves."""
        return self._thread.is_alive() and self._server.started

    def stop(self, *, timeout: float = 5.0) -> None:
        """Stop serving and close the socket (idempotent)."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._socket.close()

    async def _drop(self, scope: Scope) -> None:
        """Close the connection the request in ``scope`` came on, without an answer."""
        client = scope.get("client")
        target = tuple(client) if client else None
        for connection in list(self._server.server_state.connections):
            if getattr(connection, "client", None) == target:
                connection.transport.close()
                for _ in range(100):  # let the protocol see the close before we return
                    if connection not in self._server.server_state.connections:
                        break
                    await asyncio.sleep(0)
                return
