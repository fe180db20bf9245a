"""A library caller builds a full live show (controls and outputs) from typed configs, with no CLI code.

Runs in a fresh interpreter, so nothing the test runner imported can stand in for the wiring:
the show's OSC server, OSCQuery, web page, MIDI-less controls, take and page preview all come
from `vj.session.live_show.build_live_show`, and `vj.cli` is never imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import TINY_PRESET

SCRIPT = '''
import json, sys, time, urllib.request
from pathlib import Path
from pythonosc.udp_client import SimpleUDPClient
from vj.config_live import ControlsConfig, OutputsConfig, ShowConfig, WebConfig
from vj.preset_files import load_preset
from vj.session.live_show import build_live_show

def wait_for(cond, timeout_s=120.0):
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)

config = ShowConfig(controls=ControlsConfig(osc_port=0, zeroconf=False),
                    outputs=OutputsConfig(record=str(Path("take.mkv").resolve())),
                    web=WebConfig(port=0))
session = build_live_show(load_preset("preset.toml"), config)
kinds = sorted(type(c).__name__ for c in session.controls)
outputs = sorted(type(o).__name__ for o in session.outputs)
session.start()
try:
    osc = next(c for c in session.controls if type(c).__name__ == "OscControl")
    web = next(c for c in session.controls if type(c).__name__ == "WebServer")
    query = next(c for c in session.controls if type(c).__name__ == "_OscQueryAfterOsc").query
    client = SimpleUDPClient("127.0.0.1", osc.port)
    client.send_message("/vj/zoom", 1.25)  # exact in float32, as OSC carries it
    client.send_message("/vj/blackout", 1)
    wait_for(lambda: session.store.live_overrides().get("zoom") == 1.25 and session.performer.blackout_on)
    page = urllib.request.urlopen(f"http://127.0.0.1:{web.port}/", timeout=30).status
    def zoom_in_tree():
        url = f"http://127.0.0.1:{query.port}/vj/zoom?VALUE"
        return json.loads(urllib.request.urlopen(url, timeout=30).read())["VALUE"][0]

    wait_for(lambda: session.engine.stats.frames >= 3 and zoom_in_tree() > 1.1)  # rendered frames move toward it
    tree = zoom_in_tree()
finally:
    session.stop()
print(json.dumps({"controls": kinds, "outputs": outputs, "page": page, "zoom_tree": tree,
                  "recorded": Path("take.mkv").stat().st_size > 0,
                  "cli": sorted(m for m in sys.modules if m == "vj.cli" or m.startswith("vj.cli."))}))
'''


def test_a_full_live_show_is_built_from_configs_without_the_cli(tmp_path: Path) -> None:
    (tmp_path / "preset.toml").write_text(TINY_PRESET, encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["cli"] == []
    assert result["controls"] == ["OscControl", "TempoControl", "WebServer", "_OscQueryAfterOsc"]
    assert result["outputs"] == ["LiveTake", "PreviewSlot"]
    assert result["page"] == 200 and 1.1 < result["zoom_tree"] <= 1.25
    assert result["recorded"]
