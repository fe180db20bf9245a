"""Set up .venv and install vj with its extras, on Linux, Windows or macOS (no bash needed).

    python scripts/bootstrap.py            # what scripts/bootstrap.sh and scripts/bootstrap.ps1 run

Idempotent: when .venv/.vj-installed is newer than pyproject.toml nothing is done. torch is
installed first unless one is already there, because an unpinned `pip install torch` may pull
the wrong build (several GB of CUDA packages on Linux):

- Linux: the pinned wheel below (the CPU build, as CI uses);
- Windows: with an NVIDIA GPU (nvidia-smi answers) the CUDA wheel from PyTorch's index,
  otherwise the default wheel (CPU);
- macOS: the default wheel (Apple GPUs through MPS).

Environment: VJ_TORCH_SPEC replaces the torch choice (e.g. "torch --index-url <your CUDA
index>"); VJ_EXTRAS the extras (default "test"); PYTHON is read by the wrappers only.
`plan()` decides the commands from the facts it is given and runs nothing, so the choice for
each platform is tested on any machine (tests/unit/project/test_bootstrap_plan.py).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINUX_TORCH = "torch==2.13.0"
CUDA_INDEX = "https://download.pytorch.org/whl/cu128"
GUI_EXTRAS = {"test", "dev", "preview"}  # extras that bring opencv-python (the GUI build)


@dataclass(frozen=True)
class Facts:
    """What the plan depends on; `probe()` finds them on this machine."""

    platform: str  # sys.platform: "linux", "win32", "darwin"
    venv_exists: bool
    up_to_date: bool  # the install stamp is newer than pyproject.toml
    has_torch: bool
    has_nvidia: bool
    headless_opencv: bool
    extras: str = "test"
    torch_spec: str = ""  # VJ_TORCH_SPEC


def venv_python(platform: str, root: Path = ROOT) -> Path:
    """The venv's interpreter: .venv\\Scripts\\python.exe on Windows, .venv/bin/python elsewhere."""
    if platform == "win32":
        return root / ".venv" / "Scripts" / "python.exe"
    return root / ".venv" / "bin" / "python"


def torch_args(facts: Facts) -> list[str]:
    """The pip arguments that install torch for this platform."""
    if facts.torch_spec:
        return shlex.split(facts.torch_spec, posix=facts.platform != "win32")
    if facts.platform == "win32" and facts.has_nvidia:
        return ["torch", "--index-url", CUDA_INDEX]
    if facts.platform in ("win32", "darwin"):
        return ["torch"]
    return [LINUX_TORCH]


def plan(facts: Facts, base_python: str, root: Path = ROOT) -> list[list[str]]:
    """The commands to run, in order (an empty list: already set up)."""
    vpy = str(venv_python(facts.platform, root))
    steps: list[list[str]] = []
    if not facts.venv_exists:
        steps.append([base_python, "-m", "venv", str(root / ".venv")])
    elif facts.up_to_date:
        return []
    steps.append([vpy, "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    if not facts.has_torch:
        steps.append([vpy, "-m", "pip", "install", "--quiet", *torch_args(facts)])
    # opencv-python and opencv-python-headless share the cv2 module: keep only the GUI one.
    if facts.headless_opencv and GUI_EXTRAS & set(facts.extras.split(",")):
        steps.append([vpy, "-m", "pip", "uninstall", "--quiet", "-y", "opencv-python-headless"])
    steps.append([vpy, "-m", "pip", "install", "--quiet", "-e", f"{root}[{facts.extras}]"])
    return steps


def _quiet(cmd: list[str]) -> bool:
    return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False).returncode == 0


def probe(root: Path = ROOT) -> Facts:
    vpy = venv_python(sys.platform, root)
    stamp = root / ".venv" / ".vj-installed"
    exists = vpy.exists()
    up_to_date = stamp.exists() and stamp.stat().st_mtime > (root / "pyproject.toml").stat().st_mtime
    nvidia = shutil.which("nvidia-smi") is not None and _quiet(["nvidia-smi", "-L"])
    return Facts(platform=sys.platform, venv_exists=exists, up_to_date=up_to_date,
                 has_torch=exists and _quiet([str(vpy), "-c", "import torch"]), has_nvidia=nvidia,
                 headless_opencv=exists and _quiet([str(vpy), "-m", "pip", "show", "-q", "opencv-python-headless"]),
                 extras=os.environ.get("VJ_EXTRAS", "test"), torch_spec=os.environ.get("VJ_TORCH_SPEC", ""))


def main() -> int:
    facts = probe()
    steps = plan(facts, sys.executable)
    if facts.venv_exists is False:
        # The venv does not exist yet, so what it holds is only known once it is made.
        subprocess.run(steps[0], check=True)
        facts = probe()
        steps = plan(facts, sys.executable)
    for cmd in steps:
        print("bootstrap:", " ".join(cmd), file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True)
    if steps:
        (ROOT / ".venv" / ".vj-installed").touch()
    return 0


if __name__ == "__main__":
    sys.exit(main())
