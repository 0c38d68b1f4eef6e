"""The chunked upload through its Python twins: pieces in order, cancel, refusal, clean-up,
and the member-list panel reading an upload exactly as it reads the same file's path."""

from __future__ import annotations

import stat

import polars as pl
import pytest

import segwidgets as sw
from segwidgets import widgets as sww
from segwidgets.widgets._chunked_upload import CHUNK_BYTES, ChunkedUpload


def _emails_csv(n: int, *, start: int = 0) -> bytes:
    lines = ["email,name"]
    lines += [f"person{i}@example.org,Person {i}" for i in range(start, start + n)]
    lines += ["not-an-email,Nobody", f"person{start}@example.org,Again"]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def upload():
    widget = ChunkedUpload(chunk_size=1000)
    done: list[tuple[object, str, bytes]] = []
    refused: list[sw.InputFileError] = []
    widget.on_complete(lambda path, name: done.append((path, name, path.read_bytes())))
    widget.on_refused(refused.append)
    widget.done = done
    widget.refused = refused
    yield widget
    widget.close()


def test_pieces_in_order_make_the_file_with_progress(upload):
    data = _emails_csv(200)
    total = -(-len(data) // 1000)
    assert total > 3
    seen = []
    upload.observe(lambda change: seen.append(change["new"]), names="received")
    for index in range(total):
        assert upload.status == ("idle" if index == 0 else "uploading")
        assert upload.done == []
        reply = upload.receive_chunk(
            data[index * 1000 : (index + 1) * 1000],
            index=index, total=total, name="List.CSV", size=len(data), upload_id="u1",
        )  # fmt: skip
        assert reply == {"kind": "ack", "id": "u1", "index": index}
    assert seen == [min(len(data), 1000 * (i + 1)) for i in range(total)]
    assert upload.status == "done"
    assert (upload.received, upload.size, upload.filename) == (len(data), len(data), "List.CSV")
    [(path, name, written)] = upload.done
    assert (name, written) == ("List.CSV", data)
    assert path == upload.path
    assert path.suffix == ".csv"  # the reader picks the format by it
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert "List" not in str(path)  # the user's file name is not in the temporary path


def test_a_piece_out_of_order_refuses_the_upload_and_removes_its_file(upload):
    data = _emails_csv(200)
    total = -(-len(data) // 1000)
    upload.receive_chunk(data[:1000], index=0, total=total, name="a.csv", size=len(data))
    folder = upload._partial.folder
    reply = upload.receive_chunk(
        data[2000:3000], index=2, total=total, name="a.csv", size=len(data)
    )
    assert reply["kind"] == "stop"
    assert upload.status == "refused"
    assert "out of order" in str(upload.error)
    assert upload.refused == [upload.error]
    assert upload.done == []
    assert not _exists(folder)
    # the rest of that upload is ignored, not written
    later = upload.receive_chunk(
        data[1000:2000], index=1, total=total, name="a.csv", size=len(data)
    )
    assert later["kind"] == "stop"
    assert upload.done == []


def test_more_bytes_than_declared_are_refused(upload):
    reply = upload.receive_chunk(b"x" * 600, index=0, total=1, name="a.csv", size=500)
    assert reply["kind"] == "stop"
    assert upload.status == "refused"
    assert "more bytes" in str(upload.error)


def test_fewer_bytes_than_declared_are_refused(upload):
    reply = upload.receive_chunk(b"x" * 400, index=0, total=1, name="a.csv", size=500)
    assert reply["kind"] == "stop"
    assert "400 of 500 bytes" in str(upload.error)
    assert upload.done == []


def test_cancel_stops_the_upload_and_removes_its_file(upload):
    data = _emails_csv(200)
    total = -(-len(data) // 1000)
    upload.receive_chunk(
        data[:1000], index=0, total=total, name="a.csv", size=len(data), upload_id="u1"
    )
    folder = upload._partial.folder
    assert _exists(folder)
    # the front end's Cancel button, naming its upload
    upload._handle_message(upload, {"kind": "cancel", "id": "u1"}, [])
    assert upload.status == "cancelled"
    assert "cancelled" in upload.message
    assert not _exists(folder)
    after = upload.receive_chunk(
        data[1000:2000], index=1, total=total, name="a.csv", size=len(data), upload_id="u1"
    )
    assert after["kind"] == "stop"
    assert upload.done == []
    assert upload.refused == []  # cancelling is not an error


def test_a_cancel_for_another_upload_is_ignored(upload):
    upload.receive_chunk(b"ab", index=0, total=2, name="a.csv", size=4, upload_id="new")
    upload._handle_message(upload, {"kind": "cancel", "id": "old"}, [])
    assert upload.status == "uploading"
    upload._handle_message(
        upload,
        {"kind": "chunk", "id": "new", "index": 1, "total": 2, "name": "a.csv", "size": 4},
        [memoryview(b"cd")],
    )
    assert upload.status == "done"
    assert upload.done[0][2] == b"abcd"


def test_too_large_is_refused_before_a_byte_is_written(upload):
    upload.max_bytes = 5000
    reply = upload.receive_chunk(b"x" * 1000, index=0, total=6, name="big.csv", size=6000)
    assert reply["kind"] == "stop"
    assert upload.status == "refused"
    assert isinstance(upload.error, sw.InputTooLargeError)
    assert (upload.error.size, upload.error.limit) == (6000, 5000)
    assert "big.csv is 6,000 bytes, more than the limit of 5,000 bytes" in str(upload.error)
    assert upload._partial is None
    assert upload.done == []


def test_the_previous_file_goes_when_the_next_upload_is_complete(upload):
    upload.receive_file(b"first\n", name="one.csv")
    first = upload.path
    upload.receive_chunk(b"sec", index=0, total=2, name="two.csv", size=6)
    assert first.exists()  # still the list in use while the next one arrives
    upload.receive_chunk(b"ond", index=1, total=2, name="two.csv", size=6)
    assert not first.exists()
    assert not first.parent.exists()
    assert upload.path.read_bytes() == b"second"
    second = upload.path
    upload.close()
    assert not second.parent.exists()
    assert upload.path is None


def test_a_piece_zero_restarts_and_drops_the_upload_under_way(upload):
    upload.receive_chunk(b"ab", index=0, total=2, name="a.csv", size=4, upload_id="u1")
    folder = upload._partial.folder
    upload.receive_chunk(b"xy", index=0, total=1, name="b.csv", size=2, upload_id="u2")
    assert not _exists(folder)
    assert upload.done[0][1:] == ("b.csv", b"xy")


def test_the_builder_reads_an_upload_as_it_reads_the_path(tmp_path):
    data = _emails_csv(3000)
    assert len(data) > 3 * 1000
    path = tmp_path / "signups.csv"
    path.write_bytes(data)

    typed = sww.MemberListBuilder()
    typed.location.value = str(path)
    typed.location_button.click()
    uploaded = sww.MemberListBuilder()
    uploaded.upload.chunk_size = 1000
    replies = uploaded.upload.receive_file(data, name="signups.csv")
    assert len(replies) == -(-len(data) // 1000)
    assert [r["kind"] for r in replies] == ["ack"] * len(replies)

    assert typed.members is not None
    assert uploaded.members is not None
    for members in (typed.members, uploaded.members):
        assert (members.n_rows, members.n_valid, members.n_rejected, members.n_duplicates) == (
            3002,
            3000,
            1,
            1,
        )
    assert uploaded.members.source == typed.members.source == "signups.csv"
    assert uploaded.members.valid.equals(typed.members.valid)
    assert uploaded.members.rejected.equals(typed.members.rejected)
    assert uploaded.members.duplicates.equals(typed.members.duplicates)
    assert uploaded.report.value == typed.report.value
    assert uploaded.source_label.value == typed.source_label.value
    # picking another column reads the uploaded file again, which is still there
    uploaded.column_dropdown.value = "name"
    assert uploaded.members is None
    uploaded.column_dropdown.value = "email"
    assert uploaded.members is not None
    assert uploaded.members.n_valid == 3000
    kept = uploaded.upload.path
    assert kept is not None
    assert kept.exists()

    # another list replaces the upload: its file goes
    uploaded.load(pl.DataFrame({"email": ["x@example.org"]}))
    assert not kept.exists()
    assert uploaded.upload.path is None


def test_the_builder_refuses_an_upload_over_its_limit(tmp_path):
    builder = sww.MemberListBuilder(max_bytes=2000)
    assert builder.upload.max_bytes == 2000
    builder.upload.chunk_size = 1000
    builder.load(["a@example.org"])
    assert builder.members is not None
    replies = builder.upload.receive_file(_emails_csv(200), name="big.csv")
    assert [r["kind"] for r in replies] == ["stop"]
    assert isinstance(builder.last_error, sw.InputTooLargeError)
    assert "big.csv is" in builder.status_text
    assert "it was not uploaded" in builder.status_text
    assert "read_members" not in builder.status_text  # no Python in the panel
    # The list read before stays; the same limit holds for a typed path.
    assert builder.members is not None
    path = tmp_path / "big.csv"
    path.write_bytes(_emails_csv(200))
    assert builder.load_location(str(path)) is None
    assert isinstance(builder.last_error, sw.InputTooLargeError)


def test_closing_the_builder_removes_the_uploaded_file():
    builder = sww.MemberListBuilder()
    builder.upload.receive_file(_emails_csv(5), name="list.csv")
    path = builder.upload.path
    assert path is not None
    assert path.exists()
    builder.close()
    assert not path.parent.exists()


def test_an_upload_shows_no_status_of_the_previous_one():
    builder = sww.MemberListBuilder(max_bytes=10)
    builder.upload.receive_file(b"a" * 20, name="big.csv")
    assert "big.csv" in builder.status_text
    builder.max_bytes = None
    assert builder.upload.max_bytes is None
    assert "any size" in builder.upload.hint
    builder.upload.receive_chunk(b"email\n", index=0, total=2, name="ok.csv", size=100)
    assert builder.status_text == ""  # the progress is the upload's own
    assert builder.upload.status == "uploading"
    assert builder.source_label.layout.display == "none"  # the progress line's place
    builder.upload.cancel()
    assert builder.source_label.layout.display is None


def test_chunk_size_default_is_below_the_websocket_limit():
    assert ChunkedUpload().chunk_size == CHUNK_BYTES <= 8 * 1024 * 1024


def _exists(folder: str) -> bool:
    from pathlib import Path

    return Path(folder).exists()
