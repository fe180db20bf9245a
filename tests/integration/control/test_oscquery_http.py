"""OSCQuery over real HTTP on loopback: tree structure per the Vidvox proposal, attribute queries, values."""

from __future__ import annotations

import builtins
import http.client
import json
import logging
import socket
import struct
import time
from typing import Any

import pytest

from vj.control.modulators import ModulatorBank, parse_lfo
from vj.control.oscquery import ACCESS_RW, OscQueryServer
from vj.control.tempo import TempoClock
from vj.registry import unused_slots
from vj.store import ParamStore


def get(server: OscQueryServer, path: str) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", path)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    body = json.loads(raw) if raw else None
    if body is not None:
        assert resp.getheader("Content-Type") == "application/json"
    return resp.status, body


def check_node(node: dict[str, Any], path: str) -> int:
    """Every node has FULL_PATH and ACCESS; methods have TYPE; VALUE and RANGE match TYPE. Returns methods seen."""
    assert node["FULL_PATH"] == path
    assert node["ACCESS"] in (0, 1, 2, 3)
    methods = 0
    if "TYPE" in node:
        methods += 1
        assert isinstance(node["TYPE"], str) and node["TYPE"]
        n_args = len(node["TYPE"].replace("N", ""))
        assert "CONTENTS" not in node  # a method is a leaf (python-oscquery refuses anything else)
        if "VALUE" in node:  # readable, or a write-only method's typed placeholder
            assert node["ACCESS"] in (1, 2, 3)
            assert isinstance(node["VALUE"], list) and len(node["VALUE"]) == n_args
        else:
            assert node["ACCESS"] == 0 and n_args == 0  # only a method without arguments has no value
        if "RANGE" in node:
            assert isinstance(node["RANGE"], list) and len(node["RANGE"]) == n_args
            for r in node["RANGE"]:
                assert set(r) <= {"MIN", "MAX", "VALS"}
                if "MIN" in r and "MAX" in r:
                    assert r["MIN"] <= r["MAX"]
    for key, child in node.get("CONTENTS", {}).items():
        methods += check_node(child, f"{path.rstrip('/')}/{key}")
    return methods


def test_tree_follows_the_specification(oscquery_served: tuple[OscQueryServer, ParamStore]) -> None:
    server, store = oscquery_served
    status, root = get(server, "/")
    assert status == 200
    methods = check_node(root, "/")
    zoom = root["CONTENTS"]["vj"]["CONTENTS"]["zoom"]
    assert zoom["TYPE"] == "f" and zoom["ACCESS"] == ACCESS_RW
    assert zoom["RANGE"] == [{"MIN": 0.5, "MAX": 2.0}] and zoom["VALUE"] == [pytest.approx(1.02)]
    assert zoom["DESCRIPTION"]
    border = root["CONTENTS"]["vj"]["CONTENTS"]["border"]
    assert border["TYPE"] == "s" and border["RANGE"] == [{"VALS": ["replicate", "reflect", "wrap", "zeros"]}]
    assert root["CONTENTS"]["vj"]["CONTENTS"]["steps"]["TYPE"] == "i"
    assert methods >= 2 * len(store.registry) + 16  # params, /norm, prompts and weights, commands
    lfo = root["CONTENTS"]["vj"]["CONTENTS"]["lfo"]["CONTENTS"]
    assert set(lfo) == {n for n, spec in store.registry.items() if spec.numeric}
    assert set(lfo["zoom"]["CONTENTS"]) == {"set", "depth", "rate"}
    assert zoom["CLIPMODE"] == "both"  # out-of-range values are refused, not passed through


def test_value_query_answers_the_current_value(oscquery_served: tuple[OscQueryServer, ParamStore]) -> None:
    server, store = oscquery_served
    assert get(server, "/vj/zoom?VALUE") == (200, {"VALUE": [pytest.approx(1.02)]})
    store.set("zoom", 1.3)
    assert get(server, "/vj/zoom?VALUE") == (200, {"VALUE": [pytest.approx(1.3)]})  # the target until a frame
    store.snapshot(0, 0.0, 1.0)
    status, body = get(server, "/vj/zoom?VALUE")
    assert status == 200 and body["VALUE"][0] == pytest.approx(1.3, abs=0.05)  # the smoothed on-screen value
    store.set_prompt(1, "fog")
    assert get(server, "/vj/prompt/1/text?VALUE") == (200, {"VALUE": ["fog"]})
    assert get(server, "/vj/bpm?VALUE") == (200, {"VALUE": [128.0]})
    assert get(server, "/vj/norm/zoom?RANGE") == (200, {"RANGE": [{"MIN": 0.0, "MAX": 1.0}]})


def test_host_info_and_error_codes(oscquery_served: tuple[OscQueryServer, ParamStore]) -> None:
    server, _ = oscquery_served
    status, info = get(server, "/?HOST_INFO")
    assert status == 200
    assert info["NAME"] == "vj" and info["OSC_PORT"] == 9000 and info["OSC_TRANSPORT"] == "UDP"
    assert info["OSC_IP"] == "127.0.0.1" and info["EXTENSIONS"]["VALUE"] is True
    assert get(server, "/vj/warp_speed")[0] == 404
    assert get(server, "/vj/zoom?COLOUR")[0] == 400
    assert get(server, "/vj/preset?VALUE")[0] == 204  # write-only: no value to read
    assert get(server, "/vj/zoom")[1]["FULL_PATH"] == "/vj/zoom"
    assert server.requests == 5 and server.errors == 2  # 404 and 400 are errors; 204 is an answer


def test_missing_zeroconf_is_logged_clearly(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    real_import = builtins.__import__

    def no_zeroconf(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "zeroconf":
            raise ImportError("No module named 'zeroconf'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_zeroconf)
    server = OscQueryServer(ParamStore(), osc_host="127.0.0.1", osc_port=9000, http_port=0)
    with caplog.at_level(logging.WARNING, logger="vj.control.oscquery"):
        server._advertise()
    assert "zeroconf is not installed" in caplog.text and not server.advertised


# ---------------------------------------------------------------------- a real third-party client
def oscquery_client(server: OscQueryServer) -> Any:
    """python-oscquery's client, pointed at the server on loopback (no multicast discovery needed)."""
    from pythonoscquery.osc_query_client import OSCQueryClient
    from zeroconf import ServiceInfo

    info = ServiceInfo("_oscjson._tcp.local.", "vj-test._oscjson._tcp.local.",
                       addresses=[socket.inet_aton("127.0.0.1")], port=server.port)
    return OSCQueryClient(info)


def test_python_oscquery_reads_the_whole_tree_and_every_node() -> None:
    pytest.importorskip("pythonoscquery", reason="python-oscquery is in the test extra")
    store = ParamStore(base={"zoom": 1.02})
    tempo = TempoClock(128.0)
    bank = ModulatorBank(store, tempo)
    bank.assign("angle", parse_lfo("triangle", 2.0, 5.0, 1.0))
    store.set_prompt(1, "fog")
    store.set_prompt_weight(1, 0.4)
    server = OscQueryServer(store, osc_host="127.0.0.1", osc_port=9000, http_port=0, tempo=tempo,
                            advertise=False, modulators=bank)
    server.start()
    try:
        client = oscquery_client(server)
        root = client.query_node("/")
        nodes = {node.full_path: node for node in root}
        assert len(nodes) > 3 * len(store.registry)
        for path, node in nodes.items():  # each node on its own, as a client browsing the tree asks
            alone = client.query_node(path)
            assert alone is not None and alone.full_path == path
            if path != "/vj/beat":  # the beat moves on between two requests
                assert alone.value == node.value
        for name in store.registry:
            assert nodes[f"/vj/{name}"].value == [store.target(name)]
            spec = store.registry[name]
            assert nodes[f"/vj/norm/{name}"].value == [pytest.approx(spec.to_normalised(store.target(name)))]
        assert nodes["/vj/zoom"].value == [pytest.approx(1.02)]
        assert nodes["/vj/prompt/1/text"].value == ["fog"]
        assert nodes["/vj/prompt/1/weight"].value == [pytest.approx(0.4)]
        assert nodes["/vj/lfo/angle/set"].value == ["triangle", 2.0, 5.0, 1.0]
        assert nodes["/vj/lfo/angle/depth"].value == [5.0] and nodes["/vj/lfo/zoom/set"].value[0] == "off"
        assert nodes["/vj/bpm"].value == [128.0]
        assert nodes["/vj/zoom"].is_container is False and nodes["/vj/prompt/1"].is_container is True
        info = client.get_host_info()
        assert info is not None and info.osc_port == 9000 and info.osc_transport == "UDP"
    finally:
        server.close()


def test_the_tree_shows_only_the_slots_the_show_loaded() -> None:
    pytest.importorskip("pythonoscquery", reason="python-oscquery is in the test extra")
    store = ParamStore(base={"controlnet_0_scale": 0.6})
    hidden = unused_slots(loras=0, controlnets=1)  # a show with no LoRA and one ControlNet unit
    server = OscQueryServer(store, osc_host="127.0.0.1", osc_port=9000, http_port=0, advertise=False,
                            modulators=ModulatorBank(store, TempoClock(120.0)), hidden=hidden)
    server.start()
    try:
        nodes = {node.full_path: node for node in oscquery_client(server).query_node("/")}
        assert nodes["/vj/controlnet_0_scale"].value == [pytest.approx(0.6)]
        assert "/vj/norm/controlnet_0_scale" in nodes and "/vj/lfo/controlnet_0_scale/set" in nodes
        assert "/vj/controlnet_scale" in nodes  # the master gain is no slot
        for name in hidden:
            assert not any(path.rstrip("/").split("/")[-1] == name or f"/{name}/" in path for path in nodes), name
        assert get(server, "/vj/lora_0_scale")[0] == 404
        assert name_list(get(server, "/vj/release")[1]) == [n for n in store.registry if n not in hidden]
    finally:
        server.close()
    everything = {node.full_path for node in _served_tree(store)}
    assert {f"/vj/{n}" for n in hidden} <= everything  # without `hidden`, every slot is there


def name_list(release: dict[str, Any]) -> list[str]:
    return [v for v in release["RANGE"][0]["VALS"] if v not in ("prompt", "all")]


def _served_tree(store: ParamStore) -> list[Any]:
    server = OscQueryServer(store, osc_host="127.0.0.1", osc_port=9000, http_port=0, advertise=False)
    server.start()
    try:
        return list(oscquery_client(server).query_node("/"))
    finally:
        server.close()


def test_a_client_hanging_up_mid_reply_is_one_log_line(oscquery_served: tuple[OscQueryServer, ParamStore],
                                                      capfd: pytest.CaptureFixture[str],
                                                      caplog: pytest.LogCaptureFixture) -> None:
    server, _ = oscquery_served
    with caplog.at_level(logging.INFO, logger="vj.control.oscquery"):
        for _ in range(5):
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            sock.close()
        deadline = time.monotonic() + 5
        while server.requests < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # let the request threads finish writing (or failing to)
    assert server.requests == 5
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception occurred" not in err
    assert server.hangups >= 1 and "hung up" in caplog.text
    assert get(server, "/vj/zoom?VALUE")[0] == 200  # still serving


def test_lfo_ranges_are_the_presets(oscquery_served: tuple[OscQueryServer, ParamStore]) -> None:
    """A client clips to these before it sends; a write outside them is refused as a preset's would be."""
    server, _ = oscquery_served
    assert get(server, "/vj/lfo/zoom/rate?RANGE") == (200, {"RANGE": [{"MIN": 0.01, "MAX": 1000.0}]})
    assert get(server, "/vj/lfo/zoom/depth?RANGE") == (200, {"RANGE": [{"MIN": -1e6, "MAX": 1e6}]})
