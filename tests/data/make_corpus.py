"""Write the R14 input corpus: messy member files and the outcome each must give.

Run ``python tests/data/make_corpus.py`` from the repository root. Output is deterministic:
running it again writes identical bytes (``tests/reliability/test_r14_input_corpus.py``
checks that the files on disk are what this script writes).

Every case is a file ``tests/data/corpus/<name>.<ext>`` plus ``<name>.expected.json``:

* ``{"error": "<InputFileError subclass>"}`` for a file that must be refused, or
* ``{"kind", "column", "keys", "n_rows", "n_valid", "n_rejected", "n_duplicates",
  "n_blank"}``: the exact member keys in first-seen order and the row accounting.

``options`` (if present) are keyword arguments for ``read_members``. The expectations are
written here by hand from the file's construction; nothing is computed by segwidgets.
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

CORPUS = Path(__file__).resolve().parent / "corpus"

NBSP = "\u00a0"
ZWSP = "\u200b"
BOM = "\ufeff"


@dataclass
class Case:
    name: str
    ext: str
    data: bytes
    expected: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)
    description: str = ""


def members(
    kind: str,
    column: str | None,
    keys: list[str],
    *,
    n_rows: int,
    rejected: int = 0,
    duplicates: int = 0,
    blank: int = 0,
) -> dict[str, Any]:
    assert len(keys) + rejected + duplicates + blank == n_rows, "the case itself must add up"
    return {
        "kind": kind,
        "column": column,
        "keys": keys,
        "n_rows": n_rows,
        "n_valid": len(keys),
        "n_rejected": rejected,
        "n_duplicates": duplicates,
        "n_blank": blank,
    }


def error(name: str) -> dict[str, Any]:
    return {"error": name}


def lines(rows: list[str], newline: str = "\n", *, final: bool = True) -> str:
    return newline.join(rows) + (newline if final else "")


def xlsx(rows: list[list[object]], sheet: str = "Members") -> bytes:
    """A minimal .xlsx workbook (inline strings and numbers), with fixed zip timestamps."""

    def column(index: int) -> str:
        name, index = "", index + 1
        while index:
            index, rest = divmod(index - 1, 26)
            name = chr(65 + rest) + name
        return name

    def cell(ref: str, value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, (int, float)):
            return f'<c r="{ref}"><v>{value}</v></c>'
        text = escape(str(value))
        return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'

    body = "".join(
        f'<row r="{r + 1}">'
        + "".join(cell(f"{column(c)}{r + 1}", v) for c, v in enumerate(row))
        + "</row>"
        for r, row in enumerate(rows)
    )
    head = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "http://schemas.openxmlformats.org/package/2006/relationships"
    office = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    files = {
        "[Content_Types].xml": (
            f'{head}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{office}.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            f'ContentType="{office}.worksheet+xml"/></Types>'
        ),
        "_rels/.rels": (
            f'{head}<Relationships xmlns="{pkg}"><Relationship Id="rId1" '
            f'Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'{head}<workbook xmlns="{main}" xmlns:r="{rel}"><sheets>'
            f'<sheet name="{escape(sheet)}" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'{head}<Relationships xmlns="{pkg}"><Relationship Id="rId1" '
            f'Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
        ),
        "xl/worksheets/sheet1.xml": (
            f'{head}<worksheet xmlns="{main}"><sheetData>{body}</sheetData></worksheet>'
        ),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


def cases() -> list[Case]:
    out: list[Case] = []

    def add(
        name: str,
        ext: str,
        data: bytes | str,
        expected: dict[str, Any],
        description: str,
        **options: Any,
    ) -> None:
        raw = data.encode("utf-8") if isinstance(data, str) else data
        out.append(Case(name, ext, raw, expected, options, description))

    # -- encodings ---------------------------------------------------------------------------
    add(
        "utf8_plain",
        "csv",
        lines(["email", "anna@example.com", "ben@example.org", "carla@example.net"]),
        members(
            "email",
            "email",
            ["anna@example.com", "ben@example.org", "carla@example.net"],
            n_rows=3,
        ),
        "UTF-8 without BOM, LF, one column with a header",
    )
    add(
        "utf8_bom",
        "csv",
        BOM + lines(["Email,Name", "Dora@Example.com,Dora", "emil@example.com,Emil"], "\r\n"),
        members("email", "Email", ["dora@example.com", "emil@example.com"], n_rows=2),
        "UTF-8 with BOM (Excel's CSV UTF-8), CRLF; the BOM is not part of the header",
    )
    add(
        "utf16le_bom_tab",
        "txt",
        (
            BOM
            + lines(
                ["E-Mail\tName", "jürgen@example.de\tJürgen", "fritz@example.de\tFritz"], "\r\n"
            )
        ).encode("utf-16-le"),
        members("email", "E-Mail", ["jürgen@example.de", "fritz@example.de"], n_rows=2),
        "UTF-16 LE with BOM, tab-separated (Excel's 'Unicode text')",
    )
    add(
        "utf16be_bom",
        "csv",
        (BOM + lines(["mail", "greta@example.com", "hans@example.com"])).encode("utf-16-be"),
        members("email", "mail", ["greta@example.com", "hans@example.com"], n_rows=2),
        "UTF-16 BE with BOM",
    )
    add(
        "cp1252_semicolon",
        "csv",
        lines(
            [
                "E-Mail;Name;Straße",
                "ida@example.de;Müller;Hauptstraße 1",
                "jörg@example.de;Größe;Weg 2",
            ],
            "\r\n",
        ).encode("cp1252"),
        members("email", "E-Mail", ["ida@example.de", "jörg@example.de"], n_rows=2),
        "cp1252 (German Excel 'CSV (Trennzeichen-getrennt)'), semicolons, umlauts",
    )
    add(
        "unknown_encoding",
        "csv",
        b"email\r\nkai@example.com\r\n\x81\x8d\x8f@example.com\r\n",
        error("UnknownEncodingError"),
        "bytes valid in neither UTF-8 nor cp1252 (0x81, 0x8D, 0x8F are undefined in cp1252)",
    )
    add(
        "utf16_without_bom",
        "csv",
        lines(["email", "lara@example.com", "max@example.com"]).encode("utf-16-le"),
        error("UnknownEncodingError"),
        "UTF-16 without BOM: cannot be told apart reliably, refused with a hint",
    )
    add(
        "nul_bytes",
        "csv",
        b"email\nnina@example.com\nol\x00af@example.com\n",
        error("UnreadableFileError"),
        "a NUL byte in a text file: not read at all (documented choice)",
    )

    # -- delimiters and line endings -------------------------------------------------------------
    add(
        "excel_sep_line",
        "csv",
        lines(
            ["sep=;", "Vorname;E-Mail", "Otto;otto@example.de", "Paula;paula@example.de"], "\r\n"
        ),
        members("email", "E-Mail", ["otto@example.de", "paula@example.de"], n_rows=2),
        "Excel's 'sep=;' first line sets the delimiter and is not the header",
    )
    add(
        "tab_separated",
        "tsv",
        lines(
            ["id\temailAddress\tcity", "1\tquinn@example.com\tBerlin", "2\trosa@example.com\tKöln"]
        ),
        members("email", "emailAddress", ["quinn@example.com", "rosa@example.com"], n_rows=2),
        "tab-separated; the email column wins over the id column",
    )
    add(
        "cr_line_endings",
        "csv",
        lines(["Email Address,Name", "sam@example.com,Sam", "tara@example.com,Tara"], "\r"),
        members("email", "Email Address", ["sam@example.com", "tara@example.com"], n_rows=2),
        "classic Mac CR-only line endings",
    )
    add(
        "mixed_line_endings",
        "csv",
        "email\r\nuwe@example.com\nvera@example.com\rwim@example.com\r\n",
        members(
            "email", "email", ["uwe@example.com", "vera@example.com", "wim@example.com"], n_rows=3
        ),
        "LF, CRLF and CR in one file",
    )
    add(
        "no_final_newline",
        "csv",
        lines(["email", "xaver@example.com", "yara@example.com"], final=False),
        members("email", "email", ["xaver@example.com", "yara@example.com"], n_rows=2),
        "last line without a line ending",
    )
    add(
        "trailing_delimiters",
        "csv",
        lines(["email,name,,", "zoe@example.com,Zoe,,", "adam@example.com,Adam,,"]),
        members("email", "email", ["zoe@example.com", "adam@example.com"], n_rows=2),
        "empty trailing columns from a spreadsheet export are ignored",
    )

    # -- blank, empty, header only -------------------------------------------------------------------
    add(
        "blank_lines",
        "csv",
        "\n\nemail,name\n\nbea@example.com,Bea\n   \n,Nobody\ncem@example.com,Cem\n\n",
        members("email", "email", ["bea@example.com", "cem@example.com"], n_rows=6, blank=4),
        "leading blank lines are skipped; blank, whitespace-only and empty-member lines count as blank",
    )
    add("empty", "csv", b"", error("EmptyFileError"), "0 bytes")
    add(
        "only_blank_lines",
        "csv",
        "\r\n\r\n  \r\n\t\r\n",
        error("EmptyFileError"),
        "nothing but blank lines",
    )
    add("header_only", "csv", "email,name\r\n", error("HeaderOnlyError"), "a header and no data")
    add(
        "header_then_blank_lines",
        "csv",
        "email,name\n\n  \n\n",
        error("HeaderOnlyError"),
        "a header followed only by blank lines",
    )
    add(
        "member_column_blank",
        "csv",
        lines(["name,email", "Dirk,", "Eva,  "]),
        error("EmptyFileError"),
        "rows exist but the member column is blank everywhere: never an empty member list",
    )

    # -- header problems ---------------------------------------------------------------------------
    add(
        "duplicate_header",
        "csv",
        lines(["email,name,email", "finn@example.com,Finn,finn@example.org"]),
        error("DuplicateHeaderError"),
        "two columns named 'email'",
    )
    add(
        "several_email_columns",
        "csv",
        lines(["Email,E-Mail Address,Name", "gil@example.com,gil@example.org,Gil"]),
        error("ColumnError"),
        "two columns named like an email: the caller must choose",
    )
    add(
        "no_member_column",
        "csv",
        lines(["name,city", "Hugo,Berlin", "Ilse,Bonn"]),
        error("ColumnError"),
        "no column named like an email or an id",
    )
    add(
        "explicit_column",
        "csv",
        lines(["Email,Work Email,Name", "jan@example.com,jan@work.example.com,Jan"]),
        members("email", "Work Email", ["jan@work.example.com"], n_rows=1),
        "column= picks one of several candidates",
        column="Work Email",
    )

    # -- structure -----------------------------------------------------------------------------------
    add(
        "ragged_rows",
        "csv",
        lines(
            [
                "name,email",
                "Kim,kim@example.com",
                "Lee, Jr.,lee@example.com",
                "Mia",
                "Noah,noah@example.com,",
                "Ola,ola@example.com,extra",
            ]
        ),
        members("email", "email", ["kim@example.com", "noah@example.com"], n_rows=5, rejected=3),
        "rows with more or fewer fields than the header are rejected (a value may have moved); "
        "an empty trailing field is fine",
    )
    add(
        "quoted_newlines",
        "csv",
        lines(
            [
                '"email","note"',
                '"pia@example.com","line one',
                'line two, still the note"',
                '"rob@example.com","say ""hi"", then go"',
                '"sue@example.com",plain',
            ],
            "\r\n",
        ),
        members(
            "email", "email", ["pia@example.com", "rob@example.com", "sue@example.com"], n_rows=3
        ),
        "quoted line breaks, quoted delimiters and doubled quotes: a record counts once",
    )
    add(
        "quoted_fields",
        "csv",
        lines(
            ['"E-Mail";"Name"', '"tom@example.com";"Tom"', '"";"Nobody"', '"ulf@example.com";""'],
            "\r\n",
        ),
        members("email", "E-Mail", ["tom@example.com", "ulf@example.com"], n_rows=3, blank=1),
        "every field quoted, a quoted empty member is blank",
    )
    add(
        "malformed_quote",
        "csv",
        lines(["email,note", 'val@example.com,"never closed', "wes@example.com,ok"]),
        error("UnreadableFileError"),
        "a quote that never closes: refused with the line, not silently merged",
    )
    add(
        "headerless_list",
        "txt",
        lines(["Xena@Example.com", "yuri@example.com", "not-an-address", "xena@example.com"]),
        members(
            "email",
            "column_1",
            ["xena@example.com", "yuri@example.com"],
            n_rows=4,
            rejected=1,
            duplicates=1,
        ),
        "a plain list without a header: the first line is an address, so it is data",
    )

    # -- values ----------------------------------------------------------------------------------------
    add(
        "nbsp_zero_width",
        "csv",
        lines(
            [
                "email",
                f"{NBSP}amy@example.com{NBSP}",
                f"{ZWSP}bob@example.com{ZWSP}",
                f"{BOM}cat@example.com\t",
                f"  dan@example.com{NBSP}{ZWSP} ",
                f"e{ZWSP}d@example.com",
            ]
        ),
        members(
            "email",
            "email",
            ["amy@example.com", "bob@example.com", "cat@example.com", "dan@example.com"],
            n_rows=5,
            rejected=1,
        ),
        "no-break and zero-width spaces around a value are stripped; inside it they are rejected",
    )
    add(
        "mixed_case_duplicates",
        "csv",
        lines(
            [
                "email",
                "Jane.Doe@Example.COM",
                "jane.doe@example.com",
                " JANE.DOE@EXAMPLE.COM ",
                "john@example.com",
                "John@Example.com",
            ]
        ),
        members(
            "email", "email", ["jane.doe@example.com", "john@example.com"], n_rows=5, duplicates=3
        ),
        "case and spaces do not make a new member; the first occurrence is kept",
    )
    add(
        "unicode_domains",
        "csv",
        lines(
            [
                "email",
                "fritz@münchen.de",
                "fritz@xn--mnchen-3ya.de",
                "FRITZ@MÜNCHEN.DE",
                "ju\u0308rgen@example.de",
                "jürgen@example.de",
            ]
        ),
        members(
            "email", "email", ["fritz@münchen.de", "jürgen@example.de"], n_rows=5, duplicates=3
        ),
        "Punycode and Unicode domains, NFD and NFC local parts give one key each",
    )
    add(
        "invalid_addresses",
        "csv",
        lines(
            [
                "email",
                "valid@example.com",
                "no-at-sign.example.com",
                "two@@example.com",
                "dots..in@example.com",
                "nodomain@",
                "x@localhost",
                "Name <name@example.com>",
            ]
        ),
        members("email", "email", ["valid@example.com"], n_rows=7, rejected=6),
        "invalid addresses are rejected one by one with the library's reason",
    )
    add(
        "formula_like_emails",
        "csv",
        lines(
            [
                "email",
                "=cmd@example.com",
                "+plus@example.com",
                "-minus@example.com",
                "@at@example.com",
                '=HYPERLINK("x")',
            ]
        ),
        members(
            "email",
            "email",
            ["=cmd@example.com", "+plus@example.com", "-minus@example.com"],
            n_rows=5,
            rejected=2,
        ),
        "formula-like cells are data: an address starting with = + - is validated like any other",
    )
    add(
        "leading_zero_ids",
        "csv",
        lines(["customer_id,name", "00123,A", "0042,B", "  00123 ,C", "7,D", ",E"]),
        members(
            "customer_id", "customer_id", ["00123", "0042", "7"], n_rows=5, duplicates=1, blank=1
        ),
        "ids are strings: leading zeros stay, spaces around are stripped",
    )
    add(
        "scientific_ids",
        "csv",
        lines(["Customer ID", "4.5E+11", "450000000001", "1.23457E+15", "abc123"]),
        members("customer_id", "Customer ID", ["450000000001", "abc123"], n_rows=4, rejected=2),
        "Excel's scientific notation is kept as text and rejected as an id, never turned into a float",
    )
    add(
        "formula_ids",
        "csv",
        lines(
            ["customerId", "=1+2", "+4930123", "-5", "@SUM(A1)", "c-100", "c 101", "ok@example.com"]
        ),
        members("customer_id", "customerId", ["c-100"], n_rows=7, rejected=6),
        "id values that look like formulas, hold spaces or an address are rejected with a reason",
    )
    add(
        "crm_export_ids",
        "csv",
        lines(
            [
                "Customer ID;First name;Newsletter",
                "000981;Ada;yes",
                "000982;Bo;no",
                "000981;Ada;yes",
            ]
        ),
        members("customer_id", "Customer ID", ["000981", "000982"], n_rows=3, duplicates=1),
        "a CRM export keyed by customer id, with a repeated row",
    )
    add(
        "ids_by_kind",
        "txt",
        lines(["00017", "00018", "00017"]),
        members("customer_id", "column_1", ["00017", "00018"], n_rows=3, duplicates=1),
        "a headerless list of ids read with kind='customer_id'",
        kind="customer_id",
    )

    # -- spreadsheets ----------------------------------------------------------------------------------
    add(
        "workbook",
        "xlsx",
        xlsx(
            [
                ["Customer ID", "E-Mail", "Points"],
                ["00123", "Ben@Example.com", 5],
                [None, None, None],
                [450000000000, "carl@example.com", 1.5],
                ["0042", "ben@example.com", None],
            ]
        ),
        members(
            "customer_id",
            "Customer ID",
            ["00123", "450000000000", "0042"],
            n_rows=4,
            blank=1,
        ),
        "an .xlsx sheet: text ids keep their zeros, a numeric cell becomes its digits",
        column="Customer ID",
    )
    add(
        "workbook_emails",
        "xlsx",
        xlsx([["E-Mail"], ["Ben@Example.com"], ["ben@example.com"], ["   "], ["dora@example.com"]]),
        members(
            "email",
            "E-Mail",
            ["ben@example.com", "dora@example.com"],
            n_rows=4,
            duplicates=1,
            blank=1,
        ),
        "an .xlsx list of addresses",
    )
    return out


def write(directory: Path = CORPUS) -> list[Path]:
    """Write every case into ``directory`` (created if needed); returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for case in cases():
        data_path = directory / f"{case.name}.{case.ext}"
        data_path.write_bytes(case.data)
        expected = {"file": data_path.name, "description": case.description, **case.expected}
        if case.options:
            expected["options"] = case.options
        json_path = directory / f"{case.name}.expected.json"
        json_path.write_text(
            json.dumps(expected, indent=2, ensure_ascii=False, sort_keys=True) + "\n",
            encoding="utf-8",
        )
        written += [data_path, json_path]
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else CORPUS
    paths = write(target)
    print(f"wrote {len(paths)} files to {target}")
