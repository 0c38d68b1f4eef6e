"""``ConnectPanel``: start a sandbox (the default) or sign in to a Shopgate merchant."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, get_args

import ipywidgets as widgets
import traitlets

from .._config import ENV_VARS, read_env_values
from .._destination import destination_of
from .._doctor import DoctorReport
from .._errors import ConfigurationError
from .._secrets import Secret
from .._session import SegmentSession
from .._types import Env
from . import _html
from ._base import Panel
from ._push import destination_badge

__all__ = ["ConnectPanel", "Target"]

#: Where the panel connects: a local ``sandbox`` or a real ``shopgate`` merchant.
Target = Literal["sandbox", "shopgate"]

_STYLE = {"description_width": "120px"}


def _text(description: str, value: str, *, placeholder: str = "") -> widgets.Text:
    return widgets.Text(
        value=value,
        description=description,
        placeholder=placeholder,
        style=_STYLE,
        layout=widgets.Layout(width="420px"),
    )


def _secret(description: str, variable: str, *, is_set: bool) -> widgets.Password:
    """A masked field that starts EMPTY: a value from the environment is used at connect
    time and never copied into the widget (whose state a saved notebook may keep)."""
    hint = f"(set in {variable})" if is_set else ""
    return widgets.Password(
        value="",
        description=description,
        placeholder=hint,
        style=_STYLE,
        layout=widgets.Layout(width="420px"),
    )


class ConnectPanel(Panel):
    """Connect to the sandbox (a practice Shopgate on this computer) or to Shopgate.

    Shopgate fields are prefilled from ``SHOPGATE_*`` environment variables. Secrets
    (client secret, password) are never put into the widgets: an empty secret field means
    "use the environment variable", and typed secrets are cleared as soon as they were
    used, so a saved notebook never keeps them.

    Python twin of the buttons: ``panel.target = "shopgate"``, ``panel.connect()``,
    ``panel.check_connection()`` (runs ``session.doctor()`` and shows its table).
    """

    #: ``"sandbox"`` or ``"shopgate"``.
    target = traitlets.Unicode("sandbox")

    def __init__(
        self,
        session: SegmentSession | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        customers: int = 5000,
        seed: int = 1,
        **kwargs: Any,
    ) -> None:
        # Only the SHOPGATE_* values are kept, secrets wrapped in Secret: neither this
        # panel nor a frame of a traceback holds the environment or a secret in the clear.
        env = read_env_values(environ)
        del environ
        self._environ = env
        self._owned: SegmentSession | None = None
        self.target_buttons = widgets.ToggleButtons(
            options=[("Sandbox", "sandbox"), ("Shopgate", "shopgate")],
            value="sandbox",
            tooltips=[
                "A practice Shopgate on this computer: no credentials, nothing real changes",
                "Your Shopgate merchant, with its API credentials",
            ],
            style={"button_width": "110px"},
        )
        # sandbox
        self.customers = widgets.BoundedIntText(
            value=customers,
            min=0,
            max=2_000_000,
            description="Customers",
            style=_STYLE,
            layout=widgets.Layout(width="260px"),
        )
        self.seed = widgets.IntText(
            value=seed, description="Seed", style=_STYLE, layout=widgets.Layout(width="260px")
        )
        self.sandbox_box = widgets.VBox(
            [
                widgets.HTML(
                    _html.note(
                        "The sandbox is a Shopgate emulator on 127.0.0.1 with made-up customers "
                        "and segments. Nothing you do there reaches a real shop.",
                        level="muted",
                    )
                ),
                widgets.HBox([self.customers, self.seed]),
            ]
        )
        # shopgate
        self.merchant_code = _text("Merchant code", str(env["merchant_code"]))
        self.client_id = _text("Client id", str(env["client_id"]))
        self.client_secret = _secret(
            "Client secret", ENV_VARS["client_secret"], is_set=bool(env["client_secret"])
        )
        self.username = _text("Username", str(env["username"]))
        self.password = _secret("Password", ENV_VARS["password"], is_set=bool(env["password"]))
        # No default: a real shop is chosen on purpose (SHOPGATE_ENV preselects one).
        environment = str(env["env"])
        self.environment = widgets.Dropdown(
            options=[
                ("(choose)", ""),
                ("production", "production"),
                ("staging (pg)", "pg"),
                ("development", "dev"),
            ],
            value=environment if environment in get_args(Env) else "",
            description="Environment",
            style=_STYLE,
            layout=widgets.Layout(width="300px"),
        )
        self.base_url = _text(
            "Base URL",
            str(env["base_url"]),
            placeholder="optional, e.g. https://{service}.shopgate.io",
        )
        self.shopgate_box = widgets.VBox(
            [
                self.merchant_code,
                self.client_id,
                self.client_secret,
                self.username,
                self.password,
                self.environment,
                self.base_url,
                widgets.HTML(
                    _html.note(
                        "Leave a secret empty to use its environment variable "
                        "(SHOPGATE_CLIENT_SECRET, SHOPGATE_PASSWORD). Typed secrets are "
                        "cleared after use and never saved with the notebook.",
                        level="muted",
                    )
                ),
            ]
        )
        self.connect_button = widgets.Button(
            description="Connect", icon="plug", button_style="primary"
        )
        self.connect_button.on_click(lambda _: self.connect())
        self.check_button = widgets.Button(
            # Not "Check connection": the label must not contain "Connect", which picks
            # the Connect button by its text (the browser tests do).
            description="Check Shopgate",
            icon="stethoscope",
            tooltip="Check the connection: probe how this Shopgate answers (read-only) and "
            "remember it",
        )
        self.check_button.on_click(lambda _: self.check_connection())
        #: The table of the last connection check.
        self.check_table = widgets.HTML()
        #: The report of the last connection check (a ``DoctorReport``), or None.
        self.last_check: DoctorReport | None = None
        self.summary = widgets.HTML()
        super().__init__(session, heading="Connect", **kwargs)
        self.target_buttons.observe(self._on_target_buttons_change, names="value")
        self.observe(self._on_target_change, names="target")
        self._set_body(
            self.target_buttons,
            self.sandbox_box,
            self.shopgate_box,
            widgets.HBox([self.connect_button, self.check_button]),
            self.summary,
            self.check_table,
        )
        self._show_target()
        self._show_summary()
        self._update_controls()

    # -- actions ----------------------------------------------------------------------------------

    def connect(self) -> SegmentSession | None:
        """Connect as the fields say; on success ``session`` is the new session."""
        try:
            with self.action("connecting"):
                if self.target == "sandbox":
                    self.show("Starting the sandbox …")
                    session = SegmentSession.sandbox(
                        customers=self.customers.value, seed=self.seed.value
                    )
                else:
                    self.show("Signing in to Shopgate …")
                    session = SegmentSession.connect(**self._credentials())
                    try:
                        session.segments()  # signs in and proves the credentials work
                    except BaseException:
                        session.close()
                        raise
                self._adopt(session)
                self.clear_status()  # the summary line says where the panel is connected
        finally:
            self._clear_secrets()
        return self.session if self.last_error is None else None

    def check_connection(self) -> DoctorReport | None:
        """Probe how the connected Shopgate answers (``session.doctor()``, read-only) and
        show what it did and what segwidgets will do; returns the report."""
        with self.action("checking the connection"):
            if self.session is None:
                msg = "Connect first, then check the connection."
                raise ConfigurationError(msg)
            self.show("Checking how Shopgate answers …")
            report = self.session.doctor()
            self.last_check = report
            self.check_table.value = _html.table_page(
                report.to_polars().rename(
                    {
                        "shopgate_did": "what Shopgate did",
                        "segwidgets_will": "what segwidgets will do",
                    }
                )
            )
            if report.ok:
                self.show(
                    "Connection checked: segwidgets now knows how this Shopgate answers.",
                    level="success",
                )
            else:
                self.show("A check failed: see the table.", level="error")
        return self.last_check if self.last_error is None else None

    def close(self) -> None:
        """Close the session this panel opened (a session passed in is left to its owner)."""
        if self._owned is not None:
            self._owned.close()
            if self.session is self._owned:
                self.session = None
            self._owned = None
        super().close()

    # -- helpers ----------------------------------------------------------------------------------

    def _credentials(self) -> dict[str, Any]:
        env = self._environ
        values: dict[str, Any] = {
            "merchant_code": self.merchant_code.value.strip(),
            "client_id": self.client_id.value.strip(),
            "client_secret": Secret(self.client_secret.value) or env["client_secret"],
            "username": self.username.value.strip(),
            "password": Secret(self.password.value) or env["password"],
            "environment": self.environment.value,
            "base_url": self.base_url.value.strip() or None,
        }
        # With a base URL the environment only names it (unknown counts as production).
        if values["base_url"] and not values["environment"]:
            values["environment"] = "production"
        missing = [name for name, value in values.items() if name != "base_url" and not value]
        values["env"] = values.pop("environment")
        if missing:
            labels = ", ".join(name.replace("_", " ") for name in missing)
            msg = (
                f"Missing: {labels}. Fill in the fields, or set the SHOPGATE_* environment "
                "variables before starting Jupyter."
            )
            raise ConfigurationError(msg)
        return values

    def _clear_secrets(self) -> None:
        self.client_secret.value = ""
        self.password.value = ""

    def _adopt(self, session: SegmentSession) -> None:
        previous = self._owned
        self._owned = session
        self.session = session
        if previous is not None and previous is not session:
            previous.close()

    @staticmethod
    def _describe(session: SegmentSession) -> str:
        if session.is_sandbox:
            where = session.server.url if session.server is not None else "a local sandbox"
            return f"Connected to the sandbox at {where} (merchant {session.merchant_code})."
        destination = destination_of(session.client.credentials)
        return f"Connected to Shopgate {destination.environment}, merchant {session.merchant_code}."

    def _show_target(self) -> None:
        sandbox = self.target == "sandbox"
        self.sandbox_box.layout.display = "flex" if sandbox else "none"
        self.shopgate_box.layout.display = "none" if sandbox else "flex"

    def _show_summary(self) -> None:
        session = self.session
        if session is None:
            self.summary.value = _html.note("Not connected.", level="muted")
        else:
            destination = destination_of(session.client.credentials)
            self.summary.value = destination_badge(destination) + _html.note(
                self._describe(session),
                level="warning" if destination.is_production else "success",
                detail="Pushes change the real shop: each one asks for the segment code."
                if destination.is_production
                else "",
            )

    def _update_controls(self) -> None:
        self.connect_button.disabled = self.busy
        self.check_button.disabled = self.busy or self.session is None
        self.target_buttons.disabled = self.busy

    # -- observers --------------------------------------------------------------------------------

    @traitlets.validate("target")
    def _validate_target(self, proposal: dict[str, Any]) -> str:
        value = proposal["value"]
        if value not in get_args(Target):
            msg = f"target must be 'sandbox' or 'shopgate', not {value!r}"
            raise traitlets.TraitError(msg)
        return str(value)

    def _on_target_change(self, change: dict[str, Any]) -> None:
        self.target_buttons.value = change["new"]
        self._show_target()

    def _on_target_buttons_change(self, change: dict[str, Any]) -> None:
        self.target = change["new"]

    def _on_session_change(self, change: dict[str, Any]) -> None:
        super()._on_session_change(change)
        self.check_table.value = ""
        self.last_check = None
        self._show_summary()
