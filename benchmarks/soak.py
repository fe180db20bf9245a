"""Soak test: the shipped `vj run` under a show's worth of control traffic, watched from outside.

A set lasts hours; a slow leak or a creeping frame time ends it. This starts
`vj run PRESET --model tiny` as a child process with recording on, then, for the whole run:
- sends OSC over real UDP at 60 Hz (motion, strength, noise: TouchDesigner-style resends),
- changes the prompt every 0.5 s from a pool larger than the embedding cache (evictions),
- sends a malformed datagram every second (the bad-input path),
- toggles `/vj/record` every `--take-every` seconds (a new take file each time),
and samples the child's resident memory (Linux /proc) and its per-second status line.

It prints a Markdown table per interval and a summary: memory growth after warm-up, fps
drift, dropped frames, OSC counters, and whether every take decodes with its timeline
beside it. Nothing is asserted: read the numbers.

    .venv/bin/python benchmarks/soak.py [--minutes 10] [--size 64] [--interval 60]
"""

from __future__ import annotations

import argparse
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import av
from pythonosc.udp_client import SimpleUDPClient

STATUS = re.compile(r"^\s*(?P<fps>[\d.]+) fps \|\s*(?P<ms>[\d.]+) ms \| "
                    r"frames (?P<frames>\d+) \| dropped (?P<dropped>\d+)")
OSC_STATUS = re.compile(r"osc :\d+ rx (?P<rx>\d+) bad (?P<bad>\d+)")
WORDS = ("neon", "cathedral", "forest", "ocean", "glass", "ember", "void", "orchid", "chrome", "dune", "aurora",
         "ruins", "storm", "lantern", "coral", "mirror", "smoke", "circuit", "moss", "comet")


@dataclass
class Sample:
    t_s: float
    rss_mib: float
    fps: float
    frame_ms: float
    frames: int
    dropped: int
    osc_rx: int
    osc_bad: int


@dataclass
class Traffic:
    sent: int = 0
    prompts: int = 0
    malformed: int = 0
    record_toggles: int = 0
    errors: list[str] = field(default_factory=list)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int) -> float:
    """Resident memory of `pid` in MiB, from /proc (Linux only; the soak says so elsewhere)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS line for pid {pid}")


def drive(port: int, stop: threading.Event, take_every_s: float, traffic: Traffic) -> None:
    """The performer: 60 Hz values, prompt changes, garbage, record toggles."""
    client = SimpleUDPClient("127.0.0.1", port)
    raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rng = random.Random(7)
    start = time.monotonic()
    tick, next_prompt, next_garbage, next_take, recording = 0, 0.0, 1.0, take_every_s, True
    try:
        while not stop.is_set():
            now = time.monotonic() - start
            phase = tick / 60
            client.send_message("/vj/zoom", 1.0 + 0.02 * rng.uniform(-1, 1))
            client.send_message("/vj/angle", 2.0 * rng.uniform(-1, 1))
            client.send_message("/vj/strength/norm", 0.4 + 0.2 * (phase % 1))
            client.send_message("/vj/noise", 0.02 + 0.02 * rng.random())
            traffic.sent += 4
            if now >= next_prompt:  # a pool of 400 texts: more than the cache holds
                text = " ".join(rng.choice(WORDS) for _ in range(3)) + f" {rng.randrange(20)}"
                client.send_message("/vj/prompt/0", text)
                traffic.prompts += 1
                next_prompt += 0.5
            if now >= next_garbage:
                raw.sendto(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))), ("127.0.0.1", port))
                traffic.malformed += 1
                next_garbage += 1.0
            if now >= next_take:
                recording = not recording
                client.send_message("/vj/record", int(recording))
                traffic.record_toggles += 1
                next_take += take_every_s
            tick += 1
            stop.wait(max(0.0, start + tick / 60 - time.monotonic()))
    except OSError as err:
        traffic.errors.append(str(err))
    finally:
        raw.close()


def check_takes(directory: Path) -> list[tuple[str, int, int]]:
    """(file, decoded frames, timeline lines) for every take the run left."""
    rows = []
    for video in sorted(directory.glob("soak*.mkv")):
        with av.open(str(video)) as container:
            frames = sum(1 for _ in container.decode(video=0))
        timeline = video.with_suffix(".jsonl")
        lines = len(timeline.read_text().splitlines()) if timeline.exists() else -1
        rows.append((video.name, frames, lines))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--size", type=int, default=64, help="frame size in px (tiny model)")
    parser.add_argument("--preset", default="zoom-tunnel")
    parser.add_argument("--interval", type=float, default=60.0, help="seconds per table row")
    parser.add_argument("--take-every", type=float, default=30.0, help="seconds between /vj/record toggles")
    parser.add_argument("--no-traffic", action="store_true",
                        help="send nothing: the same run without control traffic, as a baseline")
    args = parser.parse_args()
    if not Path("/proc/self/status").exists():
        sys.exit("soak.py reads memory from /proc: it runs on Linux only")

    port = free_udp_port()
    with tempfile.TemporaryDirectory(prefix="vj-soak-") as tmp:
        directory = Path(tmp)
        duration_s = args.minutes * 60
        cmd = [sys.executable, "-m", "vj.cli", "run", args.preset, "--model", "tiny", "--width", str(args.size),
               "--height", str(args.size), "--duration", f"{duration_s:g}", "--osc-port", str(port),
               "--no-oscquery", "--record", str(directory / "soak.mkv")]
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=directory)
        assert child.stdout is not None and child.stderr is not None
        latest: dict[str, str] = {}
        stderr_tail: list[str] = []

        def read_stdout() -> None:
            for line in child.stdout:  # type: ignore[union-attr]
                latest["status"] = line.strip()

        def read_stderr() -> None:
            for line in child.stderr:  # type: ignore[union-attr]
                stderr_tail.append(line.rstrip())
                del stderr_tail[:-40]

        for reader in (read_stdout, read_stderr):
            threading.Thread(target=reader, daemon=True).start()
        while "status" not in latest and child.poll() is None:  # model loaded, first status printed
            time.sleep(0.1)
        if child.poll() is not None:
            sys.exit("vj run exited early:\n" + "\n".join(stderr_tail))

        stop, traffic = threading.Event(), Traffic()
        driver = threading.Thread(target=drive, args=(port, stop, args.take_every, traffic), daemon=True)
        if not args.no_traffic:
            driver.start()
        samples: list[Sample] = []
        start = time.monotonic()
        traffic_text = ("no control traffic" if args.no_traffic
                        else f"OSC at 60 Hz, a take toggle every {args.take_every:g} s")
        print(f"soak: `vj run {args.preset} --model tiny` at {args.size} px for {args.minutes:g} min, "
              f"{traffic_text}\n")
        print("| minute | RSS MiB | fps | frame ms | frames | dropped | OSC rx | OSC bad |")
        print("|---|---|---|---|---|---|---|---|")
        next_row = start + args.interval
        while child.poll() is None:
            time.sleep(1.0)
            match = STATUS.match(latest.get("status", ""))
            osc = OSC_STATUS.search(latest.get("status", ""))
            if match is None or child.poll() is not None:
                continue
            try:
                rss = rss_mib(child.pid)
            except (FileNotFoundError, ProcessLookupError):
                break  # exited between poll() and the read
            samples.append(Sample(time.monotonic() - start, rss, float(match["fps"]), float(match["ms"]),
                                  int(match["frames"]), int(match["dropped"]), int(osc["rx"]) if osc else -1,
                                  int(osc["bad"]) if osc else -1))
            if time.monotonic() >= next_row:
                s = samples[-1]
                print(f"| {s.t_s / 60:.1f} | {s.rss_mib:.0f} | {s.fps:.1f} | {s.frame_ms:.1f} | {s.frames} | "
                      f"{s.dropped} | {s.osc_rx} | {s.osc_bad} |", flush=True)
                next_row += args.interval
        stop.set()
        if driver.is_alive():
            driver.join(2)
        code = child.wait()
        takes = check_takes(directory)

    if not samples:
        sys.exit("no status line was read from vj run:\n" + "\n".join(stderr_tail))
    warm = [s for s in samples if s.t_s >= min(60.0, samples[-1].t_s / 4)]  # after compile/caches settle
    first, last = warm[0], warm[-1]
    third = max(1, len(warm) // 3)
    fps_early = statistics.fmean(s.fps for s in warm[:third])
    fps_late = statistics.fmean(s.fps for s in warm[-third:])
    print(f"\nexit code {code}; {traffic.sent} values, {traffic.prompts} prompt changes, {traffic.malformed} "
          f"malformed datagrams, {traffic.record_toggles} record toggles sent")
    print(f"memory after warm-up: {first.rss_mib:.0f} -> {last.rss_mib:.0f} MiB "
          f"({last.rss_mib - first.rss_mib:+.0f} MiB over {(last.t_s - first.t_s) / 60:.1f} min), "
          f"peak {max(s.rss_mib for s in samples):.0f} MiB")
    print(f"fps: first third {fps_early:.1f}, last third {fps_late:.1f}; dropped output frames {last.dropped}")
    print(f"takes: {len(takes)} files; " + ", ".join(f"{n} {f} frames/{t} timeline lines" for n, f, t in takes))
    if traffic.errors:
        print("driver errors: " + "; ".join(traffic.errors))
    if code != 0:
        print("vj run stderr (tail):\n" + "\n".join(stderr_tail))


if __name__ == "__main__":
    main()
