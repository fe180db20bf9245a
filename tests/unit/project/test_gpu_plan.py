"""The GPU check's plan, without a GPU: the budget arithmetic, the files the device brings back,
and the fields gpu_loop.json must carry (benchmarks/gpu_plan.py, run by benchmarks/gpu_check.sh)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))

import gpu_plan as plan  # noqa: E402


@pytest.mark.parametrize("durations", [{}, {p.name: 10**6 for p in plan.PARTS},
                                       {"env": 20, "smoke": 60, "loop": 50}, {"smoke": 5, "loop": 100}],
                         ids=["expected", "every part its whole slice", "a short loop", "fast start"])
def test_jit_keeps_its_slice_and_the_call_fits(durations: dict[str, float]) -> None:
    steps = plan.simulate(durations)
    assert [s.part for s in steps] == [p.name for p in plan.PARTS]
    loop = next(s for s in steps if s.part == "loop")
    assert not loop.skipped and loop.slice_s - plan.NAIVE_EAGER_S >= plan.JIT_RESERVE_S
    assert sum(s.used_s for s in steps) <= plan.BUDGET_S - plan.TAIL_S + plan.GRACE_S  # only the last grace overruns
    assert plan.worst_case_call_s(steps) <= plan.CALL_LIMIT_S
    assert all(s.start_s + s.slice_s <= plan.BUDGET_S - plan.TAIL_S for s in steps if not s.skipped)


def test_the_order_is_env_smoke_loop_then_tests_then_the_rest() -> None:
    assert [p.name for p in plan.PARTS][:4] == ["env", "smoke", "loop", "tests"]
    steps = plan.simulate({})
    assert not next(s for s in steps if s.part == "tests").skipped  # expected durations leave the tests room
    text = "\n".join(plan.timeline(steps))
    assert "jit keeps 320 s (≥ 300: yes)" in text and "(fits)" in text


def test_a_part_never_starts_with_less_than_its_minimum() -> None:
    loop = next(p for p in plan.PARTS if p.name == "loop")
    assert plan.slice_for(loop, 0) == loop.slice_s
    assert plan.slice_for(loop, plan.BUDGET_S - plan.TAIL_S - loop.min_s + 1) == 0


def test_simulated_durations_parse_and_name_the_parts() -> None:
    assert plan.parse_durations("loop=440 tests=240") == {"loop": 440.0, "tests": 240.0}
    with pytest.raises(ValueError, match="NAME=SECONDS"):
        plan.parse_durations("warmup=3")


def test_the_returned_files_fit_the_devices_limit() -> None:
    assert plan.returned_files_problems(list(plan.RETURNED_FILES)) == []
    assert len(plan.RETURNED_FILES) <= plan.MAX_RETURNED
    eleven = [*plan.RETURNED_FILES, "gpu_check.log", "gpu_tests.log", "input_controlnet.log", "input_controlnet.md",
              "gpu_loop.log", "gpu_loop_sdxl.md", "gpu_loop_sdxl.json"]
    problems = plan.returned_files_problems(eleven)
    assert any("at most 8" in p for p in problems) and any("results.tar.gz" in p for p in problems)
    assert plan.returned_files_problems(["summary.txt"]) == [
        "missing from $OUT: gpu_loop.json, gpu_loop.md, results.tar.gz"]


def test_the_smoke_loops_json_has_every_field_the_check_reads(tmp_path: Path) -> None:
    import gpu_loop

    assert gpu_loop.main(["--smoke", "--modes", "naive", "eager", "--frames", "2", "--warmup", "1",
                          "--naive-frames", "1", "--no-tuning", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "gpu_loop.json").read_text())
    assert plan.loop_json_problems(data, ["naive", "eager"]) == []
    eager = next(r for r in data["results"] if r["mode"] == "eager")
    assert eager["counters"] == dict.fromkeys(plan.COUNTER_FIELDS, 0) and eager["delivered"] == 4
    assert eager["publish_waits"] > 0  # the publish's own wait is counted apart from host syncs
    del eager["counters"]["host_syncs"]
    assert plan.loop_json_problems(data, ["naive", "eager", "jit"]) == [
        "gpu_loop.json eager counters lack 'host_syncs'", "gpu_loop.json has no jit result",
        "gpu_loop.json has no jit vs eager relative error"]


def test_the_check_leaves_four_files_and_tars_everything_else(tmp_path: Path) -> None:
    import tarfile

    import gpu_check

    out, work = tmp_path / "out", tmp_path / "work"
    out.mkdir()
    work.mkdir()
    (out / "summary.txt").write_text("a previous run's\n")
    runner = gpu_check.Runner(out, work, sys.executable, dry_run=True)
    for name in ("env.log", "smoke.log", "gpu_loop.log", "gpu_tests.log", "input_controlnet.md", "gpu_loop_sdxl.md"):
        (work / name).write_text(name)
    (work / "gpu_loop.md").write_text("```\n| mode | fps |\nPASS jit vs eager\n```\n")
    (work / "gpu_loop.json").write_text(json.dumps({"results": []}))
    assert gpu_check.finish(runner) == 1  # the JSON lacks its fields: FAIL lines, exit 1
    assert sorted(p.name for p in out.iterdir()) == sorted(plan.RETURNED_FILES)
    with tarfile.open(out / "results.tar.gz") as tar:
        assert {"results/gpu_tests.log", "results/gpu_loop_sdxl.md", "results/gpu_check.log"} <= set(tar.getnames())
    summary = (out / "summary.txt").read_text()
    assert "FAIL gpu_loop.json has no jit result" in summary and "PASS jit vs eager" in summary
    assert "jit keeps 320 s (≥ 300: yes)" in summary and "(4 of at most 8 files)" in summary
