"""OSCQuery (Vidvox proposal): the OSC address space as JSON over HTTP, advertised with zeroconf.

`GET /` answers the whole tree; `GET /vj/zoom` one node; `GET /vj/zoom?VALUE` one attribute
(`{"VALUE": [1.02]}`); `GET /?HOST_INFO` the server description. A GET that upgrades to a
WebSocket gets LISTEN / IGNORE: value changes pushed as OSC packets (vj.control.oscquery_listen). Nodes carry FULL_PATH,
CONTENTS (containers), TYPE, RANGE, ACCESS, VALUE, DESCRIPTION, CLIPMODE and UNIT, so
TouchDesigner (with a community component), Chataigne, ossia score or VDMX can build remote
controls. Status codes follow the proposal: 404 unknown path, 400 unknown attribute,
204 an attribute the node does not have (VALUE of a write-only method).

The HTTP server runs on its own named thread (stdlib `ThreadingHTTPServer`, daemon request
threads); reads take the ParamStore's lock only briefly and never touch the render thread.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Collection
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from vj.choices import LfoShape
from vj.config import LFO_LEVEL_RANGE, LFO_RATE_RANGE
from vj.control._serving import stop_serving
from vj.control.admission import Admission
from vj.control.audio.modulators import AudioModulators
from vj.control.modulators import Lfo, ModulatorBank
from vj.control.osc import PREFIX
from vj.control.oscquery_audio import audio_nodes
from vj.control.oscquery_http import IDLE_TIMEOUT_S, MAX_CONNECTIONS, BoundedHTTPServer
from vj.control.oscquery_listen import MAX_LISTENERS, PUSH_HZ, ListenSession, SharedTree, is_upgrade, lookup
from vj.control.oscquery_nodes import ACCESS_NONE, ACCESS_READ, ACCESS_RW, ACCESS_WRITE, CLIPMODE, container, leaf
from vj.control.tempo import MAX_BPM, MIN_BPM, Quantise, TempoClock
from vj.errors import DeviceNotConnected
from vj.prompt_mix import MAX_PROMPT_WEIGHT, MAX_PROMPTS
from vj.registry import ParamKind, ParamSpec
from vj.store import ParamStore

log = logging.getLogger(__name__)

def node_answer(node: dict[str, Any] | None, query: str) -> tuple[HTTPStatus, Any]:
    """The HTTP answer for a tree node and the query string after its path ("", "VALUE", "RANGE", ...)."""
    if node is None:
        return HTTPStatus.NOT_FOUND, None
    if not query:
        return HTTPStatus.OK, node
    if query not in ATTRIBUTES:
        return HTTPStatus.BAD_REQUEST, None
    if query not in node or (query == "VALUE" and node.get("ACCESS") in (ACCESS_NONE, ACCESS_WRITE)):
        return HTTPStatus.NO_CONTENT, None  # a write-only VALUE is a placeholder, not a reading
    return HTTPStatus.OK, {query: node[query]}


ATTRIBUTES = ("FULL_PATH", "CONTENTS", "TYPE", "RANGE", "ACCESS", "VALUE", "DESCRIPTION", "CLIPMODE", "UNIT")
EXTENSIONS = {"ACCESS": True, "VALUE": True, "RANGE": True, "DESCRIPTION": True, "CLIPMODE": True,
              "UNIT": True, "TAGS": False, "EXTENDED_TYPE": False, "CRITICAL": False, "OVERLOADS": False,
              "LISTEN": True, "PATH_CHANGED": False, "PATH_RENAMED": False, "PATH_ADDED": False,
              "PATH_REMOVED": False, "HTML": False}


class PerformerSwitches(Protocol):
    """What OSCQuery reads back of the performer's switches (the session's `Performer`)."""

    @property
    def blackout_on(self) -> bool: ...

    @property
    def frozen(self) -> bool: ...


class OscQueryTree:
    """Builds the JSON tree from the registry; values are read live at request time.

    Every method is a leaf and every container holds no value, as the proposal (and clients
    such as python-oscquery) require: the normalised forms live under /vj/norm/, a prompt slot
    is a container of text and weight, an LFO one of set, depth and rate, an audio modulator one
    of set, depth, offset, attack_ms, release_ms and its read-only value. Ranges are hard: an
    out-of-range value is refused (counted out_of_range), never clamped, so CLIPMODE is "both"
    to tell a client to clip before it sends. Write-only methods carry a placeholder VALUE of
    their type (clients build typed controls from it); `?VALUE` on them still answers 204.
    `hidden` names parameters left out of the tree (LoRA and ControlNet slots the show has
    nothing loaded in); their addresses are still answered.
    """

    def __init__(self, store: ParamStore, tempo: TempoClock | None = None, name: str = "vj",
                 modulators: ModulatorBank | None = None, switches: PerformerSwitches | None = None,
                 hidden: Collection[str] = (), audio: AudioModulators | None = None,
                 playing_preset: Callable[[], str] | None = None) -> None:
        """`playing_preset`: the name /vj/preset reads back (a show's supervisor puts it back after a restart)."""
        self.store = store
        self.playing_preset = playing_preset
        self.tempo = tempo
        self.name = name
        self.modulators = modulators
        self.audio = audio
        self.switches = switches
        self.hidden = frozenset(hidden)

    def _params(self) -> dict[str, ParamSpec]:
        return {name: spec for name, spec in self.store.registry.items() if name not in self.hidden}

    def _value(self, name: str) -> object:
        snap = self.store.last_snapshot
        if snap is not None and name in snap.values:
            return snap.values[name]  # what is on screen (smoothed, modulated)
        return self.store.target(name)

    def tree(self) -> dict[str, Any]:
        vj: dict[str, Any] = {}
        norm: dict[str, Any] = {}
        params = self._params()
        for name, spec in params.items():
            node: dict[str, Any] = {"FULL_PATH": f"{PREFIX}{name}", "ACCESS": ACCESS_RW,
                                    "DESCRIPTION": spec.description}
            value = self._value(name)
            if spec.kind is ParamKind.CHOICE:
                node.update(TYPE="s", RANGE=[{"VALS": list(spec.choices)}], VALUE=[value])
            else:
                node.update(TYPE="i" if spec.kind is ParamKind.INT else "f",
                            RANGE=[{"MIN": spec.minimum, "MAX": spec.maximum}], VALUE=[value], CLIPMODE=CLIPMODE)
                if spec.unit:
                    node["UNIT"] = [spec.unit]
            vj[name] = node
            norm[name] = leaf(f"norm/{name}", "f", f"{name} mapped onto 0..1", ACCESS_RW,
                               [_normalised(spec, value)], RANGE=[{"MIN": 0.0, "MAX": 1.0}], CLIPMODE=CLIPMODE)
        vj["norm"] = container("norm", norm, "every parameter mapped onto 0..1 (choices by position)")
        vj["prompt"] = container("prompt", self._prompts(), "weighted prompts blended in embedding space")
        vj["negative"] = leaf("negative", "s", "negative prompt", ACCESS_RW, [self.store.prompts().negative])
        vj["lfo"] = container("lfo", self._lfos(), "an LFO per numeric parameter")
        if self.audio is not None:  # without it every /vj/audio/... address answers 'unavailable'
            vj["audio"] = container("audio", audio_nodes(self.audio, params),
                                    "the audio modulators loaded, the onset action and the sound's levels")
        if self.playing_preset is not None:
            vj["preset"] = leaf("preset", "s", "switch preset by name (or number); reads the playing one", ACCESS_RW,
                                [self.playing_preset()])
        else:
            vj["preset"] = leaf("preset", "s", "switch preset by name (or number)", ACCESS_WRITE, [""])
        vj["model"] = leaf("model", "s", "switch the model by its source (loaded beside, then crossfaded)",
                           ACCESS_WRITE, [""])
        vj["release"] = leaf("release", "s", "hand a parameter back to its schedule or preset (or 'all')",
                              ACCESS_WRITE, ["all"], RANGE=[{"VALS": [*params, "prompt", "all"]}])
        vj["record"] = leaf("record", "i", "start (1) or stop (0) recording", ACCESS_WRITE, [0],
                             RANGE=[{"MIN": 0, "MAX": 1}])
        # No arguments, so no value: ACCESS 0 is the proposal's "method without a value".
        vj["tap"] = {"FULL_PATH": f"{PREFIX}tap", "TYPE": "N", "ACCESS": ACCESS_NONE,
                     "DESCRIPTION": "tap tempo (no arguments)"}
        vj["panic"] = {"FULL_PATH": f"{PREFIX}panic", "TYPE": "N", "ACCESS": ACCESS_NONE,
                       "DESCRIPTION": "recall the playing preset now: live overrides released, live LFOs cleared"}
        vj["reopen_preview"] = {"FULL_PATH": f"{PREFIX}reopen_preview", "TYPE": "N", "ACCESS": ACCESS_NONE,
                                "DESCRIPTION": "close and reopen the preview window (if it stays black)"}
        vj["reference"] = leaf("reference", "s", "IP-Adapter reference: a picture's name in the show's reference "
                               "folder (NAME [WEIGHT] ... blends), 'off', or 'grab' then input|output",
                               ACCESS_WRITE, [""])
        sw = self.switches
        switches = (("blackout", sw.blackout_on if sw else False, "fade the outputs to black (1) or back (0)"),
                    ("freeze", sw.frozen if sw else False, "hold the picture (1) or resume (0)"))
        for key, on, text in switches:
            vj[key] = leaf(key, "i", text, ACCESS_RW if sw else ACCESS_WRITE, [int(on)], RANGE=[{"MIN": 0, "MAX": 1}])
        vj["quantise"] = leaf("quantise", "s", "where prompt / preset / seed changes land", ACCESS_WRITE,
                               [Quantise.OFF.value], RANGE=[{"VALS": [q.value for q in Quantise]}])
        vj["learn"] = leaf("learn", "s", "MIDI learn: map the next control moved to this target", ACCESS_WRITE,
                            ["off"])
        if self.tempo is not None:
            bpm = leaf("bpm", "f", "tempo in beats per minute", ACCESS_RW, [self.tempo.bpm])
        else:
            bpm = leaf("bpm", "f", "tempo in beats per minute", ACCESS_WRITE, [120.0])
        bpm.update(RANGE=[{"MIN": MIN_BPM, "MAX": MAX_BPM}], CLIPMODE=CLIPMODE)
        vj["bpm"] = bpm
        if self.tempo is not None:  # read-only: where the beat clock is now (Link's beat when on Link)
            vj["beat"] = leaf("beat", "f", "the beat clock's position now, in beats", ACCESS_READ,
                              [self.tempo.beat_at(self.tempo.now())])
        return {"FULL_PATH": "/", "ACCESS": ACCESS_NONE, "DESCRIPTION": f"{self.name} OSC address space",
                "CONTENTS": {"vj": {"FULL_PATH": "/vj", "ACCESS": ACCESS_NONE, "CONTENTS": vj,
                                    "DESCRIPTION": "real-time diffusion VJ engine"}}}

    def _prompts(self) -> dict[str, Any]:
        mix = self.store.prompts()
        prompts: dict[str, Any] = {}
        for i in range(MAX_PROMPTS):
            entry = mix.entries[i] if i < len(mix.entries) else None
            prompts[str(i)] = container(f"prompt/{i}", {
                "text": leaf(f"prompt/{i}/text", "s", f"prompt text of slot {i}", ACCESS_RW,
                              [entry.text if entry else ""]),
                "weight": leaf(f"prompt/{i}/weight", "f", f"blend weight of prompt slot {i}", ACCESS_RW,
                                [entry.weight if entry else 0.0], RANGE=[{"MIN": 0.0, "MAX": MAX_PROMPT_WEIGHT}],
                                CLIPMODE=CLIPMODE),
            }, f"prompt slot {i}")
        return prompts

    def _lfos(self) -> dict[str, Any]:
        lfos: dict[str, Any] = {}
        shapes = [s.value for s in LfoShape]
        # a preset's ranges ([modulators.lfo.*]): the live write is refused outside them
        rate_range = {"MIN": LFO_RATE_RANGE[0], "MAX": LFO_RATE_RANGE[1]}
        level_range = {"MIN": LFO_LEVEL_RANGE[0], "MAX": LFO_LEVEL_RANGE[1]}
        for name, spec in self._params().items():
            if not spec.numeric:
                continue
            lfo = self.modulators.get(name) if self.modulators is not None else None
            now = lfo if lfo is not None else Lfo()
            # Without a bank the values cannot be read, only sent.
            access = ACCESS_RW if self.modulators is not None else ACCESS_WRITE
            shape = now.shape.value if lfo is not None else "off"
            lfos[name] = container(f"lfo/{name}", {
                "set": leaf(f"lfo/{name}/set", "sfff", f"attach an LFO to {name}: shape, rate in beats, depth, "
                             "offset (or one argument 'off')", access, [shape, now.rate, now.depth, now.offset],
                             RANGE=[{"VALS": [*shapes, "off"]}, rate_range, level_range, level_range]),
                "depth": leaf(f"lfo/{name}/depth", "f", f"LFO depth on {name}, in its units", access, [now.depth],
                               RANGE=[level_range]),
                "rate": leaf(f"lfo/{name}/rate", "f", f"LFO rate on {name}, in beats per cycle", access,
                              [now.rate], RANGE=[rate_range]),
            }, f"LFO on {name}")
        return lfos

    def node(self, path: str) -> dict[str, Any] | None:
        return lookup(self.tree(), path)


def _normalised(spec: Any, value: object) -> float:
    try:
        return float(spec.to_normalised(value))
    except (ValueError, TypeError):
        return 0.0


class OscQueryServer:
    """The OSCQuery control: `start()`, `close()`, `status()` like every other control source."""

    def __init__(self, store: ParamStore, *, osc_host: str, osc_port: int, http_port: int,
                 host: str | None = None, tempo: TempoClock | None = None, advertise: bool = True,
                 name: str = "vj", modulators: ModulatorBank | None = None,
                 switches: PerformerSwitches | None = None, hidden: Collection[str] = (),
                 audio: AudioModulators | None = None, max_connections: int = MAX_CONNECTIONS,
                 max_listeners: int = MAX_LISTENERS, idle_timeout_s: float = IDLE_TIMEOUT_S,
                 playing_preset: Callable[[], str] | None = None) -> None:
        self.tree = OscQueryTree(store, tempo, name, modulators, switches, hidden, audio, playing_preset)
        # LISTEN clients read one tree built per push tick, not one each (lambda: a test may wrap tree.tree)
        self.shared_tree = SharedTree(lambda: self.tree.tree(), 1.0 / PUSH_HZ)
        self.max_connections = max_connections
        self.max_listeners = max_listeners
        self.idle_timeout_s = idle_timeout_s
        self.osc_host = osc_host
        self.osc_port = osc_port
        self.host = host or osc_host
        self.port = http_port
        self.advertise = advertise
        self.name = name
        self.requests = 0
        self.errors = 0
        self.hangups = 0  # clients that closed the connection before the reply was written
        self._httpd: BoundedHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._zeroconf: Any = None
        self._services: list[Any] = []
        self._zc_thread: threading.Thread | None = None
        self._zc_lock = threading.Lock()
        self._closed = False
        self.advertised = False
        self._closing = threading.Event()  # ends the LISTEN WebSockets with the server
        self.listeners = 0  # WebSocket (LISTEN) connections so far
        self.listen_slots = Admission(max_listeners)  # LISTEN connections open now; beyond the most, 503

    def host_info(self) -> dict[str, Any]:
        return {"NAME": self.name, "EXTENSIONS": dict(EXTENSIONS), "OSC_IP": self.osc_host,
                "OSC_PORT": self.osc_port, "OSC_TRANSPORT": "UDP"}

    def start(self) -> None:
        try:
            self._httpd = BoundedHTTPServer((self.host, self.port), _make_handler(self), self.max_connections)
        except OSError as err:
            raise DeviceNotConnected(f"OSCQuery: cannot listen on http://{self.host}:{self.port}: {err} "
                                     "(choose a port with --oscquery-port, or --no-oscquery)") from err
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="vj-oscquery", daemon=True)
        self._thread.start()
        log.info("OSCQuery on http://%s:%d/ (OSC udp %d)", self.host, self.port, self.osc_port)
        if self.advertise:
            # zeroconf probes the network for a few seconds: never hold up the show for it
            self._zc_thread = threading.Thread(target=self._advertise, name="vj-zeroconf", daemon=True)
            self._zc_thread.start()

    def _advertise(self) -> None:
        try:
            from zeroconf import ServiceInfo, Zeroconf
        except ImportError:
            log.warning("OSCQuery: zeroconf is not installed, so the server is not advertised "
                        "(pip install 'vj[discovery]'); clients can still connect to http://%s:%d/",
                        self.host, self.port)
            return
        try:
            address = self.host if self.host not in ("0.0.0.0", "") else socket.gethostbyname(socket.gethostname())
            packed = [socket.inet_aton(address)]
            label = f"{self.name}-{self.osc_port}"
            self._services = [
                ServiceInfo("_oscjson._tcp.local.", f"{label}._oscjson._tcp.local.", addresses=packed,
                            port=self.port, properties={}),
                ServiceInfo("_osc._udp.local.", f"{label}._osc._udp.local.", addresses=packed,
                            port=self.osc_port, properties={}),
            ]
            zc = Zeroconf()
            for info in self._services:
                zc.register_service(info)  # blocks while it probes the network (seconds)
            with self._zc_lock:
                if self._closed:  # the show ended while we were probing: take it back down
                    self._withdraw(zc)
                    return
                self._zeroconf = zc
            self.advertised = True
            log.info("OSCQuery advertised over zeroconf as %s (_oscjson._tcp, _osc._udp)", label)
        except Exception as err:  # no multicast route, name clash...: the HTTP server still works
            log.warning("OSCQuery: zeroconf advertisement failed (%s); clients can still connect to "
                        "http://%s:%d/", err, self.host, self.port)

    def close(self, timeout_s: float = 2.0) -> None:
        self._closing.set()
        stop_serving(self._httpd, self._thread, timeout_s)
        with self._zc_lock:
            self._closed = True  # an advertisement still probing withdraws itself when it finishes
            zc, self._zeroconf = self._zeroconf, None
        if zc is not None:
            self._withdraw(zc)
        self._httpd = None

    def _withdraw(self, zc: Any) -> None:
        try:
            for info in self._services:
                zc.unregister_service(info)
            zc.close()
        except Exception as err:  # shutting down: nothing left to protect
            log.debug("zeroconf close: %s", err)

    @property
    def active_connections(self) -> int:
        """Connections being served now (each on a thread of its own), LISTEN WebSockets included."""
        return self._httpd.connections.active if self._httpd is not None else 0

    @property
    def connections_refused(self) -> int:
        """Connections closed at once because `max_connections` were being served."""
        return self._httpd.connections.refused if self._httpd is not None else 0

    def status(self) -> str:
        refused = self.connections_refused + self.listen_slots.refused
        return (f"oscquery :{self.port} req {self.requests}" + (f" err {self.errors}" if self.errors else "")
                + (f" refused {refused}" if refused else ""))


def _make_handler(server: OscQueryServer) -> Callable[..., BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "vj-oscquery"
        timeout = server.idle_timeout_s  # until the request arrives; a LISTEN session sets its own

        def handle(self) -> None:
            try:
                super().handle()
            except OSError as err:  # the client hung up mid-reply: not the show's problem, one line
                server.hangups += 1
                log.info("OSCQuery client %s hung up (%s)", self.client_address[0], type(err).__name__)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            log.debug("oscquery %s", format % args)

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            server.requests += 1
            if is_upgrade(self.headers.get("Upgrade")):
                self._listen()
                return
            try:
                status, body = self._answer()
            except Exception:  # a bug in the tree must not kill the request thread silently
                server.errors += 1
                log.exception("OSCQuery request %s failed", self.path)
                status, body = HTTPStatus.INTERNAL_SERVER_ERROR, None
            if status is not HTTPStatus.OK:
                server.errors += status is not HTTPStatus.NO_CONTENT
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = json.dumps(body).encode("utf-8")
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _listen(self) -> None:
            """LISTEN / IGNORE over a WebSocket on this port (vj.control.oscquery_listen)."""
            self.close_connection = True
            if not server.listen_slots.try_enter():
                log.info("OSCQuery LISTEN from %s refused: %d clients listen already (the most)",
                         self.client_address[0], server.max_listeners)
                self.wfile.write(ListenSession.busy(f"vj: {server.max_listeners} OSCQuery clients listen "
                                                   "already (the most); try again when one leaves\n"))
                return
            try:
                self.wfile.write(ListenSession.handshake(self.path, dict(self.headers.items())))
                self.wfile.flush()
                if self.headers.get("Sec-WebSocket-Key") is None:
                    return  # the handshake above was a 400 saying so
                server.listeners += 1
                ListenSession(self.connection, server.shared_tree.get, server._closing).run()
            finally:
                server.listen_slots.leave()

        def _answer(self) -> tuple[HTTPStatus, Any]:
            parts = urlsplit(self.path)
            path = unquote(parts.path) or "/"
            query = parts.query
            if query == "HOST_INFO":
                return HTTPStatus.OK, server.host_info()
            return node_answer(server.tree.node(path), query)

    return Handler
