"""Monitor geometry for a fullscreen preview on a chosen monitor (a projector), from `xrandr --listmonitors`.

X11 only: Qt makes a window fullscreen on the monitor it stands on, so vj moves the window onto
the chosen monitor's rectangle first (which is also all a bare X server without a window manager
does). On other systems only the monitor the window opens on is available.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from vj.errors import DeviceNotConnected


@dataclass(frozen=True, slots=True)
class Monitor:
    index: int
    name: str
    x: int
    y: int
    width: int
    height: int
    primary: bool = False

    def describe(self) -> str:
        return f"{self.index}: {self.name} {self.width}x{self.height}+{self.x}+{self.y}"


# " 1: +*HDMI-1 1920/477x1080/268+1920+0  HDMI-1"  (flags: + active, * primary; sizes in px/mm)
_LINE = re.compile(r"^\s*(\d+):\s+([+*]*)(\S+)\s+(\d+)/\d+x(\d+)/\d+([+-]\d+)([+-]\d+)")


def parse_xrandr_monitors(text: str) -> list[Monitor]:
    """The monitors listed by `xrandr --listmonitors`, in xrandr's order (its index is the one users pass)."""
    monitors = []
    for line in text.splitlines():
        match = _LINE.match(line)
        if match:
            index, flags, name, width, height, x, y = match.groups()
            monitors.append(Monitor(int(index), name, int(x), int(y), int(width), int(height), "*" in flags))
    return monitors


def list_monitors(display: str | None = None) -> list[Monitor]:
    """Ask the X server (xrandr) for its monitors; DeviceNotConnected when it cannot be asked."""
    xrandr = shutil.which("xrandr")
    if xrandr is None:
        raise DeviceNotConnected("choosing a fullscreen monitor needs xrandr (Debian: apt install x11-xserver-utils)")
    command = [xrandr, "--listmonitors"] + (["--display", display] if display else [])
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise DeviceNotConnected(f"xrandr --listmonitors failed: {err}") from err
    if done.returncode != 0:
        raise DeviceNotConnected(f"xrandr --listmonitors failed: {done.stderr.strip() or done.returncode}")
    return parse_xrandr_monitors(done.stdout)


def pick_monitor(monitors: list[Monitor], index: int) -> Monitor:
    for monitor in monitors:
        if monitor.index == index:
            return monitor
    listed = "; ".join(m.describe() for m in monitors) or "none"
    raise DeviceNotConnected(f"--preview-fullscreen {index}: expected one of the monitors xrandr lists ({listed})")
