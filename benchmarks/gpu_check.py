"""Runs the GPU check's parts in the order and slices of benchmarks/gpu_plan.py (gpu_check.sh starts it).

Every part is a child process with its own slice (SIGINT at its end, so pytest and gpu_loop still
write what they have, SIGKILL GRACE_S later); its log and files go to a work folder. At the end
$OUT holds exactly summary.txt, gpu_loop.json, gpu_loop.md and results.tar.gz (the work folder:
logs, the other tables), checked against the device's file limit and gpu_loop.json's fields.

`--dry-run` (no GPU needed): the same parts on the CPU in their smoke sizes with their own
timeouts (env, the GPU-path imports and full size on `meta`, gpu_loop --smoke with naive, eager
and jit, `pytest --collect-only tests/gpu`); the device budget is then shown as a simulated
timeline (GPU_CHECK_SIMULATE="loop=440 tests=240" sets a part's simulated seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import gpu_plan as plan

ROOT = Path(__file__).resolve().parent.parent
LOOP_MODES = ["naive", "eager", "jit"]


class Runner:
    def __init__(self, out: Path, work: Path, python: str, dry_run: bool) -> None:
        self.out, self.work, self.python, self.dry_run = out, work, python, dry_run
        self.begun = time.monotonic()
        self.lines: list[str] = []
        self.log = (work / "gpu_check.log").open("a", encoding="utf-8")

    def elapsed(self) -> float:
        return time.monotonic() - self.begun

    def say(self, line: str) -> None:
        print(f"gpu_check: {line}", flush=True)
        self.log.write(line + "\n")
        self.log.flush()

    def note(self, line: str) -> None:
        """A line for the summary (and the log)."""
        self.lines.append(line)
        self.say(line)

    def part_slice(self, name: str) -> float:
        part = next(p for p in plan.PARTS if p.name == name)
        if self.dry_run:
            return 1800.0  # on 2 loaded CPU cores the smoke sizes take their time: the device budget is simulated
        return plan.slice_for(part, self.elapsed())

    def run(self, name: str, args: list[str], slice_s: float, log_name: str) -> int | None:
        """Run `python args...` for at most `slice_s`; its exit status (None: cut by its slice)."""
        self.say(f"{name}: {' '.join(args)} ({slice_s:.0f} s at most)")
        with (self.work / log_name).open("w", encoding="utf-8") as log:
            child = subprocess.Popen([self.python, *args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
            try:
                return child.wait(timeout=slice_s)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGINT)  # pytest and gpu_loop write what they have on SIGINT
                try:
                    child.wait(timeout=plan.GRACE_S)
                except subprocess.TimeoutExpired:
                    os.killpg(child.pid, signal.SIGKILL)
                    child.wait()
                return None

    def tail(self, log_name: str, lines: int = 15) -> list[str]:
        path = self.work / log_name
        return path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:] if path.exists() else []


def outcome(rc: int | None) -> str:
    return "cut by its slice" if rc is None else f"exit {rc}"


def run_env(r: Runner) -> float | None:
    rc = r.run("env", ["benchmarks/gpu_env.py", "--out", str(r.work / "env.json"), "--seconds", "2"],
               r.part_slice("env"), "env.log")
    r.lines += [line for line in r.tail("env.log") if line.startswith("env: ")]
    if rc != 0:
        r.note(f"FAIL env part: {outcome(rc)}: " + " | ".join(r.tail("env.log", 5)))
        return None
    return float(json.loads((r.work / "env.json").read_text())["bf16_matmul_tflops"])


def run_smoke(r: Runner) -> None:
    mode = "off" if r.dry_run else "jit"  # the CPU's jit is compiled in the loop part's smoke instead
    rc = r.run("smoke", ["benchmarks/gpu_smoke.py", "--out", str(r.work / "smoke.json"), "--mode", mode],
               r.part_slice("smoke"), "smoke.log")
    r.lines += [line.removeprefix("smoke: ") for line in r.tail("smoke.log", 40)
                if line.startswith(("smoke: PASS", "smoke: FAIL"))]
    if rc is None:
        r.note("FAIL smoke part cut by its slice (a compile that slow is itself a finding): see smoke.log")
    elif rc != 0:
        r.lines += ["smoke.log tail:", *r.tail("smoke.log", 8)]


def run_loop(r: Runner, measured_tflops: float | None) -> None:
    slice_s = r.part_slice("loop")
    if not slice_s:
        r.note("FAIL gpu_loop.py not run: too little of the budget left")
        return
    args = ["benchmarks/gpu_loop.py", "--out", str(r.work), "--modes", *LOOP_MODES, "--no-tuning"]
    if r.dry_run:
        args += ["--smoke", "--frames", "4", "--warmup", "1", "--naive-frames", "2"]
    else:
        args += ["--budget-s", str(int(slice_s - plan.GRACE_S)), "--jit-reserve-s",
                 str(int(slice_s - plan.NAIVE_EAGER_S - plan.GRACE_S))]
    if measured_tflops:
        args += ["--measured-tflops", f"{measured_tflops:.4g}"]
    rc = r.run("loop", args, slice_s, "gpu_loop.log")
    if rc != 0:
        r.note(f"FAIL gpu_loop.py {outcome(rc)} (the modes it finished are in gpu_loop.md): "
               + " | ".join(r.tail("gpu_loop.log", 5)))


def run_tests(r: Runner) -> None:
    slice_s = r.part_slice("tests")
    if not slice_s:
        r.note("SKIP tests/gpu: too little of the budget left after the loop")
        return
    if r.dry_run:
        args = ["-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests/gpu"]
    else:
        args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "-o", "timeout=0", "tests/gpu"]
    rc = r.run("tests", args, slice_s, "gpu_tests.log")
    last = (r.tail("gpu_tests.log", 1) or ["(no output)"])[0]
    verdict = "PASS" if rc == 0 else "FAIL"
    r.note(f"{verdict} tests/gpu{' (collected only: dry run)' if r.dry_run else ''}: {last} ({outcome(rc)})")


def run_extras(r: Runner) -> None:
    if r.dry_run:
        r.note("SKIP sdxl-turbo, input_controlnet, tuning pairs, aot: dry run (their slices are in the timeline)")
        return
    extras = [
        ("sdxl", ["benchmarks/gpu_loop.py", "--arch", "sdxl-turbo", "--modes", "eager", "jit", "--frames", "100",
                  "--warmup", "10", "--no-tuning", "--out", str(r.work)], "gpu_loop_sdxl.log"),
        ("controlnet", ["benchmarks/input_controlnet.py", "--parts", "full", "controlnet", "capture", "--out",
                        str(r.work)], "input_controlnet.log"),
        ("extras", ["benchmarks/gpu_loop.py", "--modes", "aot", "--stem", "gpu_loop_extras", "--out", str(r.work)],
         "gpu_loop_extras.log"),
    ]
    for name, args, log_name in extras:
        slice_s = r.part_slice(name)
        if not slice_s:
            r.note(f"SKIP {name}: {plan.BUDGET_S - r.elapsed():.0f} s of the budget left")
            continue
        if "--budget-s" not in args and name != "controlnet":
            args += ["--budget-s", str(int(slice_s - 30))]
        rc = r.run(name, args, slice_s, log_name)
        r.note(f"{'PASS' if rc == 0 else 'FAIL'} {name}: {outcome(rc)} (tables in results.tar.gz)")


def finish(r: Runner) -> int:
    loop_json = r.work / "gpu_loop.json"
    problems: list[str] = []
    if loop_json.exists():
        data = json.loads(loop_json.read_text(encoding="utf-8"))
        problems += plan.loop_json_problems(data, LOOP_MODES)
        for name in ("gpu_loop.json", "gpu_loop.md"):
            shutil.copy2(r.work / name, r.out / name)
    else:
        problems.append("gpu_loop.json was not written: see gpu_loop.log")
        for name in ("gpu_loop.json", "gpu_loop.md"):
            (r.out / name).write_text("{}\n" if name.endswith(".json") else "gpu_loop.py wrote nothing\n")
    md = r.work / "gpu_loop.md"
    table = md.read_text(encoding="utf-8").strip("`\n").splitlines() if md.exists() else []
    r.lines += ["", "gpu_loop (sd-turbo):", *table]
    r.lines += [f"FAIL {p}" for p in problems]
    r.log.close()
    summary = r.out / "summary.txt"
    with tarfile.open(r.out / "results.tar.gz", "w:gz") as tar:
        tar.add(r.work, arcname="results")
    names = sorted(p.name for p in r.out.iterdir()) + ["summary.txt"] * (not summary.exists())
    file_problems = plan.returned_files_problems(sorted(set(names)))
    r.lines += [f"FAIL {p}" for p in file_problems]
    r.lines.append(f"$OUT: {', '.join(sorted(set(names)))} ({len(set(names))} of at most {plan.MAX_RETURNED} files)")
    if r.dry_run:
        r.lines += ["", "device budget (simulated: the dry run's own parts ran on the CPU, untimed):"]
        r.lines += ["expected on one H100 (est.):", *plan.timeline(plan.simulate({}))]
        r.lines += ["every part using its whole slice:",
                    *plan.timeline(plan.simulate({p.name: 10**6 for p in plan.PARTS}))]
        custom = os.environ.get("GPU_CHECK_SIMULATE", "")
        if custom:
            r.lines += [f"GPU_CHECK_SIMULATE={custom!r}:", *plan.timeline(plan.simulate(plan.parse_durations(custom)))]
    # A dry run's speed targets fail by design (smoke sizes on a CPU): only its other FAIL lines count.
    fails = sum(line.startswith("FAIL") and not (r.dry_run and "(smoke:" in line) for line in r.lines)
    r.lines.append(f"== {fails} FAIL line(s); {r.elapsed():.0f} s of the {plan.BUDGET_S} s budget "
                   f"({'dry run' if r.dry_run else 'device run'}) ==")
    text = "\n".join(r.lines) + "\n"
    summary.write_text(text, encoding="utf-8")
    print(text, flush=True)
    return 1 if fails else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="no GPU: the smoke sizes, the budget simulated")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or "gpu-results"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in plan.RETURNED_FILES:  # a previous run's; anything else in $OUT is reported, never deleted
        (args.out / name).unlink(missing_ok=True)
    work = Path(tempfile.mkdtemp(prefix="vj-gpu-check-"))
    r = Runner(args.out, work, sys.executable, args.dry_run)
    r.note(f"gpu_check {'--dry-run ' if args.dry_run else ''}{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}: "
           f"budget {plan.BUDGET_S} s of the call's {plan.CALL_LIMIT_S}")
    try:
        measured = run_env(r)
        run_smoke(r)
        run_loop(r, measured)
        run_tests(r)
        run_extras(r)
    finally:
        rc = finish(r)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
