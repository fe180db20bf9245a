"""MIDI input: mido ports (python-rtmidi backend), polled on one named thread, with hot-plug.

Messages: with python-rtmidi (mido's default backend) each port is opened with `callback=`,
which rtmidi calls from its own native thread; the callback only queues the message, and the
`vj-midi` thread applies it, so the mapping runs on one thread and an idle controller costs no
CPU. A backend that does not service callbacks (a custom mido backend, environment.md §10) is
polled with `iter_pending()` every `poll_interval_s` instead; which mode is used is decided by
the backend's name and shown in the log, never switched silently.

Hot-plug: mido and python-rtmidi never report an unplugged device (live-conventions.md §3.3).
Every `watch_interval_s` the thread compares `get_input_names()` with the ports it wants: a
port that vanished is closed, a port that came back is reopened by name, and the show never
stops. MIDI errors are logged (rate limited), counted and never reach the render loop.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import mido

from vj.control._ratelog import RateLimitedLog
from vj.control.midi.mapper import MidiMapper, learned_mapping
from vj.control.midi.mapping_file import MidiMapping, load_mapping, save_mapping
from vj.control.midi.targets import parse_learn_target
from vj.errors import ConfigError, DeviceNotConnected

log = logging.getLogger(__name__)

ALL = "all"
CALLBACK_BACKENDS = ("mido.backends.rtmidi",)  # backends known to call callback= from their own thread


def input_names(backend: mido.Backend | None = None) -> list[str]:
    """Available MIDI inputs; DeviceNotConnected (with the backend's reason) when MIDI is unusable."""
    b = backend or mido
    try:
        return list(b.get_input_names())
    except Exception as err:  # rtmidi raises SystemError without an ALSA sequencer
        raise DeviceNotConnected(f"cannot list MIDI inputs: {err} (no ALSA sequencer / JACK server?)") from err


def select_ports(names: Iterable[str], selector: str) -> list[str]:
    """`all`, or every port whose name contains `selector` (case-insensitive)."""
    names = list(names)
    if selector == ALL:
        return names
    needle = selector.lower()
    return [n for n in names if needle in n.lower()]


@dataclass
class MidiPortCounters:
    opened: int = 0
    reopened: int = 0
    lost: int = 0
    errors: int = 0
    messages: int = 0
    by_port: dict[str, int] = field(default_factory=dict)


class MidiInput:
    """The MIDI control source: `start()`, `close()`, `status()`.

    selector: a name substring or "all". The set of wanted ports is re-evaluated on every
    watch, so a controller plugged in mid-show that matches is picked up too.
    """

    def __init__(self, mapper: MidiMapper, selector: str = ALL, *, backend: mido.Backend | None = None,
                 use_callback: bool | None = None, poll_interval_s: float = 0.002, watch_interval_s: float = 1.5,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.mapper = mapper
        self.selector = selector
        self.backend = backend or mido.backend  # the current backend (rtmidi by default, or MIDO_BACKEND)
        # rtmidi services callback= natively; other backends may not (then we poll)
        self.use_callback = (getattr(self.backend, "name", "") in CALLBACK_BACKENDS
                             if use_callback is None else use_callback)
        self._inbox: queue.SimpleQueue[tuple[str, mido.Message]] = queue.SimpleQueue()
        self.poll_interval_s = poll_interval_s
        self.watch_interval_s = watch_interval_s
        self.counters = MidiPortCounters()
        self._now = now
        self._ports: dict[str, mido.ports.BaseInput] = {}
        self._ever_opened: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ratelog = RateLimitedLog(log, interval_s=5.0)
        self._next_watch = 0.0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.watch()  # open what is there now, on the caller's thread: errors show at start-up
        if not self._ports:
            log.warning("MIDI: no input matches %r yet (have: %s); will keep looking every %.1f s",
                        self.selector, ", ".join(self._safe_names()) or "none", self.watch_interval_s)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="vj-midi", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        for name in list(self._ports):
            self._close_port(name)

    def status(self) -> str:
        ports = len(self._ports)
        text = f"{self.mapper.status()} ports {ports}"
        if self.counters.lost:
            text += f" lost {self.counters.lost} reopened {self.counters.reopened}"
        return text

    @property
    def open_ports(self) -> list[str]:
        return sorted(self._ports)

    # ------------------------------------------------------------------ the thread
    def _loop(self) -> None:
        log.debug("MIDI thread: %s mode", "callback" if self.use_callback else "polling")
        while not self._stop.is_set():
            if self._now() >= self._next_watch:
                self.watch()
            if self.use_callback:
                self._drain_inbox(timeout_s=min(max(self._next_watch - self._now(), 0.0), 0.2))
            elif not self.poll():
                self._stop.wait(self.poll_interval_s)

    def _drain_inbox(self, timeout_s: float) -> int:
        """Apply what the port callbacks queued; blocks up to `timeout_s` for the first message."""
        try:
            name, msg = self._inbox.get(timeout=timeout_s)
        except queue.Empty:
            return 0
        handled = 0
        while True:
            self._dispatch(name, msg)
            handled += 1
            try:
                name, msg = self._inbox.get_nowait()
            except queue.Empty:
                return handled

    def _dispatch(self, name: str, msg: mido.Message) -> None:
        self.mapper.handle(msg)
        self.counters.messages += 1
        self.counters.by_port[name] = self.counters.by_port.get(name, 0) + 1

    def poll(self) -> int:
        """Drain every open port once; returns how many messages were handled."""
        handled = 0
        for name, port in list(self._ports.items()):
            try:
                for msg in port.iter_pending():
                    self._dispatch(name, msg)
                    handled += 1
            except Exception as err:  # a dying port: drop it, the watcher reopens it when it is back
                self.counters.errors += 1
                self._ratelog.warning(name, "MIDI port %r failed (%s); will reopen when it is back", name, err)
                self._close_port(name)
        return handled

    def watch(self) -> None:
        """Reconcile open ports with the ports present (hot-plug)."""
        self._next_watch = self._now() + self.watch_interval_s
        try:
            present = input_names(self.backend)
        except DeviceNotConnected as err:
            self.counters.errors += 1
            self._ratelog.warning("<list>", "MIDI: %s", err)
            return
        wanted = set(select_ports(present, self.selector))
        for name in list(self._ports):
            if name not in present:
                # Close before counting: whoever sees the counter must also see the port gone.
                self._close_port(name)
                self.counters.lost += 1
                log.warning("MIDI input %r disappeared; will reopen it when it comes back", name)
        for name in sorted(wanted - set(self._ports)):
            self._open_port(name)

    def _safe_names(self) -> list[str]:
        try:
            return input_names(self.backend)
        except DeviceNotConnected:
            return []

    def _open_port(self, name: str) -> None:
        try:
            if self.use_callback:
                port = self.backend.open_input(name, callback=lambda msg, n=name: self._inbox.put((n, msg)))
            else:
                port = self.backend.open_input(name)
        except Exception as err:
            self.counters.errors += 1
            self._ratelog.warning(name, "MIDI: cannot open %r: %s", name, err)
            return
        self._ports[name] = port
        if name in self._ever_opened:
            self.counters.reopened += 1
            log.info("MIDI input %r is back", name)
        else:
            self.counters.opened += 1
            self._ever_opened.add(name)
            log.info("MIDI input %r opened (mapping %s)", name, self.mapper.mapping.name)

    def _close_port(self, name: str) -> None:
        port = self._ports.pop(name, None)
        if port is None:
            return
        try:
            port.close()
        except Exception as err:  # closing a vanished device may fail; it is gone either way
            log.debug("closing MIDI port %r: %s", name, err)


def wait_for_control(ports: list[mido.ports.BaseInput], stop: threading.Event | None = None,
                     timeout_s: float | None = None, poll_s: float = 0.005) -> mido.Message | None:
    """The next CC, note-on or program change from any port (MIDI learn); clock and note-offs skipped."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while stop is None or not stop.is_set():
        for port in ports:
            for msg in port.iter_pending():
                if msg.type == "control_change" or msg.type == "program_change" or (
                        msg.type == "note_on" and msg.velocity > 0):
                    return msg
        if deadline is not None and time.monotonic() > deadline:
            return None
        time.sleep(poll_s)
    return None


def describe(msg: mido.Message) -> str:
    """Human text for a learned control: 'CC 16 on channel 1 (value 64)'."""
    if msg.type == "control_change":
        return f"CC {msg.control} on channel {msg.channel + 1} (value {msg.value})"
    if msg.type == "note_on":
        return f"note {msg.note} on channel {msg.channel + 1}"
    if msg.type == "program_change":
        return f"program change {msg.program} on channel {msg.channel + 1}"
    return str(msg)


def learn_session(mapping_path: str, selector: str, choose: Callable[[mido.Message], str | None], *,
                  backend: mido.Backend | None = None, stop: threading.Event | None = None,
                  timeout_s: float | None = None, max_controls: int | None = None,
                  announce: Callable[[str], None] = log.info) -> int:
    """`vj midi-learn`: move a control, pick a target, and the mapping file is (re)written each time.

    `choose(msg)` returns the target for the control just moved ('' or None to skip, 'quit'
    to finish). An existing file is extended, so learning can continue another day.
    Returns how many controls were learned.
    """
    b = backend or mido.backend
    names = select_ports(input_names(b), selector)
    if not names:
        raise DeviceNotConnected(f"no MIDI input matches {selector!r} (have: {', '.join(input_names(b)) or 'none'})")
    path = Path(mapping_path)
    mapping = load_mapping(path) if path.is_file() else MidiMapping(name=path.stem, port=names[0], source=str(path))
    ports = [b.open_input(n) for n in names]
    learned = 0
    try:
        announce(f"listening on {', '.join(names)}; move a control (Ctrl-C to stop)")
        while max_controls is None or learned < max_controls:
            msg = wait_for_control(ports, stop, timeout_s)
            if msg is None:
                break
            if msg.type == "program_change":
                announce(f"{describe(msg)}: program changes switch presets; nothing to learn")
                continue
            target = choose(msg)
            if target == "quit":
                break
            if not target:
                continue
            parsed = parse_learn_target(target)
            if parsed is None:
                raise ConfigError(str(path), "target", "a parameter name, prompt/<i>/weight, "
                                  "lfo/<param>/depth|rate or an action", target)
            updated = learned_mapping(mapping, msg, parsed)
            if updated is None:
                continue
            mapping = updated
            save_mapping(mapping, path)
            learned += 1
            announce(f"{describe(msg)} -> {target} (saved {path})")
            for port in ports:  # drop the rest of that gesture so it is not learned twice
                for _ in port.iter_pending():
                    pass
    finally:
        for port in ports:
            port.close()
    return learned
