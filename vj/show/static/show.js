"use strict";
// The show page: one card per engine and one for all; a fader sends {"set": {engine, address, value}}.
const main = document.getElementById("engines");
const conn = document.getElementById("conn");
const cards = new Map();
let socket = null;
let faders = [];
let dragging = null;

function send(engine, address, value) {
  if (socket && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify({ set: { engine, address, value } }));
  }
}

function faderRow(engine, spec) {
  const label = document.createElement("label");
  const name = document.createElement("span");
  name.textContent = spec.address;
  name.title = spec.description;
  const input = document.createElement("input");
  input.type = "range";
  input.min = spec.min;
  input.max = spec.max;
  input.step = (spec.max - spec.min) / 1000;
  input.id = `fader-${engine === "*" ? "all" : engine}-${spec.address}`;
  const shown = document.createElement("output");
  input.addEventListener("pointerdown", () => { dragging = input; });
  input.addEventListener("pointerup", () => { dragging = null; });
  input.addEventListener("input", () => {
    shown.textContent = Number(input.value).toFixed(3);
    send(engine, spec.address, Number(input.value));
  });
  label.append(name, input, shown);
  return { label, input, shown };
}

function card(engine) {
  const section = document.createElement("section");
  section.className = "engine";
  section.dataset.engine = engine.name;
  section.id = `engine-${engine.name}`;
  const title = document.createElement("h2");
  const state = document.createElement("span");
  state.className = "state";
  const info = document.createElement("div");
  const note = document.createElement("div");
  note.className = "note";
  const rows = new Map();
  for (const spec of faders) {
    const row = faderRow(engine.name, spec);
    rows.set(spec.address, row);
  }
  section.append(title, info, note, ...[...rows.values()].map((r) => r.label));
  main.append(section);
  return { section, title, state, info, note, rows };
}

function update(show) {
  if (faders.length === 0 && show.faders.length > 0) {
    faders = show.faders;
    cards.clear();
    main.replaceChildren();
    const all = card({ name: "*" });
    all.title.textContent = "all engines";
    all.section.id = "engine-all";
    cards.set("*", all);
  }
  for (const engine of show.engines) {
    let c = cards.get(engine.name);
    if (!c) {
      c = card(engine);
      cards.set(engine.name, c);
    }
    c.title.replaceChildren(document.createTextNode(`${engine.name} `), c.state);
    c.state.textContent = engine.state;
    c.state.className = `state ${engine.state}`;
    const link = document.createElement("a");
    link.href = engine.page;
    link.textContent = "its page";
    link.target = "_blank";
    const ndi = engine.ndi ? ` · NDI "${engine.ndi}"` : "";
    c.info.replaceChildren(document.createTextNode(
      `${engine.fps.toFixed(1)} fps · frames ${engine.frames}${ndi}` +
      (engine.restarts ? ` · restarts ${engine.restarts}` : "") + " · "), link);
    c.note.textContent = engine.note;
    for (const [address, row] of c.rows) {
      const value = engine.values[address];
      if (typeof value === "number" && row.input !== dragging && document.activeElement !== row.input) {
        row.input.value = value;
        row.shown.textContent = value.toFixed(3);
      }
    }
  }
}

function connect() {
  const url = new URL("ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.search = location.search;
  socket = new WebSocket(url);
  socket.addEventListener("open", () => { conn.textContent = "live"; conn.className = "live"; });
  socket.addEventListener("close", () => {
    conn.textContent = "reconnecting";
    conn.className = "off";
    setTimeout(connect, 1000);
  });
  socket.addEventListener("message", (event) => {
    const data = JSON.parse(event.data);
    if (data.show) update(data.show);
  });
}

connect();
