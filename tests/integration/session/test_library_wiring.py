"""The library entry points honour a preset's schedules, prompt schedule and LFOs in a fresh interpreter.

Nothing may depend on which modules happen to be imported: each check runs in a new
Python process that imports only the library entry point it tests, never CLI code.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

PRESET = '''
[model]
source = "tiny"
device = "cpu"
[render]
width = 64
height = 64
fps = 24
frames = 8
[[prompts.mix]]
text = "base prompt"
[schedules]
zoom = "0: (1.0), 7: (1.07)"
[prompt_schedule]
"0" = "first prompt"
"4" = "second prompt"
[modulators]
bpm = 120
[modulators.lfo.angle]
shape = "square"
rate = 1
depth = 3.0
'''


def _fresh(code: str, tmp_path: Path) -> dict[str, object]:
    """Run `code` in a new interpreter; it prints one JSON object, which is returned."""
    (tmp_path / "preset.toml").write_text(PRESET, encoding="utf-8")
    script = textwrap.dedent(code) + textwrap.dedent('''
        import sys as _sys
        assert not [m for m in _sys.modules if m.startswith("vj.cli")], "CLI code was imported"
    ''')
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _check(values: dict[str, object]) -> None:
    zoom = values["zoom"]
    assert zoom[0] == 1.0 and abs(zoom[7] - 1.07) < 1e-9 and 1.0 < zoom[3] < 1.07  # the schedule drives zoom
    assert values["prompts"][:4] == ["first prompt"] * 4 and values["prompts"][4] == "second prompt"
    assert values["angle"][0] == 3.0 and values["angle"][6] == -3.0  # the LFO: +3 then -3 each beat


def test_parse_preset_refuses_a_broken_schedule_by_itself(tmp_path: Path) -> None:
    out = _fresh('''
        import json
        from vj.config import parse_preset
        from vj.errors import ConfigError
        try:
            parse_preset('[schedules]\\nzoom = "0: (1.0"', "broken.toml")
        except ConfigError as err:
            print(json.dumps({"error": str(err)}))
        else:
            print(json.dumps({"error": None}))
    ''', tmp_path)
    assert out["error"] is not None and "broken.toml" in out["error"] and "schedules.zoom" in out["error"]


def test_build_store_honours_schedules_prompt_schedule_and_lfos(tmp_path: Path) -> None:
    _check(_fresh('''
        import json
        from vj.preset_files import load_preset
        from vj.session.presets import build_store
        store = build_store(load_preset("preset.toml"))
        snaps = [store.snapshot(i, i / 24, 1 / 24) for i in range(8)]
        print(json.dumps({"zoom": [s.num("zoom") for s in snaps], "angle": [s.num("angle") for s in snaps],
                          "prompts": [s.prompts.entries[0].text for s in snaps]}))
    ''', tmp_path))


def test_render_offline_and_replay_honour_them(tmp_path: Path) -> None:
    out = _fresh('''
        import json
        from vj.preset_files import load_preset
        from vj.output.timeline import TimelineWriter, make_header
        from vj.session.offline import render_offline
        from vj.session.replay import replay

        preset = load_preset("preset.toml")
        rendered = []
        writer = TimelineWriter("take.jsonl", make_header(preset))
        def keep(frame):
            rendered.append(frame.snapshot)
            writer.offer_snapshot(frame.snapshot)
        render_offline(preset, frames=8, outputs=[], on_frame=keep)
        writer.close()
        result = replay("take.jsonl", keep_snapshots=True)
        def table(snaps):
            return {"zoom": [s.num("zoom") for s in snaps], "angle": [s.num("angle") for s in snaps],
                    "prompts": [s.prompts.entries[0].text for s in snaps]}
        print(json.dumps({"render": table(rendered), "replay": table(result.snapshots)}))
    ''', tmp_path)
    _check(out["render"])
    # replay re-runs the preset's schedules and prompt schedule from the same frame indices
    assert out["replay"]["zoom"] == out["render"]["zoom"]
    assert out["replay"]["prompts"] == out["render"]["prompts"]
