"""bench/RESULTS.md is shared by the benchmarks: each one owns a "## <title>" section and replaces
only that section, leaving the others (and the file's title) alone."""

from __future__ import annotations

from pathlib import Path

TITLE = "# keras2edge benchmarks\n\nEach section is written by the script it names; see bench/README.md.\n\n"


def write_section(path: Path, heading: str, text: str) -> None:
    """Replace the section that starts with the line ``heading`` (``## ...``) by ``text``, or append it."""
    old = path.read_text(encoding="utf-8") if path.exists() else TITLE
    lines = old.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if ln.rstrip() == heading), None)
    if start is None:
        new = old + ("\n" if old and not old.endswith("\n\n") else "") + text
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        new = "".join(lines[:start]) + text + ("\n" if end < len(lines) else "") + "".join(lines[end:])
    path.write_text(new, encoding="utf-8")


def cpu_and_ram() -> tuple[str, str]:
    """The CPU model (from /proc/cpuinfo) and total RAM (from /proc/meminfo), '?' where unknown."""
    import re

    cpu, ram = "?", "?"
    try:
        m = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    try:
        m = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
        ram = f"{int(m.group(1)) / 2**20:.1f} GiB" if m else ram
    except OSError:
        pass
    return cpu, ram
