"""``ChunkedUpload``: a file from the browser, in pieces, into a private temporary file.

ipywidgets' ``FileUpload`` sends the whole file in one websocket message, and Jupyter's
server drops messages over its limit. This widget's front end reads the chosen file piece by
piece (``File.slice``) and sends each piece as a binary buffer of a custom message; the
kernel writes it to a temporary file (mode 0600, in a folder of its own) and acknowledges
it, and only then is the next piece read: the browser never holds more than one piece, the
kernel never more than one piece in memory.

The protocol (front end → kernel, kernel → front end):

* ``{"kind": "chunk", "id", "index", "total", "name", "size"}`` with one buffer: piece
  ``index`` of ``total`` of the file ``name`` of ``size`` bytes. Piece 0 starts an upload
  (``id`` names it; a piece of another upload is ignored).
* ``{"kind": "ack", "id", "index"}``: the piece is written, send the next one.
* ``{"kind": "stop", "id", "reason"}``: refused (too large, out of order) or cancelled.
* ``{"kind": "cancel", "id"}`` from the front end: the user pressed Cancel.

File contents travel only in message buffers, never in a trait, so neither the widget
state nor a saved notebook holds them. ``receive_chunk`` and ``cancel`` are the Python twins
of the front end (``receive_file`` feeds a whole file through them).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import anywidget
import traitlets

from .._errors import InputFileError, InputTooLargeError
from .._members import DEFAULT_MAX_BYTES

__all__ = ["CHUNK_BYTES", "ChunkedUpload", "UploadStatus"]

#: The size of one piece: well under the notebook server's websocket message limit.
CHUNK_BYTES = 4 * 1024 * 1024

UploadStatus = Literal["idle", "uploading", "done", "cancelled", "refused"]

#: What a finished upload is handed to: the temporary file and the file's own name.
CompleteCallback = Callable[[Path, str], None]
#: What a refused upload is handed to: the error (its message says what to do).
RefusedCallback = Callable[[InputFileError], None]

_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,10}$")

_ESM = r"""
const MIB = 1024 * 1024;

function amount(bytes) {
  return bytes >= MIB
    ? `${(bytes / MIB).toLocaleString("en-US", {minimumFractionDigits: 1, maximumFractionDigits: 1})} MiB`
    : `${bytes.toLocaleString("en-US")} bytes`;
}

function newId() {
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

export default {
  render({ model, el }) {
    el.classList.add("segwidgets-chunked-upload");
    const input = document.createElement("input");
    input.type = "file";
    input.style.display = "none";
    const button = document.createElement("button");
    button.className = "jupyter-widgets jupyter-button widget-button segwidgets-upload-button";
    const icon = document.createElement("i");
    icon.className = "fa fa-upload";
    const label = document.createElement("span");
    button.append(icon, label);
    const progress = document.createElement("progress");
    progress.className = "segwidgets-upload-progress";
    const text = document.createElement("span");
    text.className = "segwidgets-upload-text";
    const cancel = document.createElement("button");
    cancel.className = "jupyter-widgets jupyter-button widget-button segwidgets-upload-cancel";
    cancel.textContent = "Cancel";
    el.append(input, button, progress, text, cancel);

    // The upload this view started (null when none): only its acknowledgements count.
    let job = null;

    function send(content, buffers) {
      model.send(content, undefined, buffers);
    }

    async function sendPiece(current) {
      const chunk = model.get("chunk_size");
      const start = current.index * chunk;
      const piece = current.file.slice(start, Math.min(current.file.size, start + chunk));
      let buffer;
      try {
        buffer = await piece.arrayBuffer();
      } catch (error) {
        if (job === current) {
          job = null;
          send({kind: "unreadable", id: current.id, name: current.file.name});
        }
        return;
      }
      if (job !== current) return;  // cancelled meanwhile
      send({
        kind: "chunk", id: current.id, index: current.index, total: current.total,
        name: current.file.name, size: current.file.size,
      }, [buffer]);
    }

    function begin(file) {
      const chunk = model.get("chunk_size");
      job = {id: newId(), file, index: 0, total: Math.max(1, Math.ceil(file.size / chunk))};
      draw();
      sendPiece(job);
    }

    model.on("msg:custom", (msg) => {
      if (job === null || msg.id !== job.id) return;
      if (msg.kind === "ack" && msg.index === job.index) {
        job.index += 1;
        if (job.index < job.total) sendPiece(job);
        else job = null;
      } else if (msg.kind === "stop") {
        job = null;
      }
      draw();
    });

    button.addEventListener("click", () => input.click());
    input.addEventListener("change", () => {
      const file = input.files && input.files[0];
      input.value = "";  // the same file can be chosen again
      if (file) begin(file);
    });
    cancel.addEventListener("click", () => {
      const id = job === null ? model.get("upload_id") : job.id;
      job = null;
      send({kind: "cancel", id});
      draw();
    });

    function draw() {
      const status = model.get("status");
      // Until the kernel takes the first piece (it may be busy), this view says it waits.
      const waiting = job !== null && status !== "uploading";
      const uploading = status === "uploading" || waiting;
      label.textContent = model.get("label");
      input.accept = model.get("accept");
      button.disabled = model.get("disabled") || uploading;
      button.title = model.get("hint");
      progress.style.display = uploading ? "" : "none";
      cancel.style.display = uploading ? "" : "none";
      const size = model.get("size");
      const received = model.get("received");
      progress.max = Math.max(1, size);
      progress.value = received;
      if (waiting) {
        text.textContent = `Sending ${job.file.name} (${amount(job.file.size)})…`;
      } else if (uploading) {
        const percent = size ? Math.floor((100 * received) / size) : 0;
        text.textContent =
          `Uploading ${model.get("filename")}: ${amount(received)} of ${amount(size)} (${percent} %)`;
      } else {
        text.textContent = model.get("message");
      }
    }
    for (const name of ["status", "received", "size", "filename", "message", "label",
                        "accept", "disabled", "hint"]) {
      model.on(`change:${name}`, draw);
    }
    draw();
  },
};
"""

_CSS = """
.segwidgets-chunked-upload {
  display: flex; align-items: center; gap: 6px; flex-wrap: nowrap; flex: 0 0 auto;
  font-size: var(--jp-widgets-font-size, 13px);
}
.segwidgets-chunked-upload .segwidgets-upload-button { width: auto; }
.segwidgets-chunked-upload .segwidgets-upload-button i { margin-right: 4px; }
.segwidgets-chunked-upload .segwidgets-upload-cancel { width: auto; }
.segwidgets-chunked-upload .segwidgets-upload-progress { width: 160px; }
.segwidgets-chunked-upload .segwidgets-upload-text {
  color: var(--jp-ui-font-color1, inherit); white-space: nowrap;
}
"""


def _mib(size: int) -> str:
    return f"{size / (1 << 20):,.1f} MiB" if size >= 1 << 20 else f"{size:,} bytes"


def _remove(folder: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)


class _Partial:
    """An upload under way: its id, name, declared size and the file it is written to."""

    def __init__(self, *, upload_id: str, name: str, size: int, total: int) -> None:
        self.upload_id = upload_id
        self.name = name
        self.size = size
        self.total = total
        self.next_index = 0
        self.received = 0
        self.folder = tempfile.mkdtemp(prefix="segwidgets-upload-")  # mode 0700
        # Gone at interpreter exit or when forgotten, whatever happens to the widget.
        self._finalizer = weakref.finalize(self, _remove, self.folder)
        suffix = _SUFFIX.search(name)
        self.path = Path(self.folder) / f"upload{suffix.group(0).lower() if suffix else ''}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        self._fd: int | None = os.open(self.path, flags, 0o600)

    def write(self, data: bytes | memoryview) -> None:
        if self._fd is None:
            raise ValueError("the upload's file is already closed")
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self.received += len(data)

    def finish(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def discard(self) -> None:
        self.finish()
        self._finalizer()


class ChunkedUpload(anywidget.AnyWidget):
    """A button that uploads one file of any size (up to ``max_bytes``) in pieces.

    ``on_complete(callback)`` is called with the temporary file and the file's name once
    every piece arrived; ``on_refused(callback)`` with the error when an upload is refused.
    The finished file stays until the next upload finishes, ``discard()`` or ``close()``.
    """

    _esm = _ESM
    _css = _CSS

    #: The button's label.
    label = traitlets.Unicode("Upload a file").tag(sync=True)
    #: The file types the browser's file chooser offers (``accept`` of ``<input type=file>``).
    accept = traitlets.Unicode("").tag(sync=True)
    #: The button's tooltip (not ``tooltip``: ipywidgets' own, drawn on the whole widget).
    hint = traitlets.Unicode("").tag(sync=True)
    #: True: the button does nothing (an upload under way can still be cancelled).
    disabled = traitlets.Bool(False).tag(sync=True)
    #: Bytes per piece the front end sends.
    chunk_size = traitlets.Int(CHUNK_BYTES).tag(sync=True)
    #: The largest file accepted, in bytes (None: no limit).
    max_bytes = traitlets.Int(DEFAULT_MAX_BYTES, allow_none=True).tag(sync=True)
    #: ``idle``, ``uploading``, ``done``, ``cancelled`` or ``refused``.
    status = traitlets.Unicode("idle").tag(sync=True)
    #: The file being (or last) uploaded: its name, size and the bytes received so far.
    filename = traitlets.Unicode("").tag(sync=True)
    size = traitlets.Int(0).tag(sync=True)
    received = traitlets.Int(0).tag(sync=True)
    #: The id of the upload under way (the front end names each upload).
    upload_id = traitlets.Unicode("").tag(sync=True)
    #: A short line next to the button when no upload is under way.
    message = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: The finished file (None until an upload finished; gone after ``discard``).
        self.path: Path | None = None
        #: Why the last upload was refused (None after an accepted one).
        self.error: InputFileError | None = None
        self._partial: _Partial | None = None
        self._done: _Partial | None = None
        self._on_complete: list[CompleteCallback] = []
        self._on_refused: list[RefusedCallback] = []
        self.on_msg(self._handle_message)

    # -- callbacks --------------------------------------------------------------------------------

    def on_complete(self, callback: CompleteCallback) -> None:
        """Call ``callback(path, name)`` when an upload finished."""
        self._on_complete.append(callback)

    def on_refused(self, callback: RefusedCallback) -> None:
        """Call ``callback(error)`` when an upload is refused."""
        self._on_refused.append(callback)

    # -- the front end's twins --------------------------------------------------------------------

    def receive_chunk(
        self,
        data: bytes | memoryview,
        *,
        index: int,
        total: int,
        name: str,
        size: int,
        upload_id: str = "python",
    ) -> dict[str, Any]:
        """Take piece ``index`` of ``total`` of the file ``name`` (``size`` bytes), as the
        front end sends it. Returns the answer it is sent (an ``ack`` or a ``stop``)."""
        if index == 0:
            self._start(upload_id=upload_id, name=name, size=size, total=total)
            if self._partial is None:  # refused
                return self._reply({"kind": "stop", "id": upload_id, "reason": "refused"})
        partial = self._partial
        if partial is None or partial.upload_id != upload_id:
            # A piece of an upload that was cancelled or refused: not written.
            return self._reply({"kind": "stop", "id": upload_id, "reason": "not uploading"})
        expected = (partial.next_index, partial.total, partial.name, partial.size)
        if (index, total, name, size) != expected:
            return self._refuse(
                InputFileError(
                    f"The upload of {name} went wrong: a piece arrived out of order. "
                    "Upload the file again.",
                    source=name,
                ),
                reply_id=upload_id,
            )
        if partial.received + len(data) > partial.size:
            return self._refuse(
                InputFileError(
                    f"The upload of {name} went wrong: more bytes arrived than the file "
                    "holds. Upload the file again.",
                    source=name,
                ),
                reply_id=upload_id,
            )
        try:
            partial.write(data)
        except OSError as exc:
            return self._refuse(
                InputFileError(
                    f"{name} could not be stored on the computer running the notebook "
                    f"({exc.strerror or type(exc).__name__}). Free some disk space, or type "
                    "the file's path instead.",
                    source=name,
                ),
                reply_id=upload_id,
            )
        partial.next_index += 1
        self.received = partial.received
        if partial.next_index < partial.total:
            return self._reply({"kind": "ack", "id": upload_id, "index": index})
        if partial.received != partial.size:
            return self._refuse(
                InputFileError(
                    f"The upload of {name} went wrong: {partial.received:,} of {size:,} bytes "
                    "arrived. Upload the file again.",
                    source=name,
                ),
                reply_id=upload_id,
            )
        reply = self._reply({"kind": "ack", "id": upload_id, "index": index})
        self._finish(partial)
        return reply

    def cancel(self) -> None:
        """Stop the upload under way (the Cancel button): its piece file is removed."""
        partial = self._partial
        if partial is None:
            return
        self._partial = None
        partial.discard()
        self._reply({"kind": "stop", "id": partial.upload_id, "reason": "cancelled"})
        self.status = "cancelled"
        self.message = f"Upload of {partial.name} cancelled."
        self.upload_id = ""

    def receive_file(
        self, data: bytes, *, name: str, upload_id: str = "python"
    ) -> list[dict[str, Any]]:
        """Send ``data`` through ``receive_chunk`` piece by piece, as the front end does,
        until the last piece or a ``stop``. Returns the answers."""
        total = max(1, math.ceil(len(data) / self.chunk_size))
        replies = []
        for index in range(total):
            piece = data[index * self.chunk_size : (index + 1) * self.chunk_size]
            reply = self.receive_chunk(
                piece, index=index, total=total, name=name, size=len(data), upload_id=upload_id
            )
            replies.append(reply)
            if reply["kind"] != "ack":
                break
        return replies

    # -- the finished file ------------------------------------------------------------------------

    def discard(self) -> None:
        """Remove the finished file (and stop an upload under way)."""
        self.cancel()
        if self._done is not None:
            self._done.discard()
            self._done = None
        self.path = None

    def close(self) -> None:
        """Close the widget and remove its temporary files."""
        if hasattr(self, "_done"):  # absent when __init__ failed
            self.discard()
        super().close()

    # -- internals --------------------------------------------------------------------------------

    def _start(self, *, upload_id: str, name: str, size: int, total: int) -> None:
        if self._partial is not None:  # a new upload replaces one under way
            self._partial.discard()
            self._partial = None
        self.error = None
        self.filename = name
        self.size = size
        self.received = 0
        limit = self.max_bytes
        if limit is not None and size > limit:
            self._refuse(
                InputTooLargeError(
                    f"{name} is {_mib(size)}, more than the limit of {_mib(limit)} for a "
                    "member list, so it was not uploaded. Split the list into smaller files.",
                    size=size,
                    limit=limit,
                    source=name,
                ),
                reply_id=None,
            )
            return
        self._partial = _Partial(upload_id=upload_id, name=name, size=size, total=max(1, total))
        self.upload_id = upload_id
        self.message = ""
        self.status = "uploading"

    def _finish(self, partial: _Partial) -> None:
        partial.finish()
        self._partial = None
        if self._done is not None:  # the previous file goes once this one is complete
            self._done.discard()
        self._done = partial
        self.path = partial.path
        self.upload_id = ""
        self.message = ""
        self.status = "done"
        for callback in self._on_complete:
            callback(partial.path, partial.name)

    def _refuse(self, error: InputFileError, *, reply_id: str | None) -> dict[str, Any]:
        partial = self._partial
        if partial is not None:
            self._partial = None
            partial.discard()
        self.error = error
        self.upload_id = ""
        self.message = "Not uploaded."
        self.status = "refused"
        for callback in self._on_refused:
            callback(error)
        if reply_id is None:
            return {}
        return self._reply({"kind": "stop", "id": reply_id, "reason": "refused"})

    def _reply(self, content: dict[str, Any]) -> dict[str, Any]:
        if self.comm is not None:  # None once closed
            self.send(content)
        return content

    def _handle_message(self, _widget: object, content: Any, buffers: list[Any]) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("kind")
        upload_id = str(content.get("id", ""))
        if kind == "chunk":
            self.receive_chunk(
                buffers[0] if buffers else b"",
                index=int(content["index"]),
                total=int(content["total"]),
                name=str(content["name"]),
                size=int(content["size"]),
                upload_id=upload_id,
            )
            return
        partial = self._partial
        if partial is None or partial.upload_id != upload_id:
            return  # about an upload that already ended
        if kind == "cancel":
            self.cancel()
        elif kind == "unreadable":
            self._refuse(
                InputFileError(
                    f"The browser could not read {partial.name} (was it moved or changed?). "
                    "Choose the file again.",
                    source=partial.name,
                ),
                reply_id=None,
            )
