"""``sandbox.start()`` and the ``Sandbox`` handle: a running emulator in this process."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

from .._config import Credentials, is_loopback_host
from .._secrets import Secret
from ._app import SandboxApp
from ._model import SandboxModel
from ._server import ServerThread
from ._settings import Settings
from ._tokens import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_PASSWORD, SANDBOX_USERNAME

__all__ = ["Sandbox", "start"]


class Sandbox:
    """A running sandbox: its URLs, credentials, state model and knobs.

    Create it with ``segwidgets.sandbox.start()``; stop it with ``stop()`` or a ``with``
    block.
    """

    def __init__(self, *, model: SandboxModel, app: SandboxApp, server: ServerThread) -> None:
        self.model = model
        self._app = app
        self._server = server
        host = server.host
        shown = f"[{host.strip('[]')}]" if ":" in host else host
        #: ``http://127.0.0.1:PORT``
        self.url = f"http://{shown}:{server.port}"
        #: ``http://127.0.0.1:PORT/{service}``: the base URL template for ``Credentials``.
        self.base_url = self.url + "/{service}"

    @property
    def merchant(self) -> str:
        """The emulated merchant's code."""
        return self.model.merchant

    @property
    def port(self) -> int:
        """The TCP port the sandbox listens on."""
        return self._server.port

    @property
    def credentials(self) -> Credentials:
        """Credentials that log in to this sandbox (sandbox values, not real secrets)."""
        account = self.model.tokens.account
        return Credentials(
            merchant_code=account.merchant,
            client_id=account.client_id,
            client_secret=Secret(account.client_secret),
            username=account.username,
            password=Secret(account.password),
            env="sandbox",
            base_url=self.base_url,
        )

    @property
    def settings(self) -> Settings:
        """The current knobs."""
        return self.model.settings

    def configure(self, **knobs: Any) -> Settings:
        """Change knobs while running, e.g. ``configure(error_429_rate=0.3)``."""
        return self.model.configure(**knobs)

    def reset(self, *, customers: int | None = None, seed: int | None = None) -> None:
        """Back to freshly seeded data and zero request counters (knobs and tokens stay)."""
        self._app.reset(customers=customers, seed=seed)

    def member_ids(self, code: str) -> set[str]:
        """Ids ``GET members`` shows now (members with a pending delete included)."""
        return self.model.member_ids(code)

    def state(self) -> dict[str, Any]:
        """The same as ``GET /_sandbox/state``."""
        return self._app.state()

    @property
    def is_running(self) -> bool:
        """True until ``stop()``."""
        return self._server.is_running

    def stop(self) -> None:
        """Stop the server and close the database (idempotent)."""
        self._server.stop()
        self.model.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        status = "running" if self.is_running else "stopped"
        return f"<Sandbox {self.url} merchant={self.merchant!r} {status}>"


def start(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    customers: int = 5000,
    seed: int = 1,
    db: str | Path | None = None,
    merchant: str = "DEMO",
    client_id: str = SANDBOX_CLIENT_ID,
    client_secret: str | Secret = SANDBOX_CLIENT_SECRET,
    username: str = SANDBOX_USERNAME,
    password: str | Secret = SANDBOX_PASSWORD,
    **knobs: Any,
) -> Sandbox:
    """Start a sandbox on ``host:port`` (port 0: a free port) and return its handle.

    ``knobs`` are ``Settings`` fields (``delete_delay=0``, ``error_429_rate=0.2``, ...).
    Binding anything but a loopback address warns: the sandbox has no real security.
    """
    settings = Settings().updated(knobs)
    if not is_loopback_host(host):
        warnings.warn(
            f"The sandbox binds {host}, which is not a loopback address: anyone who can reach "
            "this machine can read and change its data with the published sandbox credentials.",
            UserWarning,
            stacklevel=2,
        )
    model = SandboxModel(
        customers=customers,
        seed=seed,
        merchant=merchant,
        client_id=client_id,
        client_secret=client_secret,
        username=username,
        password=password,
        settings=settings,
        db=db,
    )
    app = SandboxApp(model)
    try:
        server = ServerThread(app, host=host, port=port)
        server.start()
    except BaseException:
        model.close()
        raise
    return Sandbox(model=model, app=app, server=server)
