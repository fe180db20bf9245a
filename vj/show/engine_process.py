"""One engine of a show: a `vj run` child process, its ports, its status lines and its restarts.

The child is the ordinary `vj run` (`python -m vj.cli run ...`), so an engine of a show
behaves as one played alone; this module only builds its command line, reads what it prints
(the once-a-second status line carries its frame count) and starts it again when it dies.
Its ports stay the same across restarts, so the show's fan-out and page keep reaching it.
A remote engine (another host's `vj run`) has no process here: it is played, not started.
"""

from __future__ import annotations

import logging
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from vj.show.showfile import EngineEntry, ShowFile

log = logging.getLogger(__name__)

FRAMES = re.compile(r"\bframes (\d+)\b")
FPS = re.compile(r"^\s*([\d.]+) fps\b")
STOP_TIMEOUT_S = 30.0  # a stopping engine finishes its take in this long, or is killed
TAIL_LINES = 40


class EngineState(StrEnum):
    STARTING = "starting"  # started, not rendering yet
    PLAYING = "playing"
    RESTARTING = "restarting"  # died; a new process is on its way
    RESTORING = "restoring"  # restarted and rendering; its last state is being sent back
    STOPPED = "stopped"
    REMOTE = "remote"  # another machine's engine: played over the network, not started here


@dataclass(frozen=True)
class EnginePorts:
    osc: int
    oscquery: int
    web: int


def take_path(record: Path, run: int) -> Path:
    """The take of the engine's `run`-th process: the file named, then `NAME-restart1.mkv`, ... after a restart."""
    return record if run == 0 else record.with_name(f"{record.stem}-restart{run}{record.suffix}")


class EngineProcess:
    """A local engine (a child `vj run`) or a remote one; `start`, `poll_died`, `restart`, `stop`."""

    def __init__(self, entry: EngineEntry, show: ShowFile, ports: EnginePorts) -> None:
        self.entry = entry
        self.show = show
        self.ports = ports
        self.host = entry.host
        self.state = EngineState.REMOTE if entry.remote else EngineState.STOPPED
        self.runs = 0  # processes started so far
        self.restarts = 0
        self.frames = 0  # of the current process, from its status line
        self.fps = 0.0
        self.last_exit: int | None = None
        self.note = ""  # what the page shows beside the state (why it restarted)
        self.status = ""  # the process's last status line
        self.kill_reason = ""  # why the show killed the process, when it did
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.started_at = 0.0
        self.frames_seen_at = 0.0
        self._proc: subprocess.Popen[str] | None = None
        self._terminated: subprocess.Popen[str] | None = None  # the process sent SIGTERM already
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()
        self.cwd = Path.cwd()  # where relative take paths land, as for `vj run` started here

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def takes(self) -> list[Path]:
        """The take files of every process so far, first to last."""
        if self.entry.record is None:
            return []
        return [self.cwd / take_path(self.entry.record, run) for run in range(self.runs)]

    def page_url(self) -> str:
        return f"http://{self.host}:{self.ports.web}/"

    def command(self) -> list[str]:
        """The `vj run` command line of the next process."""
        e, show = self.entry, self.show
        assert e.preset is not None, "a remote engine is not started here"
        cmd = [sys.executable, "-m", "vj.cli", "run", e.preset, "--osc-port", str(self.ports.osc),
               "--oscquery-port", str(self.ports.oscquery), "--web-port", str(self.ports.web), "--no-zeroconf"]
        for flag, value in (("--device", e.device), ("--model", e.model), ("--width", e.width),
                            ("--height", e.height), ("--fps", e.fps), ("--steps", e.steps), ("--seed", e.seed),
                            ("--target-fps", e.target_fps), ("--bpm", show.bpm), ("--output-fps", e.output_fps),
                            ("--output-rate-mode", e.output_rate_mode)):
            if value is not None:
                cmd += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
        if e.output_size is not None:
            cmd += ["--output-size", f"{e.output_size[0]}x{e.output_size[1]}"]
        if show.link:
            cmd.append("--link")
        midi_map = e.midi_map or show.midi_map
        if e.midi and show.midi:
            cmd += ["--midi", show.midi] + (["--midi-map", midi_map] if midi_map else [])
        if e.ndi_source is not None:
            cmd += ["--ndi", "--ndi-name", e.ndi_source]
        if e.record is not None:
            cmd += ["--record", str(take_path(e.record, self.runs))]
        if e.vcam:
            cmd += ["--vcam"] + (["--vcam-device", e.vcam_device] if e.vcam_device else [])
        if e.spout:
            cmd += ["--spout", e.spout]
        if e.syphon:
            cmd += ["--syphon", e.syphon]
        return cmd

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self.entry.remote:
            return
        cmd = self.command()
        log.info("engine %s: %s", self.name, " ".join(cmd[1:]))
        proc = subprocess.Popen(cmd, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1, errors="replace")
        with self._lock:
            self._proc = proc
            self.runs += 1
            self.frames, self.fps = 0, 0.0
            self.started_at = time.monotonic()
            self.frames_seen_at = 0.0
            if self.state is not EngineState.RESTARTING:
                self.state = EngineState.STARTING
        self._reader = threading.Thread(target=self._read, args=(proc,), name=f"vj-show-{self.name}", daemon=True)
        self._reader.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        """Drain the child's output (a full pipe would stall it), keeping its tail and its frame count."""
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            self.tail.append(line)
            frames = FRAMES.search(line)
            fps = FPS.match(line)
            if frames and fps:
                with self._lock:
                    if proc is self._proc:
                        self.frames, self.fps = int(frames.group(1)), float(fps.group(1))
                        self.status = line
                        self.frames_seen_at = time.monotonic()
            elif line.startswith("vj: error") or " ERROR " in line or "Traceback" in line:
                log.warning("engine %s: %s", self.name, line)

    def poll_died(self) -> int | None:
        """The exit status if the process ended since the last look (then the state says so), else None."""
        with self._lock:
            proc = self._proc
            if proc is None or self.state in (EngineState.STOPPED, EngineState.REMOTE):
                return None
            code = proc.poll()
            if code is None:
                return None
            self._proc = None
            self.last_exit = code
        return code

    def mark_dead(self, code: int) -> None:
        why = f"signal {signal.Signals(-code).name}" if code < 0 and -code in signal.valid_signals() else f"exit {code}"
        if self.kill_reason:
            why, self.kill_reason = f"{self.kill_reason}, {why}", ""
        self.state = EngineState.RESTARTING
        self.note = f"died ({why}) at {time.strftime('%H:%M:%S')}; restarting with its last state"
        log.warning("engine %s died (%s); restarting it with its last state, the others play on", self.name, why)
        last = [line for line in self.tail if line.strip()][-3:]
        for line in last:
            log.warning("engine %s (last output): %s", self.name, line)

    def stopped_cleanly(self) -> None:
        self.state = EngineState.STOPPED
        self.note = f"stopped (exit 0) at {time.strftime('%H:%M:%S')}: a clean stop is not restarted"
        log.warning("engine %s %s", self.name, self.note)

    def refused(self) -> None:
        """`vj run` refused to start (its one `vj: error:` line): stopped, with that line as the note."""
        self.state = EngineState.STOPPED
        error = next((line for line in reversed(self.tail) if line.startswith("vj: error:")), "")
        self.note = f"refused to start: {error[len('vj: error: '):] or f'exit {self.last_exit}'}"
        log.error("engine %s %s", self.name, self.note)

    def restart(self) -> None:
        self.restarts += 1
        self.start()

    def hung_for(self, seconds: float) -> bool:
        """Whether the process rendered once and has printed no status line for `seconds` since."""
        with self._lock:
            seen = self.frames_seen_at
            return (self._proc is not None and seen > 0.0 and self.state is EngineState.PLAYING
                    and time.monotonic() - seen > seconds)

    def kill(self, reason: str) -> None:
        """SIGKILL; `reason` goes into the note of its death."""
        self.kill_reason = reason
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()

    def signal(self, signum: int) -> None:
        """Send a signal to the child (a test kills an engine this way)."""
        proc = self._proc
        if proc is not None:
            proc.send_signal(signum)

    def signal_stop(self) -> None:
        """SIGTERM without waiting (the show stops all engines at once, then waits on each)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            self._terminated = proc

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM (the child finishes its take, as `vj run` does on any stop signal), then kill after `timeout_s`."""
        with self._lock:
            proc, self._proc = self._proc, None
            if self.state is not EngineState.REMOTE:
                self.state = EngineState.STOPPED
        if proc is None:
            return None
        if proc.poll() is None:
            if self._terminated is not proc:  # a second SIGTERM could land after vj run has put back the default
                proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("engine %s did not stop within %g s: killed", self.name, timeout_s)
                proc.kill()
                proc.wait(5.0)
        if self._reader is not None:
            self._reader.join(5.0)
        return proc.returncode
