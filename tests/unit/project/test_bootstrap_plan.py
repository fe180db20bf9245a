"""The bootstrap's plan per platform (run nowhere but here), and no POSIX-only call outside guarded code."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("vj_bootstrap", ROOT / "scripts" / "bootstrap.py")
assert _spec is not None and _spec.loader is not None
bootstrap = importlib.util.module_from_spec(_spec)
sys.modules["vj_bootstrap"] = bootstrap  # dataclasses look their module up while the class is made
_spec.loader.exec_module(bootstrap)


def facts(platform: str, **changes: object):  # noqa: ANN201
    base = dict(platform=platform, venv_exists=True, up_to_date=False, has_torch=False, has_nvidia=False,
                headless_opencv=False)
    return bootstrap.Facts(**{**base, **changes})


@pytest.mark.parametrize("platform, nvidia, torch", [
    ("linux", False, ["torch==2.13.0"]),
    ("linux", True, ["torch==2.13.0"]),  # CI's CPU wheel either way; VJ_TORCH_SPEC picks a CUDA one
    ("win32", True, ["torch", "--index-url", "https://download.pytorch.org/whl/cu128"]),
    ("win32", False, ["torch"]),
    ("darwin", False, ["torch"]),  # the default macOS wheel has MPS
])
def test_torch_wheel_per_platform(platform: str, nvidia: bool, torch: list[str]) -> None:
    root = Path("/r") if platform != "win32" else Path("C:/r")
    steps = bootstrap.plan(facts(platform, has_nvidia=nvidia), "py", root)
    vpy = str(bootstrap.venv_python(platform, root))
    assert vpy.endswith(str(Path(".venv") / "Scripts" / "python.exe") if platform == "win32"
                        else str(Path(".venv") / "bin" / "python"))
    assert all(step[0] == vpy for step in steps)  # everything after the venv runs in the venv
    assert [vpy, "-m", "pip", "install", "--quiet", *torch] in steps
    assert steps[-1] == [vpy, "-m", "pip", "install", "--quiet", "-e", f"{root}[test]"]


def test_a_fresh_machine_makes_the_venv_first_and_an_installed_one_does_nothing() -> None:
    root = Path("/r")
    fresh = bootstrap.plan(facts("linux", venv_exists=False), "/usr/bin/python3", root)
    assert fresh[0] == ["/usr/bin/python3", "-m", "venv", str(root / ".venv")]
    assert bootstrap.plan(facts("darwin", up_to_date=True), "python3", root) == []


def test_torch_spec_headless_opencv_and_extras() -> None:
    root = Path("/r")
    steps = bootstrap.plan(facts("win32", has_nvidia=True, torch_spec="torch==2.13.0 --index-url https://x/cu126",
                                 headless_opencv=True, extras="dev"), "py", root)
    flat = [" ".join(s[1:]) for s in steps]
    assert "-m pip install --quiet torch==2.13.0 --index-url https://x/cu126" in flat
    assert "-m pip uninstall --quiet -y opencv-python-headless" in flat
    assert flat[-1].endswith("[dev]")
    with_torch = bootstrap.plan(facts("linux", has_torch=True, headless_opencv=True, extras="ndi"), "py", root)
    assert not any("torch" in " ".join(s) or "uninstall" in s for s in with_torch)


# ---------------------------------------------------------------- POSIX-only calls
POSIX_ONLY_ATTRIBUTES = {
    ("os", n) for n in ("fork", "forkpty", "getuid", "geteuid", "getgid", "getegid", "setsid", "killpg", "getpgid",
                        "setpgrp", "sched_setaffinity", "sched_getaffinity", "uname", "nice", "mkfifo", "getloadavg",
                        "sync", "statvfs", "WNOHANG")
} | {("signal", n) for n in ("SIGHUP", "SIGKILL", "SIGUSR1", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGQUIT", "SIGCHLD",
                              "alarm", "pause", "setitimer", "pthread_kill")}
POSIX_ONLY_MODULES = {"fcntl", "termios", "pwd", "grp", "resource", "tty", "pty", "posix", "crypt"}
POSIX_PATHS = ("/proc/", "/sys/", "/dev/shm")
GUARD_WORDS = ("sys.platform", "platform.system", "os.name", "hasattr(", ".exists()", "IS_WINDOWS", "IS_POSIX")
GUARD_ERRORS = {"ImportError", "ModuleNotFoundError", "AttributeError", "OSError", "NotImplementedError"}
MARKER = "# platform-guarded:"  # a use the structure cannot show as guarded says how it is


def posix_only_uses(source: str, name: str = "<string>") -> list[str]:
    """`file:line what` for each POSIX-only call, import or path outside guarded code."""
    tree = ast.parse(source)
    lines = source.splitlines()
    found: list[str] = []

    def guarded(stack: list[ast.AST], lineno: int) -> bool:
        if MARKER in lines[lineno - 1]:
            return True
        for node in stack:
            if isinstance(node, ast.If) and any(w in ast.unparse(node.test) for w in GUARD_WORDS):
                return True
            if isinstance(node, ast.Try):
                names = {ast.unparse(h.type) for h in node.handlers if h.type is not None}
                if any(e in n for n in names for e in GUARD_ERRORS) or any(h.type is None for h in node.handlers):
                    return True
        return False

    def visit(node: ast.AST, stack: list[ast.AST]) -> None:
        what = None
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if (node.value.id, node.attr) in POSIX_ONLY_ATTRIBUTES:
                what = f"{node.value.id}.{node.attr}"
        elif isinstance(node, ast.Import):
            what = next((a.name for a in node.names if a.name.split(".")[0] in POSIX_ONLY_MODULES), None)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in POSIX_ONLY_MODULES:
            what = node.module
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(POSIX_PATHS):
            what = repr(node.value)
        if what is not None and not guarded(stack, node.lineno):
            found.append(f"{name}:{node.lineno} {what}")
        for child in ast.iter_child_nodes(node):
            visit(child, [*stack, node])

    visit(tree, [])
    return found


def test_no_posix_only_call_outside_guarded_code() -> None:
    files = [*sorted((ROOT / "vj").rglob("*.py")), ROOT / "scripts" / "bootstrap.py"]
    found = [use for path in files for use in posix_only_uses(path.read_text(), str(path.relative_to(ROOT)))]
    assert found == [], "POSIX-only calls on the main path (guard them by platform, or mark how they are guarded):\n" \
        + "\n".join(found)


def test_the_search_finds_what_it_looks_for_and_accepts_guards() -> None:
    bad = "import os, signal, fcntl\nos.fork()\nsignal.signal(signal.SIGHUP, h)\nopen('/proc/self/maps')\n"
    assert [u.split(" ", 1)[1] for u in posix_only_uses(bad)] == ["fcntl", "os.fork", "signal.SIGHUP",
                                                                  "'/proc/self/maps'"]
    good = ("import os, signal, sys\nif sys.platform != 'win32':\n    os.fork()\n"
            "try:\n    import fcntl\nexcept ImportError:\n    fcntl = None\n"
            "if hasattr(signal, 'SIGHUP'):\n    signal.signal(signal.SIGHUP, h)\n"
            "MAPS = '/proc/self/maps'  # platform-guarded: read only when it exists\n")
    assert posix_only_uses(good) == []
