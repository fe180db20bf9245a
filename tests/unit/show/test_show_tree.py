"""The show's OSCQuery tree: two engines' real trees under their names, served over HTTP, found over zeroconf."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from vj.control.oscquery import OscQueryTree
from vj.control.oscquery_listen import lookup as node_at
from vj.control.tempo import TempoClock
from vj.show.engine_state import leaves
from vj.show.supervisor import free_port
from vj.show.tree import ShowTreeServer, combined_tree
from vj.store import ParamStore


def _engine_tree(zoom: float) -> dict[str, Any]:
    return OscQueryTree(ParamStore(base={"zoom": zoom}), tempo=TempoClock(120.0)).tree()


TREES = {"left": _engine_tree(1.01), "right": _engine_tree(1.04)}


def test_each_engines_tree_is_under_its_name_and_the_first_ones_stands_for_all() -> None:
    tree = combined_tree(TREES, ["left", "right"])
    assert node_at(tree, "/vj/left/zoom")["VALUE"] == [pytest.approx(1.01)]  # type: ignore[index]
    assert node_at(tree, "/vj/right/zoom")["VALUE"] == [pytest.approx(1.04)]  # type: ignore[index]
    assert node_at(tree, "/vj/zoom")["FULL_PATH"] == "/vj/zoom"  # type: ignore[index]
    paths = [leaf["FULL_PATH"] for leaf in leaves(tree)]
    right = [p for p in paths if p.startswith("/vj/right/")]
    # every leaf of an engine's own tree is there, moved under its name
    assert sorted(right) == sorted("/vj/right" + leaf["FULL_PATH"][3:] for leaf in leaves(TREES["right"]))
    for leaf in leaves(tree):  # each node's FULL_PATH is where it is in the tree
        assert node_at(tree, leaf["FULL_PATH"]) is leaf
    assert node_at(tree, "/vj/nobody/zoom") is None
    assert combined_tree({}, ["left"])["CONTENTS"]["vj"]["CONTENTS"] == {}  # no engine answered yet


@pytest.fixture
def server() -> Iterator[ShowTreeServer]:
    osc_port = free_port(socket.SOCK_DGRAM)  # the advertised name carries it: a name of its own per test
    s = ShowTreeServer(lambda: TREES, ["left", "right"], osc_port=lambda: osc_port, port=0, advertise=True)
    s.start()
    yield s
    s.close()


def _get(url: str) -> tuple[int, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        body = response.read()
        return response.status, json.loads(body) if body else None


def test_the_tree_is_served_over_http_as_an_engines_is(server: ShowTreeServer) -> None:
    base = f"http://127.0.0.1:{server.port}"
    status, root = _get(base + "/")
    assert status == 200 and set(root["CONTENTS"]["vj"]["CONTENTS"]) >= {"left", "right", "zoom"}
    assert _get(base + "/vj/right/zoom?VALUE") == (200, {"VALUE": [pytest.approx(1.04)]})
    assert _get(base + "/?HOST_INFO")[1]["OSC_PORT"] == server.osc_port()
    assert _get(base + "/vj/left/tap?VALUE")[0] == 204  # a method with no value
    for path, code in (("/vj/nobody", "404"), ("/vj/left/zoom?COLOUR", "400")):
        with pytest.raises(urllib.error.HTTPError, match=code):
            _get(base + path)
    assert server.status() == f"oscquery :{server.port} req 6"


def test_the_show_is_advertised_over_zeroconf(server: ShowTreeServer) -> None:
    zeroconf = pytest.importorskip("zeroconf", reason="zeroconf is in the discovery extra")
    zc = zeroconf.Zeroconf()
    try:
        info = None
        deadline = time.monotonic() + 30
        while info is None and time.monotonic() < deadline:
            info = zc.get_service_info("_oscjson._tcp.local.", f"vj-show-{server.osc_port()}._oscjson._tcp.local.",
                                       timeout=2000)
        assert info is not None, "the show's OSCQuery service was not found over mDNS in 30 s"
        assert info.port == server.port and "127.0.0.1" in info.parsed_addresses()
    finally:
        zc.close()
