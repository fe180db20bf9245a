"""The show's one OSCQuery tree: every engine's tree under its name, and the first one's as "every engine".

`/vj/left/zoom` is engine left's zoom, `/vj/zoom` every engine's (what the fan-out does with
it); the values under `/vj/` are those of the first engine that answered. The trees are the
ones the supervisor last read (no request waits on an engine). Served over HTTP as a single
engine's tree is (`GET /`, `GET /vj/left/zoom`, `?VALUE`, `?HOST_INFO`) and advertised
with zeroconf as one OSCQuery server, so a client finds the show, not its engines one by one.
"""

from __future__ import annotations

import copy
import json
import logging
import socket
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit

from vj.control._serving import stop_serving
from vj.control.oscquery import EXTENSIONS, node_answer
from vj.control.oscquery_http import IDLE_TIMEOUT_S, BoundedHTTPServer
from vj.control.oscquery_listen import lookup

log = logging.getLogger(__name__)


def rebased(node: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """A copy of a tree node with every FULL_PATH under `old` moved under `new`."""
    out = dict(node)
    path = node.get("FULL_PATH")
    if isinstance(path, str) and (path == old or path.startswith(old + "/")):
        out["FULL_PATH"] = new + path[len(old):]
    contents = node.get("CONTENTS")
    if isinstance(contents, dict):
        out["CONTENTS"] = {key: rebased(child, old, new) for key, child in contents.items()}
    return out


def combined_tree(trees: dict[str, dict[str, Any]], order: list[str]) -> dict[str, Any]:
    vj: dict[str, Any] = {}
    answered = [name for name in order if name in trees]
    if answered:
        first = trees[answered[0]].get("CONTENTS", {}).get("vj", {}).get("CONTENTS", {})
        vj.update(copy.deepcopy(first))
    for name in answered:
        engine_vj = trees[name].get("CONTENTS", {}).get("vj")
        if isinstance(engine_vj, dict):
            node = rebased(engine_vj, "/vj", f"/vj/{name}")
            node["DESCRIPTION"] = f"engine {name}"
            vj[name] = node
    return {"FULL_PATH": "/", "ACCESS": 0, "DESCRIPTION": "vj show", "CONTENTS": {
        "vj": {"FULL_PATH": "/vj", "ACCESS": 0, "CONTENTS": vj,
               "DESCRIPTION": "every engine of the show (/vj/<engine>/... for one)"}}}


class ShowTreeServer:
    """The combined tree over HTTP on its own thread (start, close, status)."""

    def __init__(self, trees: Callable[[], dict[str, dict[str, Any]]], order: list[str], *, osc_port: Callable[[], int],
                 host: str = "127.0.0.1", port: int = 9001, advertise: bool = True) -> None:
        self.trees, self.order, self.osc_port = trees, order, osc_port
        self.host, self.port, self.advertise = host, port, advertise
        self.requests = 0
        self._httpd: BoundedHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._zeroconf: Any = None
        self._lock = threading.Lock()
        self._closed = False

    def tree(self) -> dict[str, Any]:
        return combined_tree(self.trees(), self.order)

    def host_info(self) -> dict[str, Any]:
        return {"NAME": "vj show", "OSC_IP": self.host, "OSC_PORT": self.osc_port(), "OSC_TRANSPORT": "UDP",
                "EXTENSIONS": {**EXTENSIONS, "LISTEN": False}}

    def start(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = IDLE_TIMEOUT_S

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server.requests += 1
                parts = urlsplit(self.path)
                status, body = server.answer(unquote(parts.path), parts.query)
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
                log.debug("show OSCQuery: " + format, *args)

        self._httpd = BoundedHTTPServer((self.host, self.port), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="vj-show-oscquery", daemon=True)
        self._thread.start()
        log.info("show OSCQuery on http://%s:%d/ (every engine's tree under its name)", self.host, self.port)
        if self.advertise:
            threading.Thread(target=self._advertise, name="vj-show-zeroconf", daemon=True).start()

    def answer(self, path: str, query: str) -> tuple[int, Any]:
        if query == "HOST_INFO":
            return HTTPStatus.OK, self.host_info()
        return node_answer(lookup(self.tree(), path), query)

    def _advertise(self) -> None:
        try:
            from zeroconf import ServiceInfo, Zeroconf
        except ImportError:
            log.warning("show OSCQuery: zeroconf is not installed, so the show is not advertised "
                        "(pip install 'vj[discovery]')")
            return
        try:
            address = self.host if self.host not in ("0.0.0.0", "") else socket.gethostbyname(socket.gethostname())
            label = f"vj-show-{self.osc_port()}"
            packed = [socket.inet_aton(address)]
            services = [ServiceInfo("_oscjson._tcp.local.", f"{label}._oscjson._tcp.local.", addresses=packed,
                                    port=self.port, properties={}),
                        ServiceInfo("_osc._udp.local.", f"{label}._osc._udp.local.", addresses=packed,
                                    port=self.osc_port(), properties={})]
            zc = Zeroconf()
            for info in services:
                zc.register_service(info)
            with self._lock:
                if self._closed:
                    zc.unregister_all_services()
                    zc.close()
                    return
                self._zeroconf = zc
            log.info("show OSCQuery advertised over zeroconf as %s", label)
        except Exception as err:  # no multicast route, a name clash: the tree is still served
            log.warning("show OSCQuery: zeroconf advertisement failed (%r)", err)

    def close(self) -> None:
        stop_serving(self._httpd, self._thread, 2.0)
        with self._lock:
            self._closed = True
            zc, self._zeroconf = self._zeroconf, None
        if zc is not None:
            zc.unregister_all_services()
            zc.close()

    def status(self) -> str:
        return f"oscquery :{self.port} req {self.requests}"
