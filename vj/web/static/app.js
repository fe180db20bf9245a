// vj control surface: one WebSocket at /ws (JSON text both ways, JPEG preview frames as binary).
// No build step, no libraries: the page must work at a venue without internet.
"use strict";

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get("token");
const state = {};                 // the server's `state`, merged key by key
let targets = {}, values = {}, drivers = {};
let ws = null, retryMs = 500, lastSlot = 0, learnMode = false;
const touched = new Map();        // control -> time of the last local move (incoming values wait)
const HOLD_MS = 700;
const controls = {};              // name -> {row, input, readout, spec}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

// ---------------------------------------------------------------- connection
function connect() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  ws = new WebSocket(scheme + location.host + "/ws" + (token ? "?token=" + encodeURIComponent(token) : ""));
  ws.binaryType = "blob";
  ws.onopen = () => { retryMs = 500; setConnected(true); };
  ws.onclose = () => {
    setConnected(false);
    setTimeout(connect, retryMs);   // a network drop: keep trying; the server resends the whole state
    retryMs = Math.min(retryMs * 2, 5000);
  };
  ws.onmessage = (event) => {
    if (typeof event.data !== "string") { showFrame(event.data); return; }
    const msg = JSON.parse(event.data);
    if (msg.state) onState(msg.state);
    if (msg.values) onValues(msg.values);
    if (msg.status) onStatus(msg.status);
    if (msg.error) toast(msg.error.detail || msg.error.reason);
  };
}

function setConnected(up) {
  document.body.classList.toggle("offline", !up);
  $("conn").textContent = up ? "live" : "reconnecting…";
  $("conn").classList.toggle("up", up);
}

function send(message) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
}

// Fader moves are batched: at most one `set` every 33 ms, the newest value of each control.
const pendingSet = {};
let setTimer = null;
function sendSet(name, value) {
  pendingSet[name] = value;
  touched.set(name, performance.now());
  if (setTimer === null) setTimer = setTimeout(flushSet, 33);
}
function flushSet() {
  setTimer = null;
  const batch = Object.assign({}, pendingSet);
  for (const k of Object.keys(pendingSet)) delete pendingSet[k];
  if (Object.keys(batch).length) send({ set: batch });
}
function recentlyTouched(name) {
  const t = touched.get(name);
  return t !== undefined && performance.now() - t < HOLD_MS;
}

// ---------------------------------------------------------------- incoming
function onState(changed) {
  Object.assign(state, changed);
  if (changed.params) buildControls();
  if (changed.lfo_shapes || changed.params) buildLfoForm();
  if (changed.prompts || changed.limits || changed.params) renderPrompts();
  if (changed.history) renderHistory();
  if (changed.presets || changed.preset) renderPresets();
  if (changed.models || changed.model) renderModels();
  if (changed.record) renderRecord();
  if (changed.tempo) renderTempo();
  if (changed.quantise || changed.quantise_modes) renderQuantise();
  if (changed.lfos) renderLfos();
  if (changed.audio || changed.onset_actions) renderAudio();
  if (changed.learn) renderLearn();
  if (changed.performer) renderPerformer();
}

function renderPerformer() {
  const p = state.performer || {};
  for (const key of ["blackout", "freeze", "panic"]) $(key).disabled = !p.available;
  $("blackout").classList.toggle("on", !!p.blackout);
  $("freeze").classList.toggle("on", !!p.freeze);
}

function onValues(v) {
  values = v.values; targets = v.targets; drivers = v.drivers;
  for (const [name, c] of Object.entries(controls)) {
    const driven = drivers[name] || [];
    for (const d of ["live", "schedule", "lfo", "audio"]) c.row.classList.toggle(d, driven.includes(d));
    const shown = values[name] !== undefined ? values[name] : targets[name];
    c.readout.textContent = format(shown, c.spec);
    if (recentlyTouched(name)) continue;
    c.update(targets[name]);
  }
  if (v.audio) showAudioMeters(v.audio);
}

function onStatus(s) {
  const parts = [];
  if (s.fps !== undefined) parts.push(`${Number(s.fps).toFixed(1)} fps`, `${Number(s.frame_ms).toFixed(1)} ms`,
                                       `frames ${s.frames}`, `dropped ${s.dropped}`);
  if (s.errors) parts.push(`errors ${s.errors}`);
  if (s.oom) parts.push(`out of memory ${s.oom}`);
  if (s.skipped) parts.push(`skipped ${s.skipped}`);
  parts.push(`pages ${s.pages}`);
  $("figures").textContent = parts.join(" · ");
  $("status-line").textContent = s.line || "";
  const rec = state.record || {};
  $("rec-info").textContent = rec.on ? `${rec.name} · ${clock(s.record_s)}` :
    (rec.available ? (rec.takes ? `${rec.takes} take${rec.takes > 1 ? "s" : ""} · ${rec.name}` : "idle") : "no recorder");
}

let frameUrl = null;
function showFrame(blob) {
  const url = URL.createObjectURL(blob);
  const img = $("preview");
  img.onload = () => { if (frameUrl && frameUrl !== url) URL.revokeObjectURL(frameUrl); frameUrl = url; };
  img.src = url;
}

function toast(text) {
  const t = $("toast");
  t.textContent = text;
  t.classList.add("show");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.remove("show"), 3500);
}

// ---------------------------------------------------------------- parameter controls
function format(value, spec) {
  if (value === undefined) return "";
  if (spec.kind === "float") return Number(value).toFixed(Math.abs(spec.max - spec.min) > 20 ? 2 : 4);
  return String(value);
}
function clock(seconds) {
  const s = Math.floor(seconds || 0);
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
}

function buildControls() {
  const root = $("groups");
  root.replaceChildren();
  for (const key of Object.keys(controls)) delete controls[key];
  for (const group of state.params) {
    const card = el("section", { class: "card group", id: "group-" + group.group }, el("h2", {}, group.group));
    for (const spec of group.params) card.append(buildControl(spec));
    root.append(card);
  }
}

function buildControl(spec) {
  const name = spec.name;
  const readout = el("span", { class: "value", id: "value-" + name });
  const release = el("button", { class: "release", title: "hand back to the schedule / preset",
                                 onclick: () => send({ release: name }) }, "release");
  const label = el("span", { class: "name", title: spec.description, onclick: () => learnTarget(name) }, name);
  const head = el("div", { class: "head" }, label,
    el("span", { class: "badge live" }, "live"), el("span", { class: "badge schedule" }, "sched"),
    el("span", { class: "badge lfo" }, "lfo"), el("span", { class: "badge audio" }, "audio"), readout, el("span", { class: "unit" }, spec.unit || ""), release);
  const row = el("div", { class: "param", id: "param-" + name }, head);
  const c = { row, readout, spec, update: () => {} };
  if (spec.kind === "choice") {
    const buttons = el("div", { class: "buttons" });
    for (const choice of spec.choices) {
      buttons.append(el("button", { "data-choice": choice, onclick: () => { sendSet(name, choice); mark(choice); } }, choice));
    }
    const mark = (v) => { for (const b of buttons.children) b.classList.toggle("on", b.dataset.choice === v); };
    c.update = mark;
    row.append(buttons);
  } else if (name === "seed") {
    row.append(buildSeed(c));
  } else {
    const step = spec.kind === "int" ? 1 : (spec.max - spec.min) / 1000;
    const input = el("input", { type: "range", id: "fader-" + name, min: spec.min, max: spec.max, step,
                                value: spec.default, "aria-label": name });
    input.addEventListener("input", () => sendSet(name, spec.kind === "int" ? parseInt(input.value, 10)
                                                                            : parseFloat(input.value)));
    input.addEventListener("pointerdown", () => touched.set(name, performance.now() + 60000));
    const letGo = () => touched.set(name, performance.now());
    input.addEventListener("pointerup", letGo);
    input.addEventListener("pointercancel", letGo);
    input.addEventListener("dblclick", () => sendSet(name, spec.default));
    c.input = input;
    c.update = (v) => { if (v !== undefined) input.value = v; };
    row.append(input);
  }
  controls[name] = c;
  return row;
}

function buildSeed(c) {
  const spec = c.spec;
  const box = el("input", { type: "number", id: "seed-input", min: spec.min, max: spec.max, step: 1,
                            inputmode: "numeric", "aria-label": "seed" });
  const put = (v) => { v = Math.max(spec.min, Math.min(spec.max, Math.round(v))); box.value = v; sendSet("seed", v); };
  box.addEventListener("keydown", (e) => { if (e.key === "Enter") put(Number(box.value)); });
  const lock = el("button", { id: "seed-lock", title: "lock: seed_behavior fixed (the seed stops moving)",
    onclick: () => {
      if (targets.seed_behavior === "fixed") {
        if ((drivers.seed_behavior || []).includes("live")) send({ release: "seed_behavior" });
        else sendSet("seed_behavior", "iter");
      } else sendSet("seed_behavior", "fixed");
    } }, "lock");
  const grid = el("div", { class: "seed" },
    el("button", { title: "previous seed", onclick: () => put(Number(box.value) - 1) }, "−"), box,
    el("button", { title: "next seed", onclick: () => put(Number(box.value) + 1) }, "+"),
    el("button", { title: "a random seed", onclick: () => put(Math.floor(Math.random() * spec.max)) }, "dice"), lock);
  c.update = (v) => {
    if (document.activeElement !== box && v !== undefined) box.value = v;
    lock.classList.toggle("on", targets.seed_behavior === "fixed");
  };
  return grid;
}

// ---------------------------------------------------------------- prompts
function renderPrompts() {
  const limits = state.limits || { prompts: 8, prompt_weight: 10 };
  const entries = (state.prompts && state.prompts.entries) || [];
  const wanted = Math.min(limits.prompts, Math.max(entries.length + 1, 1));
  const slots = $("slots");
  while (slots.children.length < wanted) slots.append(buildSlot(slots.children.length));
  while (slots.children.length > wanted && !slotInUse(slots.lastChild)) slots.lastChild.remove();
  [...slots.children].forEach((slot, i) => {
    const entry = entries[i] || { text: "", weight: 0 };
    const text = slot.querySelector("input[type=text]");
    if (document.activeElement !== text && !text.dataset.dirty) text.value = entry.text;
    if (text.dataset.sent === entry.text) { delete text.dataset.sent; slot.querySelector(".hint").textContent = ""; }
    const weight = slot.querySelector("input[type=range]");
    if (!recentlyTouched("prompt/" + i) && i < entries.length) weight.value = entry.weight;
    slot.querySelector(".w").textContent = (i < entries.length ? entry.weight : Number(weight.value)).toFixed(2);
  });
  const neg = $("negative");
  if (document.activeElement !== neg && state.prompts) neg.value = state.prompts.negative;
}

function slotInUse(slot) {
  const text = slot.querySelector("input[type=text]");
  return document.activeElement === text || text.value !== "";
}

function buildSlot(i) {
  const text = el("input", { type: "text", id: "prompt-" + i, enterkeyhint: "send", autocomplete: "off",
                             placeholder: `prompt ${i}, Enter to send` });
  const weight = el("input", { type: "range", id: "prompt-weight-" + i, min: 0, max: 2, step: 0.01, value: 1,
                               "aria-label": `weight of prompt ${i}` });
  const hint = el("span", { class: "hint" });
  text.addEventListener("focus", () => { lastSlot = i; });
  text.addEventListener("input", () => { text.dataset.dirty = "1"; });
  text.addEventListener("keydown", (e) => {
    if (e.key !== "Enter") return;
    sendPrompt(i, text.value);
  });
  weight.addEventListener("input", () => {
    touched.set("prompt/" + i, performance.now());
    slotW.textContent = Number(weight.value).toFixed(2);
    send({ prompt: { slot: i, weight: parseFloat(weight.value) } });
  });
  const slotW = el("span", { class: "w" }, "1.00");
  return el("div", { class: "slot", id: "slot-" + i },
    el("div", { class: "head" }, el("span", {}, `slot ${i}`), hint), text,
    el("div", { class: "weight" }, el("span", { class: "label" }, "weight"), weight, slotW));
}

function sendPrompt(i, value) {
  const slot = $("slot-" + i);
  const text = slot.querySelector("input[type=text]");
  const weight = parseFloat(slot.querySelector("input[type=range]").value);
  const entries = (state.prompts && state.prompts.entries) || [];
  const message = { slot: i, text: value };
  if (!entries[i] || entries[i].weight === 0) message.weight = weight > 0 ? weight : 1.0;
  send({ prompt: message });
  delete text.dataset.dirty;
  text.dataset.sent = value;
  slot.querySelector(".hint").textContent = state.quantise && state.quantise !== "off"
    ? `lands on the next ${state.quantise}` : "fading in";
}

function renderHistory() {
  const list = $("history");
  list.replaceChildren(...(state.history || []).map((text) =>
    el("li", {}, el("button", { title: "send to slot " + lastSlot, onclick: () => {
      const input = $("prompt-" + lastSlot);
      if (input) input.value = text;
      sendPrompt(lastSlot, text);
    } }, text))));
}

// ---------------------------------------------------------------- show
function renderPresets() {
  const box = $("presets");
  box.replaceChildren(...(state.presets || []).map((name) =>
    el("button", { class: name === state.preset ? "on" : "", onclick: () => send({ preset: name }) }, name)));
  $("playing").textContent = state.preset || "";
}

// A switch loads the model beside the playing one and crossfades on the grid: the status line shows its progress.
function renderModels() {
  const models = state.models || [];
  $("model-row").hidden = models.length === 0;
  $("models").replaceChildren(...models.map((source) =>
    el("button", { class: source === state.model ? "on" : "", title: "switch the model (loaded beside the playing one)",
                   onclick: () => send({ model: source }) }, source)));
}

function renderRecord() {
  const rec = state.record || {};
  const button = $("rec");
  button.disabled = !rec.available;
  button.classList.toggle("on", !!rec.on);
  button.textContent = rec.on ? "■ stop" : "● rec";
}

function renderTempo() {
  const bpm = $("bpm");
  if (document.activeElement !== bpm) bpm.value = state.tempo.bpm.toFixed(1);
  $("tempo-source").textContent = state.tempo.source;
}

function renderQuantise() {
  $("quantise").replaceChildren(...(state.quantise_modes || []).map((mode) =>
    el("button", { class: mode === state.quantise ? "on" : "", onclick: () => send({ quantise: mode }) }, mode)));
}

function renderLearn() {
  const learn = state.learn || {};
  const button = $("learn-toggle");
  button.disabled = !learn.available;
  button.title = learn.available ? "then tap the name of a control" : "needs a MIDI input (vj run --midi)";
  for (const c of Object.values(controls)) c.row.classList.remove("learning");
  if (learn.learning && controls[learn.learning]) controls[learn.learning].row.classList.add("learning");
  $("learn-info").textContent = learn.learning ? `move a MIDI control for ${learn.learning}` :
    (learnMode ? "tap a control's name" : (learn.available ? "" : "no MIDI input"));
  button.classList.toggle("on", learnMode || !!learn.learning);
  document.body.classList.toggle("learning", learnMode);
}

function learnTarget(name) {
  if (!learnMode) return;
  learnMode = false;
  send({ learn: name });
  renderLearn();
}

// ---------------------------------------------------------------- LFOs
function buildLfoForm() {
  const numeric = (state.params || []).flatMap((g) => g.params).filter((p) => p.kind !== "choice");
  $("lfo-param").replaceChildren(...numeric.map((p) => el("option", { value: p.name }, p.name)));
  $("lfo-shape").replaceChildren(...(state.lfo_shapes || []).map((s) => el("option", { value: s }, s)));
  suggestDepth();
}

function suggestDepth() {
  const spec = (state.params || []).flatMap((g) => g.params).find((p) => p.name === $("lfo-param").value);
  if (spec) $("lfo-depth").value = +((spec.max - spec.min) * 0.02).toPrecision(2);
}

function renderLfos() {
  $("lfo-list").replaceChildren(...Object.entries(state.lfos || {}).map(([name, lfo]) =>
    el("li", {}, el("span", {}, `${name}: ${lfo.shape} every ${lfo.rate} ${lfo.unit}, ±${lfo.depth}` +
                               (lfo.offset ? ` +${lfo.offset}` : "")),
       el("button", { onclick: () => send({ lfo: { param: name, off: true } }) }, "remove"))));
}

// ---------------------------------------------------------------- audio modulators
// "off" removes the modulator on the server (as /vj/audio/<param> off does); the page keeps its
// settings so "on" attaches it again as it was.
const audioOff = {};
// Names switched off here that no push has yet shown removed. A push the server built before it took
// the off (the echo of a depth move, say) still lists the name and must not switch the row back on;
// the first push without the name ends the wait, and a listing after that is a re-attach (another
// page, OSC). Should another controller re-attach before any push shows the removal, or the off be
// refused, no push ever lacks the name: after OFF_WAIT_MS the server's listing wins.
const audioOffPending = new Map();   // name -> performance.now() of the off click
const OFF_WAIT_MS = 5000;

function renderAudio() {
  const audio = state.audio || { available: false, mods: {}, sources: [] };
  $("audio-onset").replaceChildren(...(audio.available ? state.onset_actions || [] : []).map((action) =>
    el("button", { class: action === audio.onset ? "on" : "", onclick: () => send({ audio: { onset: action } }) },
       action)));
  const now = performance.now();
  for (const [name, since] of audioOffPending) {
    if (!(name in audio.mods) || now - since >= OFF_WAIT_MS) audioOffPending.delete(name);
  }
  const mods = Object.entries(audio.mods).filter(([name]) => !audioOffPending.has(name));
  for (const [name] of mods) delete audioOff[name];
  const entries = [...mods.map(([name, mod]) => [name, mod, true]),
                   ...Object.entries(audioOff).map(([name, mod]) => [name, mod, false])];
  // Rebuilt only when the list changes shape: a depth moving (this page's slider too) only moves its row.
  const shape = JSON.stringify(entries.map(([name, mod, on]) => [name, mod.source, mod.ranges, on]));
  if (shape !== renderAudio.shape) {
    renderAudio.shape = shape;
    $("audio-list").replaceChildren(...entries.map(([name, mod, on]) => audioRow(name, mod, on)));
  }
  for (const [name, mod, on] of entries) {
    const depth = $("audio-depth-" + name);
    if (!on || !depth || recentlyTouched("audio/" + name) || document.activeElement === depth) continue;
    depth.value = mod.depth;
    depth.parentNode.querySelector(".value").textContent = Number(mod.depth).toPrecision(3);
  }
  $("audio-info").textContent = !audio.available ? "no audio modulators in this session" :
    (entries.length ? "" : "none loaded: a preset's [modulators.audio.<param>], or /vj/audio/<param> over OSC");
}

function audioRow(name, mod, on) {
  const [lo, hi] = mod.ranges.depth;
  const depth = el("input", { type: "range", id: "audio-depth-" + name, min: lo, max: hi, step: (hi - lo) / 1000,
                              value: mod.depth, "aria-label": `audio depth of ${name}` });
  const readout = el("span", { class: "value" }, Number(mod.depth).toPrecision(3));
  depth.disabled = !on;
  depth.addEventListener("input", () => {
    touched.set("audio/" + name, performance.now());
    readout.textContent = Number(depth.value).toPrecision(3);
    send({ audio: { param: name, depth: parseFloat(depth.value) } });
  });
  const toggle = el("button", { id: "audio-toggle-" + name, class: on ? "on" : "", onclick: () => {
    if (on) {
      // the slider's depth: the state echoing this page's last move may still be on its way
      audioOff[name] = { ...((state.audio && state.audio.mods[name]) || mod), depth: parseFloat(depth.value) };
      send({ audio: { param: name, off: true } });
      audioOffPending.set(name, performance.now());
      setTimeout(renderAudio, OFF_WAIT_MS + 50);   // a listing still there then is shown on
      renderAudio();
    } else {
      send({ audio: { param: name, source: mod.source, depth: mod.depth, offset: mod.offset,
                      attack_ms: mod.attack_ms, release_ms: mod.release_ms, curve: mod.curve } });
      // Listings count again. Shown now: should the server take the off and this on between two pushes,
      // its state never changes and no push comes to show the row on.
      audioOffPending.delete(name);
      renderAudio();
    }
  } }, on ? "on" : "off");
  const meter = el("meter", { id: "audio-meter-" + name, min: Math.min(lo, 0), max: Math.max(hi, 0), value: 0 });
  return el("li", { id: "audio-" + name, class: on ? "" : "off" },
    el("div", { class: "head" }, el("span", { class: "name" }, `${name} ← ${mod.source}`), readout, toggle),
    depth, meter);
}

function showAudioMeters(meters) {
  const box = $("audio-meters");
  const sources = Object.keys(meters.levels);
  if (box.children.length !== sources.length) {
    box.replaceChildren(...sources.map((s) => el("label", { class: "meter" }, s,
      el("meter", { id: "level-" + s, min: 0, max: 1, value: 0 }))));
  }
  for (const [s, level] of Object.entries(meters.levels)) { const m = $("level-" + s); if (m) m.value = level; }
  for (const [name, offset] of Object.entries(meters.offsets)) {
    const m = $("audio-meter-" + name);
    if (m) m.value = offset;
  }
}

// ---------------------------------------------------------------- reference picture
// Announced with its size, then sent in binary chunks that each stay under the server's frame limit.
const UPLOAD_CHUNK = 48 * 1024;
async function uploadReference(file) {
  if (!file || !ws || ws.readyState !== WebSocket.OPEN) return;
  const bytes = new Uint8Array(await file.arrayBuffer());
  send({ reference: { upload: bytes.length } });
  for (let start = 0; start < bytes.length; start += UPLOAD_CHUNK) ws.send(bytes.subarray(start, start + UPLOAD_CHUNK));
  toast("reference: " + file.name);
}

// ---------------------------------------------------------------- wiring
function wire() {
  $("reference-file").addEventListener("change", (e) => uploadReference(e.target.files[0]));
  $("reference-grab-output").addEventListener("click", () => send({ reference: { grab: "output" } }));
  $("reference-grab-input").addEventListener("click", () => send({ reference: { grab: "input" } }));
  $("reference-off").addEventListener("click", () => send({ reference: "off" }));
  $("release-all").addEventListener("click", () => send({ release: "all" }));
  $("panic").addEventListener("click", () => send({ panic: true }));
  $("blackout").addEventListener("click", () => send({ blackout: !(state.performer && state.performer.blackout) }));
  $("freeze").addEventListener("click", () => send({ freeze: !(state.performer && state.performer.freeze) }));
  $("rec").addEventListener("click", () => send({ record: !(state.record && state.record.on) }));
  $("tap").addEventListener("click", () => send({ tap: true }));
  $("bpm").addEventListener("keydown", (e) => { if (e.key === "Enter") send({ bpm: parseFloat($("bpm").value) }); });
  $("bpm").addEventListener("change", () => send({ bpm: parseFloat($("bpm").value) }));
  $("negative").addEventListener("keydown", (e) => { if (e.key === "Enter") send({ negative: $("negative").value }); });
  $("learn-toggle").addEventListener("click", () => {
    if (state.learn && state.learn.learning) send({ learn: "off" });
    learnMode = !learnMode && !(state.learn && state.learn.learning);
    renderLearn();
  });
  $("lfo-param").addEventListener("change", suggestDepth);
  $("lfo-assign").addEventListener("click", () => send({ lfo: {
    param: $("lfo-param").value, shape: $("lfo-shape").value, rate: parseFloat($("lfo-rate").value),
    depth: parseFloat($("lfo-depth").value), offset: parseFloat($("lfo-offset").value) || 0 } }));
}

wire();
connect();
