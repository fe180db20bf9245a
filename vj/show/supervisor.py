"""`Show`: the engines of a show file, started, watched and restarted, behind one control surface.

One watcher thread looks at every engine once per `poll_s`: an engine that died is started
again (the same ports, a new take file) after a back-off that grows while it keeps dying at
once; a playing engine's OSCQuery tree is read and kept as its last state (and as its part of
the show's tree); a restarted engine, once it renders again, gets its last state back in one
OSC bundle. The other engines are separate processes and never wait on any of this.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vj.show.engine_process import EnginePorts, EngineProcess, EngineState
from vj.show.engine_state import changed_values, fetch_tree, live_values, restore_bundle, same_value
from vj.show.fanout import OscFanOut, Target
from vj.show.showfile import ShowFile, show_ports

log = logging.getLogger(__name__)

EXIT_USAGE = 2  # what `vj run` exits with after one `vj: error:` line
HUNG_S = 20.0  # a playing engine prints a status line every second; none for this long: its process hangs
QUICK_DEATH_S = 20.0  # a process that dies sooner than this after starting backs off before the next try
MAX_BACKOFF_S = 30.0
RESTORE_CHECK_S = 3.0  # a restore not read back this long after it was sent is sent again ...
RESTORE_TRIES = 3  # ... this many times in all (a datagram lost while the new process was starting)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def engine_ports_for(show: ShowFile) -> dict[str, EnginePorts]:
    """Each engine's ports: the file's, else free ones now (kept for the whole show, across restarts)."""
    ports = {}
    for e in show.engines:
        osc = e.osc_port or free_port(socket.SOCK_DGRAM)
        oscquery = e.oscquery_port or (osc + 1 if e.osc_port else free_port())
        web = e.web_port or (osc + 2 if e.osc_port else free_port())
        ports[e.name] = EnginePorts(osc, oscquery, web)
    return ports


@dataclass(frozen=True, slots=True)
class _Restore:
    """A restarted engine's last state as sent back to it, checked against what its tree reads back."""

    values: dict[str, list[Any]]
    sent_at: float
    tries: int = 1


class Show:
    """`start()`, `stop()`, `status_line()`; `engines` by name; `trees` and `saved` by engine name."""

    def __init__(self, show: ShowFile, *, poll_s: float = 1.0,
                 ports: Callable[[ShowFile], dict[str, EnginePorts]] = engine_ports_for) -> None:
        self.show = show
        self.poll_s = poll_s
        by_name = ports(show)
        self.engines = {e.name: EngineProcess(e, show, by_name[e.name]) for e in show.engines}
        self.trees: dict[str, dict[str, Any]] = {}  # the last tree each engine answered
        self.saved: dict[str, dict[str, list[Any]]] = {}  # each engine's last live values (put back on restart)
        self.reachable: dict[str, bool] = {name: False for name in self.engines}
        self._next_start: dict[str, float] = {}
        self._backoff: dict[str, float] = {}
        self._restoring: dict[str, _Restore] = {}  # restores sent, not yet read back from the engine
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        own = show_ports(show)
        self.fanout = OscFanOut(self.targets, host=show.osc_host, port=own["osc_port"])
        self.controls: list[Any] = []  # the tree server and the page (start, close, status)

    def targets(self) -> dict[str, Target]:
        return {name: (e.host, e.ports.osc) for name, e in self.engines.items()}

    def send(self, engine: str, payload: bytes) -> None:
        """An OSC datagram to one engine (by its own address space, /vj/...)."""
        e = self.engines[engine]
        self.fanout.send((e.host, e.ports.osc), payload)

    def start(self) -> None:
        """The control surface first (a port already taken ends the show before any engine starts), then every
        engine and the watcher."""
        self.fanout.start()
        started: list[Any] = []
        try:
            for control in self.controls:
                control.start()
                started.append(control)
        except BaseException:
            for control in reversed(started):
                control.close()
            self.fanout.close()
            raise
        for engine in self.engines.values():
            engine.start()
        self._watcher = threading.Thread(target=self._watch, name="vj-show-watch", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            for engine in self.engines.values():
                try:
                    self._look_at(engine)
                except Exception:  # one engine's trouble never ends the watch over the others
                    log.exception("show: watching engine %s failed", engine.name)

    def _look_at(self, engine: EngineProcess) -> None:
        code = engine.poll_died()
        if code is not None and not self._stop.is_set():
            if code == 0:  # a clean stop (SIGTERM or Ctrl-C sent to it, its take finished) was meant: not a crash
                engine.stopped_cleanly()
                return
            if code == EXIT_USAGE and engine.frames == 0 and engine.state is EngineState.STARTING:
                # `vj run` refused its command line or preset before rendering: a restart would refuse it again
                engine.refused()
                return
            engine.mark_dead(code)
            if not self.show.restart:
                engine.state = EngineState.STOPPED
                engine.note = engine.note.replace("restarting with its last state", "not restarted (restart = false)")
                return
            quick = time.monotonic() - engine.started_at < QUICK_DEATH_S
            backoff = min(MAX_BACKOFF_S, self._backoff.get(engine.name, 0.5) * 2) if quick else 0.0
            self._backoff[engine.name] = backoff or 0.5
            self._next_start[engine.name] = time.monotonic() + backoff
        if engine.name in self._next_start:
            if time.monotonic() >= self._next_start[engine.name] and not self._stop.is_set():
                del self._next_start[engine.name]
                engine.restart()
            return
        if engine.state is EngineState.STOPPED:
            return
        if engine.hung_for(HUNG_S):
            log.warning("engine %s printed no status for %g s: killing it to restart it", engine.name, HUNG_S)
            engine.kill(f"hung: no status for {HUNG_S:g} s")
            return  # the next look finds it dead and restarts it
        self._read_tree(engine)

    def _read_tree(self, engine: EngineProcess) -> None:
        try:
            tree = fetch_tree(engine.host, engine.ports.oscquery)
        except (OSError, ValueError):
            self.reachable[engine.name] = False
            return
        self.reachable[engine.name] = True
        self.trees[engine.name] = tree
        values = live_values(tree, with_tempo=not self.show.link)
        rendering = engine.frames > 0
        if engine.state is EngineState.STARTING and rendering:
            engine.state = EngineState.PLAYING
        elif engine.state is EngineState.RESTARTING and rendering:
            engine.state = EngineState.RESTORING
            self._restore(engine, values)
            return
        if engine.state is EngineState.PLAYING and engine.name in self._restoring and \
                not self._restore_landed(engine, values):
            return  # its saved state is what is being put back: not overwritten by what has not landed yet
        if engine.state in (EngineState.PLAYING, EngineState.REMOTE):
            self.saved[engine.name] = values

    def _restore(self, engine: EngineProcess, now: dict[str, list[Any]]) -> None:
        changed = changed_values(self.saved.get(engine.name, {}), now)
        if changed:
            self.send(engine.name, restore_bundle(changed))
            self._restoring[engine.name] = _Restore(changed, time.monotonic())
        engine.state = EngineState.PLAYING
        engine.note = (f"restarted at {time.strftime('%H:%M:%S')} (restart {engine.restarts}) with its last state: "
                       f"{len(changed)} value{'s' if len(changed) != 1 else ''} put back")
        log.info("engine %s: %s", engine.name, engine.note)

    def _restore_landed(self, engine: EngineProcess, now: dict[str, list[Any]]) -> bool:
        """Whether the engine reads back what was put back; if not yet, the restore is sent again after a while."""
        restore = self._restoring[engine.name]
        missing = {path: value for path, value in restore.values.items()
                   if path in now and not same_value(now[path], value)}
        if not missing:
            del self._restoring[engine.name]
            return True
        if time.monotonic() - restore.sent_at < RESTORE_CHECK_S:
            return False
        if restore.tries >= RESTORE_TRIES:
            del self._restoring[engine.name]
            log.warning("engine %s: %d value(s) did not come back after %d tries: %s", engine.name, len(missing),
                        restore.tries, ", ".join(sorted(missing))[:200])
            engine.note += f"; {len(missing)} value{'s' if len(missing) != 1 else ''} did not come back"
            return True
        log.info("engine %s: the restore is not read back yet; sending it again", engine.name)
        self.send(engine.name, restore_bundle(missing))
        self._restoring[engine.name] = _Restore(restore.values, time.monotonic(), restore.tries + 1)
        return False

    def stop(self) -> dict[str, int | None]:
        """Stop watching, then every engine (each finishes its take); the exit status of each."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(10.0)
        codes = {}
        for engine in self.engines.values():  # SIGTERM to all first: they finish their takes side by side
            engine.signal_stop()
        for name, engine in self.engines.items():
            codes[name] = engine.stop()
        for control in self.controls:
            control.close()
        self.fanout.close()
        return codes

    def status_line(self) -> str:
        parts = []
        for name, e in self.engines.items():
            if e.state is EngineState.REMOTE:
                parts.append(f"{name} remote {'up' if self.reachable[name] else 'unreachable'}")
            else:
                restarts = f" restarts {e.restarts}" if e.restarts else ""
                parts.append(f"{name} {e.state.value} {e.fps:.1f} fps frames {e.frames}{restarts}")
        return " | ".join(parts + [self.fanout.status()] + [c.status() for c in self.controls])
