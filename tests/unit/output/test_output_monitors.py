"""Monitor geometry for the fullscreen preview, parsed from real `xrandr --listmonitors` output."""

from __future__ import annotations

import pytest

from vj.errors import DeviceNotConnected
from vj.output.monitors import Monitor, list_monitors, parse_xrandr_monitors, pick_monitor

TWO_MONITORS = """Monitors: 2
 0: +*eDP-1 1920/344x1080/194+0+0  eDP-1
 1: +HDMI-1 1280/698x720/392+1920+0  HDMI-1
"""


def test_xrandr_monitors_are_parsed_with_position_size_and_primary() -> None:
    laptop, projector = parse_xrandr_monitors(TWO_MONITORS)
    assert laptop == Monitor(0, "eDP-1", 0, 0, 1920, 1080, primary=True)
    assert projector == Monitor(1, "HDMI-1", 1920, 0, 1280, 720, primary=False)
    assert parse_xrandr_monitors("Monitors: 0\n") == []
    left = parse_xrandr_monitors(" 0: +DP-2 1024/300x768/200-1024-10  DP-2\n")
    assert left == [Monitor(0, "DP-2", -1024, -10, 1024, 768)]


def test_picking_a_monitor_that_is_not_there_names_the_ones_that_are() -> None:
    monitors = parse_xrandr_monitors(TWO_MONITORS)
    assert pick_monitor(monitors, 1).name == "HDMI-1"
    with pytest.raises(DeviceNotConnected, match=r"fullscreen 2: expected one of .*1: HDMI-1 1280x720\+1920\+0"):
        pick_monitor(monitors, 2)


def test_listing_the_monitors_of_a_real_x_server() -> None:
    from tests.integration.x11 import missing_x_tools, xvfb

    if missing_x_tools():
        pytest.skip(f"needs {', '.join(missing_x_tools())} (Debian: xvfb x11-utils x11-apps x11-xserver-utils)")
    with xvfb(640, 480) as display:
        (screen,) = list_monitors(display)
    assert (screen.index, screen.x, screen.y, screen.width, screen.height) == (0, 0, 0, 640, 480)
