"""Deforum settings files as shared in public repositories, through the real `vj` CLI in a child process: an
init image that is a URL or a path on the author's machine never stops `vj schedule`, and `vj render` says in
one line how to go on (a local copy, no init image, or `--fetch` for a URL, here served on loopback)."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from tests.helpers import run_vj
from tests.input_helpers import write_halves

DATA = Path(__file__).resolve().parents[2] / "data"
URL_IMAGE = "https://deforum.github.io/a1/I1.png"
AUTHOR_PATH = "C:\\Users\\someone\\Pictures\\start.png"
TINY = ("--model", "tiny", "--width", "64", "--height", "64", "--device", "cpu", "--frames", "2", "--no-progress")


def shared_settings(tmp_path: Path, init_image: str) -> Path:
    settings = json.loads((DATA / "deforum_zoom_tunnel_settings.txt").read_text(encoding="utf-8"))
    settings.update(use_init=True, init_image=init_image, strength=0.6)
    path = tmp_path / "shared_settings.txt"
    path.write_text(json.dumps(settings), encoding="utf-8")
    return path


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("vj: error")]


@pytest.mark.parametrize("init_image", [URL_IMAGE, AUTHOR_PATH], ids=["url", "windows-path"])
def test_schedule_never_needs_the_init_picture(tmp_path: Path, init_image: str) -> None:
    result = run_vj("schedule", str(shared_settings(tmp_path, init_image)), "--param", "zoom", "--frames", "0:3",
                    "--csv")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "frame,zoom" and len(result.stdout.splitlines()) == 4


@pytest.mark.parametrize(("init_image", "why", "fetch"), [
    (URL_IMAGE, "a URL (vj downloads nothing unless asked with --fetch)", True),
    (AUTHOR_PATH, "a Windows path, from the machine the file was made on", False),
], ids=["url", "windows-path"])
def test_render_names_the_ways_on_in_one_line(tmp_path: Path, init_image: str, why: str, fetch: bool) -> None:
    result = run_vj("render", str(shared_settings(tmp_path, init_image)), "--out", str(tmp_path / "clip.mp4"), *TINY)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    (line,) = error_lines(result.stderr)
    assert f"init_image '{init_image}' cannot be opened: {why}." in line
    assert "--init-image PATH (a copy on this machine), --init-image '' (start without one)" in line
    assert ("or --fetch to download it" in line) is fetch
    assert not (tmp_path / "clip.mp4").exists()


def test_render_without_the_init_image(tmp_path: Path) -> None:
    out = tmp_path / "clip.mp4"
    result = run_vj("render", str(shared_settings(tmp_path, AUTHOR_PATH)), "--out", str(out), "--init-image", "",
                    *TINY)
    assert result.returncode == 0, result.stderr
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 2


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    folder = tmp_path / "site"
    folder.mkdir()
    write_halves(folder / "I1.png", 64, 64)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/I1.png"
    finally:
        server.shutdown()
        server.server_close()


def test_render_fetches_a_url_only_when_asked(tmp_path: Path, served: str) -> None:
    out = tmp_path / "clip.mp4"
    settings = shared_settings(tmp_path, served)
    refused = run_vj("render", str(settings), "--out", str(out), *TINY)
    assert refused.returncode != 0 and not (tmp_path / "clip-init.png").exists()
    result = run_vj("render", str(settings), "--out", str(out), "--fetch", *TINY)
    assert result.returncode == 0, result.stderr
    fetched = tmp_path / "clip-init.png"
    assert fetched.read_bytes() == (tmp_path / "site" / "I1.png").read_bytes()
    assert f"vj: fetched the init image {served} to {fetched}" in result.stderr
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 2


def test_a_stray_leading_key_is_read_as_deforum_reads_it(tmp_path: Path) -> None:
    settings = json.loads((DATA / "deforum_zoom_tunnel_settings.txt").read_text(encoding="utf-8"))
    # Deforum splits an entry at every colon and keeps key and value: frame 0 at 0, the rest dropped.
    settings.update(angle="0: 0: (2*t), 4: (8)")
    path = tmp_path / "stray_settings.txt"
    path.write_text(json.dumps(settings), encoding="utf-8")
    result = run_vj("schedule", str(path), "--param", "angle", "--frames", "0:5", "--csv")
    assert result.returncode == 0, result.stderr
    assert [float(line.split(",")[1]) for line in result.stdout.splitlines()[1:]] == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert "angle: an entry with more than one key is read as Deforum reads it" in result.stderr
    assert "(dropped: ': (2*t)')" in result.stderr


def test_round_takes_halves_to_even_as_numexpr_does() -> None:
    result = run_vj("schedule", "0: (round(t/2) + round(-t/2)/10 + round(t/4, 1)/100)", "--max-frames", "7", "--csv")
    assert result.returncode == 0, result.stderr
    values = [float(line.split(",")[1]) for line in result.stdout.splitlines()[1:]]
    # t/2 = 0, .5, 1, 1.5, 2, 2.5, 3 -> 0, 0, 1, 2, 2, 2, 3; t/4 = .25 and .75 to one digit -> .2 and .8
    halves_even = [0, 0, 1, 2, 2, 2, 3]
    expected = [h - h / 10 + d / 100 for h, d in zip(halves_even, [0, 0.2, 0.5, 0.8, 1, 1.2, 1.5], strict=True)]
    assert values == pytest.approx(expected), values
