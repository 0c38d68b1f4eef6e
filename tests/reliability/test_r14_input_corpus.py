"""R14: every file of the input corpus gives its exact member set or its named error.

The corpus (``tests/data/corpus``) is written by ``tests/data/make_corpus.py``; each file has
``<name>.expected.json`` beside it, written by hand in that script. Row accounting must sum
to the data lines, and an input without members must raise, never give an empty list.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from _kit.members import assert_accounting

import segwidgets._errors as errors
from segwidgets._members import read_members

DATA = Path(__file__).resolve().parents[1] / "data"
CORPUS = DATA / "corpus"
EXPECTED = sorted(CORPUS.glob("*.expected.json"))
ADDRESS_FRAGMENTS = ("@example.", "@work.example", "@münchen", "@xn--")


def load(path: Path) -> dict[str, Any]:
    expected: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return expected


def case_id(path: Path) -> str:
    return "R14-" + path.name.removesuffix(".expected.json")


def test_R14_corpus_is_large_and_covers_the_figure() -> None:
    names = {p.name.removesuffix(".expected.json") for p in EXPECTED}
    assert len(names) >= 25
    needed = {
        "utf8_bom", "utf16le_bom_tab", "utf16be_bom", "cp1252_semicolon", "excel_sep_line",
        "tab_separated", "cr_line_endings", "mixed_line_endings", "blank_lines", "empty",
        "header_only", "duplicate_header", "ragged_rows", "quoted_newlines", "nul_bytes",
        "nbsp_zero_width", "leading_zero_ids", "scientific_ids", "formula_like_emails",
        "formula_ids", "mixed_case_duplicates",
    }  # fmt: skip
    assert needed <= names
    for path in EXPECTED:
        assert (CORPUS / load(path)["file"]).is_file()


def test_R14_corpus_on_disk_is_what_the_generator_writes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_corpus", DATA / "make_corpus.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_corpus", module)
    spec.loader.exec_module(module)
    written = module.write(tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in CORPUS.iterdir())
    for path in written:
        assert path.read_bytes() == (CORPUS / path.name).read_bytes(), path.name


@pytest.mark.parametrize("expected_path", EXPECTED, ids=case_id)
def test_R14_file_gives_its_expected_outcome(expected_path: Path) -> None:
    expected = load(expected_path)
    source = CORPUS / expected["file"]
    options = expected.get("options", {})
    if "error" in expected:
        error_class = getattr(errors, expected["error"])
        assert issubclass(error_class, errors.InputFileError)
        with pytest.raises(error_class) as caught:
            read_members(source, **options)
        assert type(caught.value) is error_class
        message = str(caught.value)
        assert expected["file"] in message
        assert caught.value.source == expected["file"]
        assert not any(fragment in message for fragment in ADDRESS_FRAGMENTS)
        return
    members = read_members(source, **options)
    assert members.kind == expected["kind"]
    assert members.column == expected["column"]
    assert members.keys.to_list() == expected["keys"]
    counts = {
        "n_rows": members.n_rows,
        "n_valid": members.n_valid,
        "n_rejected": members.n_rejected,
        "n_duplicates": members.n_duplicates,
        "n_blank": members.n_blank,
    }
    assert counts == {name: expected[name] for name in counts}
    assert_accounting(members)


# -- an empty list never plans "remove all" without consent ----------------------------------------


@pytest.mark.parametrize(
    "desired",
    ["empty file", "header-only file", "empty id list", "empty frame", "nothing matched"],
    ids=lambda d: "R14-" + d.replace(" ", "-"),
)
def test_R14_no_members_never_plans_remove_all_without_consent(
    big_sandbox, tmp_path: Path, desired: str
) -> None:
    import polars as pl
    from reliability_kit import Wire, make_segment, registered_ids, session_for

    import segwidgets as sw

    live = registered_ids(big_sandbox.model, 50)
    make_segment(big_sandbox.model, "r14", live)
    wire = Wire()
    with session_for(big_sandbox.credentials, tmp_path / "j.sqlite3", wire=wire) as session:
        if desired in {"empty file", "header-only file"}:
            path = tmp_path / "list.csv"
            path.write_text("" if desired == "empty file" else "email\n", encoding="utf-8")
            with pytest.raises((errors.EmptyFileError, errors.HeaderOnlyError)):
                session.plan("r14", read_members(path))
            assert wire.writes() == []
            return
        source: Any = {
            "empty id list": [],
            "empty frame": pl.DataFrame({"customer_id": []}, schema={"customer_id": pl.String}),
            "nothing matched": session.resolve(read_members(["nobody.r14@example.org"])),
        }[desired]
        with pytest.raises(sw.MassRemovalError, match="allow_mass_removal=True") as caught:
            session.plan("r14", source)
        assert caught.value.n_remove == len(live)
        assert wire.writes() == []
        assert big_sandbox.member_ids("r14") == set(live)
        # with explicit consent it is allowed, and does what it says
        plan = session.plan("r14", source, allow_mass_removal=True)
        assert plan.n_remove == len(live)
        big_sandbox.configure(delete_delay=0.0)
        assert session.apply(plan).status == "verified"
    assert big_sandbox.member_ids("r14") == set()
