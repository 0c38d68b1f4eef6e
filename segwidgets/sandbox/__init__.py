"""A local emulator of Shopgate's auth, customer and segmentation services.

``start()`` serves it on 127.0.0.1 from a daemon thread; ``python -m segwidgets.sandbox``
runs it as a process. See the README in this folder for what it models and chooses.
"""

from __future__ import annotations

from ._handle import Sandbox, start
from ._model import SandboxModel
from ._settings import Settings

__all__ = ["Sandbox", "SandboxModel", "Settings", "start"]
