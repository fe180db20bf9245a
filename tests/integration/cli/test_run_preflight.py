"""`vj run` in a real child process refuses a taken port before the model loads, whichever servers are on."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.helpers import run_vj


def test_taken_web_port_with_no_osc_is_refused_before_the_model_loads(tmp_path: Path) -> None:
    """Without OSC the control page still starts, so its port is checked first."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_vj("run", "drift", "--model", "tiny", "--width", "64", "--height", "64", "--no-osc",
                        "--web-port", str(port), "--frames", "2", "--record", str(tmp_path / "take.mkv"))
    assert result.returncode == 2, result.stderr
    assert "vj: loading" not in result.stderr and not (tmp_path / "take.mkv").exists()
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("vj: error:")]
    assert f"the control page cannot listen on 127.0.0.1:{port}" in line and "--web-port" in line
