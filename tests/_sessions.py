"""What a killed or stopped command left running: the live (not zombie) processes of its session, from /proc."""
from __future__ import annotations

from pathlib import Path


def session_processes(sid: int) -> list[tuple[int, str]]:
    """(pid, name) of the processes still in session `sid` (the command's and everything it started, Ray's too)."""
    left = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[3]) == sid and fields[0] != "Z":
                left.append((int(entry.name), stat[stat.index("(") + 1:stat.rindex(")")]))
    return left
