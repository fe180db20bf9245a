"""OSC input: python-osc's blocking UDP server on its own thread, writing into the ParamStore.

Why a blocking server: the threading server spawns a thread per datagram and drops most of
a burst (environment.md §11); one blocking thread drains the socket in order and keeps up.

Why our own datagram path instead of python-osc's dispatcher: the dispatcher and server drop
malformed datagrams silently, and a performer needs to see that a patch is sending garbage.
We parse each datagram with python-osc's `OscMessage`, walk bundles ourselves (so a whole
bundle becomes one atomic `ParamStore.set_many`), and count every rejection by reason.

Address map (also `vj osc-map`, README "Live control"):

    /vj/<param> <number|int|string>   value in the parameter's own units (choices: name or index)
    /vj/<param>/norm <float 0..1>      mapped onto the parameter's range
    /vj/prompt/<i> <string>            prompt text of slot i (0..7)
    /vj/prompt/<i>/weight <float>      blend weight of slot i
    /vj/negative <string>              negative prompt
    /vj/seed <int>                     base seed
    /vj/preset <name|int>              switch preset (applied at a frame boundary)
    /vj/release <param|prompt|all>     hand a parameter back to its schedule / preset value
    /vj/record <1|0>                   start / stop recording
    /vj/tap                            tap tempo
    /vj/bpm <float>                    set the tempo
    /vj/quantise <off|beat|bar|2bars|4bars>   where prompt / preset / seed changes land
    /vj/lfo/<param> <shape> <rate_beats> <depth> [offset]   attach an LFO ("off" removes it)
    /vj/lfo/<param>/depth <float>, /vj/lfo/<param>/rate <float>
    /vj/learn <param>                  MIDI-learn: the next control moved is mapped to <param>
"""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from pythonosc import osc_message
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_server import BlockingOSCUDPServer
from pythonosc.parsing import osc_types

from vj.control._ratelog import RateLimitedLog
from vj.control.modulators import ModulatorBank, parse_lfo
from vj.control.tempo import Quantise, Quantiser, TempoClock
from vj.errors import DeviceNotConnected, ParamRejected
from vj.prompt_mix import MAX_PROMPT_CHARS, MAX_PROMPT_WEIGHT, MAX_PROMPTS
from vj.registry import REGISTRY, ParamSpec
from vj.store import ParamStore

log = logging.getLogger(__name__)

PREFIX = "/vj/"
DEFAULT_PORT = 9000
DEFAULT_HOST = "127.0.0.1"
MAX_DATAGRAM = 65_507
RECEIVE_BUFFER_BYTES = 8 * 1024 * 1024
MAX_BUNDLE_DEPTH = 8
MAX_FUTURE_TIMETAG_S = 60.0
# Type tags python-osc parses; anything else would be logged per message by python-osc and skipped.
_KNOWN_TAGS = set("ihfdsbrmtTFN[]")
_BUNDLE_PREFIX = b"#bundle\x00"
_NTP_IMMEDIATELY = 0  # what osc_types.get_date returns for timetag 1

# Rejection reasons (counter keys). Store-side reasons (out_of_range, not_finite, unknown_choice,
# oversized) come from ParamSpec.validate and ParamStore.
MALFORMED = "malformed"
UNKNOWN_ADDRESS = "unknown_address"
WRONG_COUNT = "wrong_count"
WRONG_TYPE = "wrong_type"
NOT_FINITE = "not_finite"
OUT_OF_RANGE = "out_of_range"
OVERSIZED = "oversized"
UNAVAILABLE = "unavailable"  # e.g. /vj/record with no recorder attached
ACTION_FAILED = "action_failed"  # the session's preset switch / recorder raised


@dataclass(frozen=True, slots=True)
class OscAddress:
    address: str
    args: str
    description: str


def address_map(registry: Mapping[str, ParamSpec] = REGISTRY) -> list[OscAddress]:
    """Every address the server answers, for `vj osc-map`, the README and OSCQuery."""
    rows: list[OscAddress] = []
    for spec in registry.values():
        if spec.numeric:
            kind = "int" if spec.kind.value == "int" else "float"
            rng = f"{spec.minimum:g}..{spec.maximum:g}"
            rows.append(OscAddress(f"{PREFIX}{spec.name}", f"<{kind} {rng}>",
                                   f"{spec.description} [{spec.unit}]" if spec.unit else spec.description))
        else:
            rows.append(OscAddress(f"{PREFIX}{spec.name}", f"<{'|'.join(spec.choices)}|index>", spec.description))
        rows.append(OscAddress(f"{PREFIX}{spec.name}/norm", "<float 0..1>", f"{spec.name} mapped onto its range"))
    rows += [
        OscAddress(f"{PREFIX}prompt/<i>", f"<string ≤{MAX_PROMPT_CHARS} chars>",
                   f"prompt text of slot i (0..{MAX_PROMPTS - 1})"),
        OscAddress(f"{PREFIX}prompt/<i>/weight", f"<float 0..{MAX_PROMPT_WEIGHT:g}>", "blend weight of prompt slot i"),
        OscAddress(f"{PREFIX}negative", "<string>", "negative prompt"),
        OscAddress(f"{PREFIX}preset", "<name|int>", "switch preset at the next frame boundary (quantisable)"),
        OscAddress(f"{PREFIX}release", "<param|prompt|all>", "hand a parameter back to its schedule or preset"),
        OscAddress(f"{PREFIX}record", "<1|0>", "start or stop recording"),
        OscAddress(f"{PREFIX}tap", "", "tap tempo"),
        OscAddress(f"{PREFIX}bpm", "<float 20..300>", "set the tempo"),
        OscAddress(f"{PREFIX}quantise", "<off|beat|bar|2bars|4bars>", "where prompt, preset and seed changes land"),
        OscAddress(f"{PREFIX}lfo/<param>", "<shape> <rate_beats> <depth> [offset] | off",
                   "attach an LFO (sine, triangle, square, saw, random_smooth) to a numeric parameter"),
        OscAddress(f"{PREFIX}lfo/<param>/depth", "<float>", "LFO depth in the parameter's units"),
        OscAddress(f"{PREFIX}lfo/<param>/rate", "<float>", "LFO rate in beats per cycle"),
        OscAddress(f"{PREFIX}learn", "<param|prompt/<i>/weight|off>",
                   "MIDI learn: map the next control moved to this target"),
    ]
    return rows


@dataclass
class OscActions:
    """What OSC may do besides writing parameters; a missing action answers 'unavailable'.

    preset(name) -> bool switches preset (the session applies it at a frame boundary);
    record(on) starts or stops the recorder; learn(target) arms MIDI learn (False if refused).
    """

    preset: Callable[[str], object] | None = None
    record: Callable[[bool], object] | None = None
    learn: Callable[[str], bool] | None = None
    tempo: TempoClock | None = None
    modulators: ModulatorBank | None = None
    quantiser: Quantiser | None = None


@dataclass
class OscCounters:
    """Every message ends in exactly one of applied / unchanged / commands / rejected (not malformed)."""

    datagrams: int = 0
    handled: int = 0  # datagrams whose writes, logs and listeners are all done (readers wait on it)
    bundles: int = 0
    messages: int = 0
    applied: int = 0
    unchanged: int = 0
    commands: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    def rejected_total(self) -> int:
        return sum(self.rejected.values())


class _Reject(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class _Malformed(Exception):
    pass


class OscControl:
    """The OSC control source: `start()`, `close()`, `status()`; `handle_datagram()` for tests.

    Handlers run on the server thread and only validate and write targets (or call the
    injected actions), so a burst costs microseconds per message.
    """

    def __init__(self, store: ParamStore, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 actions: OscActions | None = None, now: Callable[[], float] = time.time) -> None:
        self.store = store
        self.host = host
        self.port = port
        self.actions = actions or OscActions()
        self.counters = OscCounters()
        self._now = now  # wall clock: OSC timetags are absolute NTP times
        self._lock = threading.Lock()
        self._ratelog = RateLimitedLog(log)
        self._server: BlockingOSCUDPServer | None = None
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[str, object], None]] = []
        self.receive_buffer_bytes = 0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        control = self

        class _Server(BlockingOSCUDPServer):
            def verify_request(self, request, client_address):  # type: ignore[no-untyped-def]
                return True  # let malformed datagrams through so they are counted, not dropped silently

            def finish_request(self, request, client_address):  # type: ignore[no-untyped-def]
                control.handle_datagram(request[0])

        try:
            self._server = _Server((self.host, self.port), Dispatcher())
        except OSError as err:
            raise DeviceNotConnected(f"OSC: cannot listen on udp://{self.host}:{self.port}: {err} "
                                     "(is another program using the port? choose one with --osc-port)") from err
        self._grow_receive_buffer(self._server.socket)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._serve, name="vj-osc", daemon=True)
        self._thread.start()
        log.info("OSC listening on udp://%s:%d (address map: vj osc-map)", self.host, self.port)

    def _grow_receive_buffer(self, sock: socket.socket) -> None:
        """A bigger kernel buffer absorbs bursts (a preset dump, a TouchDesigner cook of 500 channels)
        while this one thread drains it; the kernel caps the request at net.core.rmem_max."""
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
            self.receive_buffer_bytes = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        except OSError as err:
            log.warning("OSC: could not enlarge the UDP receive buffer (%s); bursts may drop", err)
        if self.receive_buffer_bytes < RECEIVE_BUFFER_BYTES:
            log.info("OSC receive buffer is %d bytes (asked %d; raise net.core.rmem_max for bigger bursts)",
                     self.receive_buffer_bytes, RECEIVE_BUFFER_BYTES)

    def _serve(self) -> None:
        assert self._server is not None
        try:
            self._server.serve_forever(poll_interval=0.05)
        except Exception:  # the socket died under us; say so rather than vanish
            log.exception("OSC server stopped")

    def close(self, timeout_s: float = 2.0) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._server = None

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def status(self) -> str:
        c = self.counters
        bad = ", ".join(f"{k} {v}" for k, v in sorted(c.rejected.items()))
        return f"osc :{self.port} rx {c.messages} bad {c.rejected_total()}" + (f" ({bad})" if bad else "")

    def add_listener(self, fn: Callable[[str, object], None]) -> None:
        """Called with (address, value) after each applied write (OSCQuery LISTEN, feedback)."""
        self._listeners.append(fn)

    # ------------------------------------------------------------------ datagrams
    def handle_datagram(self, data: bytes) -> None:
        """Parse one UDP datagram and apply it; never raises."""
        with self._lock:  # one datagram at a time, so counters add up even if called from tests
            self.counters.datagrams += 1
            try:
                self._handle_locked(data)
            finally:
                self.counters.handled += 1

    def _handle_locked(self, data: bytes) -> None:
        try:
            if len(data) > MAX_DATAGRAM:
                raise _Malformed(f"datagram of {len(data)} bytes")
            if data.startswith(_BUNDLE_PREFIX):
                timetag, messages = self._parse_bundle(data, 0)
                self.counters.bundles += 1
            else:
                timetag, messages = _NTP_IMMEDIATELY, [self._parse_message(data)]
        except _Malformed as err:
            self._reject("<datagram>", MALFORMED, str(err))
            return
        except Exception as err:  # any parser surprise is malformed input, not a crash
            self._reject("<datagram>", MALFORMED, f"{type(err).__name__}: {err}")
            return
        delay_s = self._delay_of(timetag)
        if delay_s is None:
            self.counters.messages += len(messages)
            for msg in messages:
                self._reject(msg.address, OUT_OF_RANGE,
                             f"bundle timetag more than {MAX_FUTURE_TIMETAG_S:g} s ahead")
            return
        if delay_s > 0 and self.actions.quantiser is not None:
            quantiser = self.actions.quantiser
            quantiser.submit_at(quantiser.tempo.now() + delay_s, lambda: self._apply_locked(messages))
            return
        self._apply(messages)

    def _apply_locked(self, messages: list[osc_message.OscMessage]) -> None:
        with self._lock:
            self._apply(messages)

    def _delay_of(self, timetag: float) -> float | None:
        """Seconds until a bundle's timetag (0 = now); None if absurdly far ahead."""
        if timetag == _NTP_IMMEDIATELY:
            return 0.0
        delay = timetag - self._now()
        if delay > MAX_FUTURE_TIMETAG_S:
            return None
        return max(0.0, delay)

    def _parse_message(self, data: bytes) -> osc_message.OscMessage:
        if not data.startswith(b"/"):
            raise _Malformed("not an OSC message or bundle")
        if len(data) % 4:  # OSC packets are 4-byte aligned; python-osc would zero-pad a cut-off number
            raise _Malformed(f"length {len(data)} is not a multiple of 4")
        try:
            _, index = osc_types.get_string(data, 0)
            if data[index:]:
                tags, _ = osc_types.get_string(data, index)
                if not tags.startswith(",") or set(tags[1:]) - _KNOWN_TAGS:
                    raise _Malformed(f"bad type tag string {tags!r}")
            return osc_message.OscMessage(data)
        except (osc_types.ParseError, osc_message.ParseError) as err:
            raise _Malformed(str(err)) from None

    def _parse_bundle(self, data: bytes, depth: int) -> tuple[float, list[osc_message.OscMessage]]:
        if depth >= MAX_BUNDLE_DEPTH:
            raise _Malformed("bundles nested too deep")
        try:
            timetag, index = osc_types.get_date(data, len(_BUNDLE_PREFIX))
        except osc_types.ParseError as err:
            raise _Malformed(f"bundle timetag: {err}") from None
        messages: list[osc_message.OscMessage] = []
        while index < len(data):
            try:
                size, index = osc_types.get_int(data, index)
            except osc_types.ParseError as err:
                raise _Malformed(f"bundle element size: {err}") from None
            if size <= 0 or size % 4 or index + size > len(data):
                raise _Malformed(f"bundle element size {size} does not fit the datagram")
            element = data[index:index + size]
            index += size
            if element.startswith(_BUNDLE_PREFIX):
                # Nested bundles apply with the outer one: one atomic unit per datagram.
                messages += self._parse_bundle(element, depth + 1)[1]
            else:
                messages.append(self._parse_message(element))
        return timetag, messages

    # ------------------------------------------------------------------ routing
    def _apply(self, messages: list[osc_message.OscMessage]) -> None:
        """Route every message; the datagram's store writes (parameter values in one `set_many`,
        prompt texts, weights and the negative) then land together inside one `store.batch()`."""
        values: dict[str, object] = {}
        self._deferred: list[Callable[[], object]] = []
        for msg in messages:
            self.counters.messages += 1
            try:
                self._route(msg.address, list(msg.params), values)
            except _Reject as err:
                self._reject(msg.address, err.reason, err.detail)
            except Exception as err:  # an injected action (preset switch, recorder) failed: count, go on
                self._reject(msg.address, ACTION_FAILED, f"{type(err).__name__}: {err}")
        if not values and not self._deferred:
            return
        with self.store.batch():
            for write in self._deferred:
                write()
            if not values:
                return
            live = self.store.live_overrides()
            unchanged = sum(1 for k, v in values.items() if live.get(k) == v)
            self.store.set_many(values, source="osc")
        self.counters.unchanged += unchanged
        self.counters.applied += len(values) - unchanged
        for name, value in values.items():
            for listener in self._listeners:
                listener(PREFIX + name, value)

    def _reject(self, address: str, reason: str, detail: str) -> None:
        self.counters.rejected[reason] += 1
        self.store.reject(reason)
        self._ratelog.warning(address, "OSC %s ignored (%s): %s", address[:80], reason, detail)

    def _route(self, address: str, args: list[object], values: dict[str, object]) -> None:
        if not address.startswith(PREFIX):
            raise _Reject(UNKNOWN_ADDRESS, "addresses start with /vj/ (see `vj osc-map`)")
        parts = address[len(PREFIX):].split("/")
        head = parts[0]
        registry = self.store.registry
        if head in registry and len(parts) == 1:
            spec = registry[head]
            value = _one_arg(args)
            if head == "seed":
                self._seed(spec, value, values)
                return
            self._put(values, head, _validated(spec, value))
            return
        if head in registry and parts[1:] == ["norm"]:
            x = _one_arg(args)
            x = _number(x)
            try:
                self._put(values, head, registry[head].from_normalised(x))
            except ParamRejected as err:
                raise _Reject(err.reason, str(err)) from None
            return
        if head == "prompt" and len(parts) in (2, 3):
            self._prompt(parts, args)
            return
        if head == "negative" and len(parts) == 1:
            text = _string(_one_arg(args))
            self._quantised(lambda: self.store.set_negative(text, source="osc"))
            self.counters.applied += 1
            return
        handler = _COMMANDS.get(head) if len(parts) == 1 else None
        if handler is not None:
            handler(self, args)
            self.counters.commands += 1
            return
        if head == "lfo" and len(parts) in (2, 3):
            self._lfo(parts[1:], args)
            self.counters.commands += 1
            return
        raise _Reject(UNKNOWN_ADDRESS, "no such address (see `vj osc-map`)")

    def _seed(self, spec: ParamSpec, value: object, values: dict[str, object]) -> None:
        if isinstance(value, float) and math.isfinite(value) and not value.is_integer():
            raise _Reject(WRONG_TYPE, f"seed: expected an integer, found {value!r}")
        seed = _validated(spec, value)
        quantiser = self.actions.quantiser
        if quantiser is not None and quantiser.mode is not Quantise.OFF:
            quantiser.submit(lambda: self.store.set("seed", seed, source="osc"))
            self.counters.commands += 1  # lands later: counted as a scheduled command, not a write
            return
        self._put(values, "seed", seed)

    def _put(self, values: dict[str, object], name: str, value: object) -> None:
        """Collect a parameter write of this datagram; a later write to the same name in one bundle wins."""
        if name in values:
            self.counters.unchanged += 1  # superseded inside the bundle: it never reaches the store
        values[name] = value

    def _prompt(self, parts: list[str], args: list[object]) -> None:
        try:
            index = int(parts[1])
        except ValueError:
            raise _Reject(UNKNOWN_ADDRESS, f"prompt slot must be 0..{MAX_PROMPTS - 1}, found {parts[1]!r}") from None
        if not 0 <= index < MAX_PROMPTS or not parts[1].isdigit():
            raise _Reject(OUT_OF_RANGE, f"prompt slot must be 0..{MAX_PROMPTS - 1}, found {parts[1]!r}")
        if len(parts) == 2:
            text = _string(_one_arg(args))
            self._quantised(lambda: self.store.set_prompt(index, text, source="osc"))
            self.counters.applied += 1
            return
        if parts[2] != "weight":
            raise _Reject(UNKNOWN_ADDRESS, "prompt addresses are /vj/prompt/<i> and /vj/prompt/<i>/weight")
        weight = _number(_one_arg(args))
        if not 0.0 <= weight <= MAX_PROMPT_WEIGHT:
            raise _Reject(OUT_OF_RANGE, f"prompt weight: expected 0..{MAX_PROMPT_WEIGHT:g}, found {weight:g}")
        def write() -> None:
            before = self.store.prompts()
            self.store.set_prompt_weight(index, weight, source="osc")
            if index < len(before.entries) and before.entries[index].weight == weight:
                self.counters.unchanged += 1
            else:
                self.counters.applied += 1

        self._deferred.append(write)

    def _quantised(self, fn: Callable[[], object]) -> None:
        """Prompt text, negative and seed switches wait for the beat when quantise is on."""
        quantiser = self.actions.quantiser
        if quantiser is not None and quantiser.mode is not Quantise.OFF:
            quantiser.submit(fn)
        else:
            self._deferred.append(fn)  # lands with the datagram's other writes (see _apply)

    def _lfo(self, parts: list[str], args: list[object]) -> None:
        bank = self.actions.modulators
        if bank is None:
            raise _Reject(UNAVAILABLE, "no modulator bank in this session")
        name = parts[0]
        if name not in self.store.registry or not self.store.registry[name].numeric:
            raise _Reject(UNKNOWN_ADDRESS, f"lfo: {name!r} is not a numeric parameter")
        if len(parts) == 2:
            if parts[1] not in ("depth", "rate"):
                raise _Reject(UNKNOWN_ADDRESS, "lfo sub-addresses are depth and rate")
            number = _number(_one_arg(args))
            if parts[1] == "rate" and number <= 0:
                raise _Reject(OUT_OF_RANGE, f"lfo rate must be > 0, found {number:g}")
            if not bank.update(name, **{parts[1]: number}):
                raise _Reject(UNAVAILABLE, f"no LFO on {name}; attach one with /vj/lfo/{name} <shape> <rate> <depth>")
            return
        if len(args) == 1 and args[0] in ("off", 0):
            bank.remove(name)
            return
        if not 3 <= len(args) <= 4:
            raise _Reject(WRONG_COUNT, "expected <shape> <rate_beats> <depth> [offset] or 'off'")
        for a in args[1:]:
            _number(a)
        try:
            lfo = parse_lfo(args[0], args[1], args[2], args[3] if len(args) == 4 else 0.0)
        except ValueError as err:
            raise _Reject(WRONG_TYPE, str(err)) from None
        bank.assign(name, lfo)

    # ------------------------------------------------------------------ commands
    def _cmd_preset(self, args: list[object]) -> None:
        value = _one_arg(args)
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise _Reject(WRONG_TYPE, f"expected a preset name or number, found {value!r}")
        if isinstance(value, str) and len(value) > 256:
            raise _Reject(OVERSIZED, "preset name longer than 256 characters")
        switch = self.actions.preset
        if switch is None:
            raise _Reject(UNAVAILABLE, "preset switching is not available in this session")
        switch(str(value))  # the preset switcher lands it on the quantise grid itself

    def _cmd_release(self, args: list[object]) -> None:
        name = _string(_one_arg(args))
        if name == "all":
            self.store.release_all(source="osc")
            return
        if name != "prompt" and name not in self.store.registry:
            raise _Reject(UNKNOWN_ADDRESS, f"release: unknown parameter {name!r}")
        self.store.release(name, source="osc")

    def _cmd_record(self, args: list[object]) -> None:
        value = _one_arg(args)
        if isinstance(value, bool):
            on = value
        elif isinstance(value, (int, float)) and value in (0, 1):
            on = bool(value)
        else:
            raise _Reject(WRONG_TYPE, f"record: expected 1 or 0, found {value!r}")
        if self.actions.record is None:
            raise _Reject(UNAVAILABLE, "no recorder in this session (start with --record FILE)")
        self.actions.record(on)

    def _cmd_tap(self, args: list[object]) -> None:
        if len(args) > 1:
            raise _Reject(WRONG_COUNT, "tap takes no argument (or one, ignored)")
        if self.actions.tempo is None:
            raise _Reject(UNAVAILABLE, "no tempo clock in this session")
        self.actions.tempo.tap()

    def _cmd_bpm(self, args: list[object]) -> None:
        bpm = _number(_one_arg(args))
        if self.actions.tempo is None:
            raise _Reject(UNAVAILABLE, "no tempo clock in this session")
        if not self.actions.tempo.set_bpm(bpm, source="osc"):
            raise _Reject(OUT_OF_RANGE, f"bpm: expected 20..300, found {bpm:g}")

    def _cmd_quantise(self, args: list[object]) -> None:
        value = _string(_one_arg(args))
        if self.actions.quantiser is None:
            raise _Reject(UNAVAILABLE, "no tempo clock in this session")
        try:
            self.actions.quantiser.mode = Quantise(value.lower())
        except ValueError:
            raise _Reject(WRONG_TYPE, f"quantise: expected one of {', '.join(q.value for q in Quantise)}") from None

    def _cmd_learn(self, args: list[object]) -> None:
        target = _string(_one_arg(args))
        if self.actions.learn is None:
            raise _Reject(UNAVAILABLE, "MIDI learn needs an open MIDI input (--midi)")
        if not self.actions.learn(target):
            raise _Reject(UNKNOWN_ADDRESS, f"learn: {target!r} is not a mappable target")

    def iter_addresses(self) -> Iterator[OscAddress]:
        return iter(address_map(self.store.registry))


_COMMANDS: dict[str, Callable[[OscControl, list[object]], None]] = {
    "preset": OscControl._cmd_preset,
    "release": OscControl._cmd_release,
    "record": OscControl._cmd_record,
    "tap": OscControl._cmd_tap,
    "bpm": OscControl._cmd_bpm,
    "quantise": OscControl._cmd_quantise,
    "learn": OscControl._cmd_learn,
}


def _one_arg(args: list[object]) -> object:
    if len(args) != 1:
        raise _Reject(WRONG_COUNT, f"expected 1 argument, found {len(args)}")
    return args[0]


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Reject(WRONG_TYPE, f"expected a number, found {type(value).__name__}")
    if not math.isfinite(value):
        raise _Reject(NOT_FINITE, f"expected a finite number, found {value!r}")
    return float(value)


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise _Reject(WRONG_TYPE, f"expected a string, found {type(value).__name__}")
    if len(value) > MAX_PROMPT_CHARS:
        raise _Reject(OVERSIZED, f"string of {len(value)} characters (at most {MAX_PROMPT_CHARS})")
    return value


def _validated(spec: ParamSpec, value: object) -> object:
    if isinstance(value, str) and spec.numeric:
        raise _Reject(WRONG_TYPE, f"{spec.name}: expected a number, found a string")
    if isinstance(value, str) and len(value) > MAX_PROMPT_CHARS:
        raise _Reject(OVERSIZED, f"string of {len(value)} characters")
    try:
        return spec.validate(value)
    except ParamRejected as err:
        raise _Reject(err.reason, str(err)) from None
