"""A real X server for tests: Xvfb on a free display, window geometry (xwininfo), screenshots (xwd) and
key presses into a window (xdotool, through the XTEST extension: real input events, as a keyboard sends)."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

X_TOOLS = ("Xvfb", "xwd", "xwininfo", "xrandr", "xdotool")


def missing_x_tools() -> list[str]:
    return [tool for tool in X_TOOLS if shutil.which(tool) is None]


@contextmanager
def xvfb(width: int = 800, height: int = 600) -> Iterator[str]:
    """Start Xvfb on a display it picks itself (-displayfd: no races with other servers); yields ':N'."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x24",
                             "-nolisten", "tcp", "-noreset"], pass_fds=(write_fd,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        if not number:
            raise RuntimeError("Xvfb did not start")
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@dataclass(frozen=True, slots=True)
class Geometry:
    x: int
    y: int
    width: int
    height: int


def window_geometry(display: str, title: str) -> Geometry | None:
    """The window's absolute position and size, or None while no window has that title."""
    done = subprocess.run(["xwininfo", "-display", display, "-name", title], capture_output=True, text=True)
    if done.returncode != 0:
        return None
    fields = dict(re.findall(r"^\s*(Absolute upper-left X|Absolute upper-left Y|Width|Height):\s+(-?\d+)",
                             done.stdout, re.MULTILINE))
    return Geometry(int(fields["Absolute upper-left X"]), int(fields["Absolute upper-left Y"]),
                    int(fields["Width"]), int(fields["Height"]))


def press_key(display: str, title: str, key: str) -> None:
    """Focus the window whose whole title matches `title` (a regular expression) and press `key`
    (an X keysym name such as "space") on it."""
    subprocess.run(["xdotool", "search", "--sync", "--name", f"^{title}$", "windowfocus", "--sync",
                    "key", key], env={**os.environ, "DISPLAY": display}, check=True, capture_output=True,
                   timeout=30)


def screenshot(display: str) -> np.ndarray:
    """The whole screen as an RGB uint8 array, from `xwd -root` (parsed here: XWD version 7, ZPixmap)."""
    data = subprocess.run(["xwd", "-display", display, "-root", "-silent"], capture_output=True, check=True).stdout
    return parse_xwd(data)


def parse_xwd(data: bytes) -> np.ndarray:
    header = struct.unpack(">25I", data[:100])
    header_size, version, pixmap_format = header[0], header[1], header[2]
    width, height, byte_order, bits_per_pixel, bytes_per_line = header[4], header[5], header[7], header[11], header[12]
    red_mask, green_mask, blue_mask, ncolors = header[14], header[15], header[16], header[19]
    if version != 7 or pixmap_format != 2 or bits_per_pixel not in (24, 32):
        raise ValueError(f"unexpected XWD image: version {version}, format {pixmap_format}, {bits_per_pixel} bpp")
    start = header_size + 12 * ncolors
    step = bits_per_pixel // 8
    rows = np.frombuffer(data, dtype=np.uint8, count=bytes_per_line * height, offset=start)
    pixels = rows.reshape(height, bytes_per_line)[:, : width * step].reshape(height, width, step).astype(np.uint32)
    if byte_order:  # MSBFirst
        pixels = pixels[..., ::-1]
    words = sum(pixels[..., i] << (8 * i) for i in range(step))
    channels = []
    for mask in (red_mask, green_mask, blue_mask):
        shift = (mask & -mask).bit_length() - 1
        channels.append(((words & mask) >> shift).astype(np.uint8))
    return np.stack(channels, axis=-1)
