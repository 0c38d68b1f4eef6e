"""The declared floors of segwidgets' dependencies, as pins, and a check of what is installed.

    python scripts/floors.py pins [EXTRA ...]    # print name==floor for the base and extras
    python scripts/floors.py check FILE          # every pin in FILE is the installed version

Every requirement of ``pyproject.toml`` must have a ``>=`` floor; the floors check
(scripts/floors.sh) installs exactly these versions and runs the tests there, so a floor
the code does not work with fails CI.
"""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")
_FLOOR = re.compile(r">=\s*([^,;\s]+)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(extras: list[str]) -> list[str]:
    """``name==floor`` for the base dependencies and ``extras`` (sorted, one per name)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    optional = project.get("optional-dependencies", {})
    unknown = sorted(set(extras) - set(optional))
    if unknown:
        raise SystemExit(f"floors: no such extra: {', '.join(unknown)}")
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += optional[extra]
    found: dict[str, str] = {}
    for requirement in requirements:
        match = _REQUIREMENT.match(requirement)
        if match is None:
            raise SystemExit(f"floors: cannot read the requirement {requirement!r}")
        name, _, spec = match.groups()
        if _canonical(name) == project["name"]:
            continue  # the package's own extras, listed through `extras`
        floor = _FLOOR.search(spec)
        if floor is None:
            raise SystemExit(f"floors: {requirement!r} declares no >= floor; add one")
        found[_canonical(name)] = floor.group(1)
    return [f"{name}=={version}" for name, version in sorted(found.items())]


def _release(version: str) -> tuple[int | str, ...]:
    """``2.0`` and ``2.0.0`` compare equal (trailing zero parts dropped)."""
    parts: list[int | str] = [int(p) if p.isdigit() else p for p in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def check(path: Path) -> list[str]:
    """The pins in ``path`` that the running interpreter does not have installed exactly."""
    wrong = []
    for line in path.read_text().splitlines():
        name, _, want = line.partition("==")
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = "nothing"
        if _release(have) != _release(want):
            wrong.append(f"{name}: wanted {want}, installed {have}")
    return wrong


def main(argv: list[str]) -> int:
    if argv[:1] == ["pins"]:
        print("\n".join(pins(argv[1:])))
        return 0
    if len(argv) == 2 and argv[0] == "check":
        wrong = check(Path(argv[1]))
        for line in wrong:
            print(f"floors: {line}", file=sys.stderr)
        return 1 if wrong else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
