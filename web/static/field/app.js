/* The crews' offline field app: the offline bundle, the phone's position on the map, records kept in IndexedDB
   under an id made on the phone until the server acknowledges them, and the sync that sends them one by one
   (photos first, each once). */
(() => {
  "use strict";

  const body = document.body;
  const T = JSON.parse(document.getElementById("field-strings").textContent);
  const API = body.dataset.api;
  const LOGIN = body.dataset.login;
  const $ = (id) => document.getElementById(id);
  const fmt = (text, values) => text.replace(/\{(\w+)\}/g, (_m, k) => String(values[k]));
  let csrf = body.dataset.csrf;
  body.dataset.syncing = "0";
  let bundle = { outfalls: [], tasks: [], types: [], radius_m: 20, reference: null };
  let here = null;
  let walk = null;
  let syncing = false;
  let map = null;
  let layers = {};

  const dbp = idb.openDB(`outfalls-field-${LOGIN}`, 1, {
    upgrade(db) {
      db.createObjectStore("records", { keyPath: "client_id" });
      db.createObjectStore("results", { keyPath: "client_id" });
      db.createObjectStore("bundle");
    },
  });

  function newId() {
    if (crypto.randomUUID) return `f-${crypto.randomUUID()}`;
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return `f-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
  }

  function metres(a, b) {
    const r = 6371008.8;
    const rad = Math.PI / 180;
    const dLat = (b.lat - a.lat) * rad;
    const dLon = (b.lon - a.lon) * rad;
    const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
    return 2 * r * Math.asin(Math.sqrt(h));
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v;
      else if (k.startsWith("data-")) node.setAttribute(k, v);
      else if (k === "onclick") node.addEventListener("click", v);
      else node[k] = v;
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  function say(text) {
    $("sync-message").textContent = text || "";
  }

  // --- the offline bundle ------------------------------------------------------------------------------------

  async function loadBundle() {
    const db = await dbp;
    if (navigator.onLine) {
      try {
        const response = await fetch(`${API}/bundle`, { credentials: "same-origin" });
        if (response.ok) {
          bundle = await response.json();
          csrf = bundle.csrf_token;
          await db.put("bundle", bundle, "current");
          return;
        }
      } catch (_err) {
        /* no network after all: the kept copy below */
      }
    }
    bundle = (await db.get("bundle", "current")) || bundle;
    if (bundle.csrf_token) csrf = bundle.csrf_token;
  }

  // --- map and position --------------------------------------------------------------------------------------

  function setupMap() {
    map = L.map("field-map", { zoomControl: true, attributionControl: false });
    // the intranet basemap, if any, with its credit line in the corner (the same code as every other map)
    window.outfallsBasemap(map, body.dataset.basemap
      ? { url: body.dataset.basemap, attribution: body.dataset.basemapAttribution } : null);
    L.tileLayer(body.dataset.tiles, { maxZoom: 21, maxNativeZoom: 20 }).addTo(map);
    layers.reference = L.geoJSON(null, {
      style: (f) => (f.properties.kind === "river" ? { color: "#2b83ba", weight: 3 } : { color: "#777", weight: 1, dashArray: "4 4" }),
    }).addTo(map);
    layers.outfalls = L.layerGroup().addTo(map);
    layers.candidates = L.layerGroup().addTo(map);
    layers.walk = L.polyline([], { color: "#d7191c", weight: 4 }).addTo(map);
    layers.me = L.circleMarker([0, 0], { radius: 8, color: "#fff", weight: 3, fillColor: "#1a73e8", fillOpacity: 1 });
    layers.accuracy = L.circle([0, 0], { radius: 1, color: "#1a73e8", weight: 1, fillOpacity: 0.12 });
    map.setView([34.3, 108.9], 10);
  }

  function drawBundle() {
    layers.reference.clearLayers();
    if (bundle.reference) layers.reference.addData(bundle.reference);
    layers.outfalls.clearLayers();
    for (const o of bundle.outfalls) {
      L.circleMarker([o.lat, o.lon], { radius: 6, color: "#333", weight: 1, fillColor: "#fdae61", fillOpacity: 0.9 })
        .bindTooltip(o.name).addTo(layers.outfalls);
    }
    layers.candidates.clearLayers();
    for (const s of stops()) {
      L.circleMarker([s.lat, s.lon], { radius: 7, color: "#7b3294", weight: 3, fillOpacity: 0 })
        .bindTooltip(`${s.seq}. ${s.name}`).addTo(layers.candidates);
    }
    const box = bundle.reference && bundle.reference.bbox;
    if (!here && box) map.fitBounds([[box[1], box[0]], [box[3], box[2]]]);
  }

  function stops() {
    return bundle.tasks.flatMap((t) => t.stops);
  }

  function watchPosition() {
    if (!navigator.geolocation) {
      $("position").textContent = T.no_gps;
      return;
    }
    navigator.geolocation.watchPosition(onPosition, () => {
      if (!here) $("position").textContent = T.no_gps;
    }, { enableHighAccuracy: true, maximumAge: 5000, timeout: 30000 });
  }

  function onPosition(p) {
    const first = !here;
    here = { lon: p.coords.longitude, lat: p.coords.latitude, accuracy_m: Math.round(p.coords.accuracy * 10) / 10,
      at: new Date(p.timestamp).toISOString() };
    const ll = [here.lat, here.lon];
    layers.me.setLatLng(ll).addTo(map);
    layers.accuracy.setLatLng(ll).setRadius(Math.max(here.accuracy_m, 1)).addTo(map);
    $("position").textContent = `${here.lat.toFixed(6)}, ${here.lon.toFixed(6)} · ${fmt(T.accuracy, { m: Math.round(here.accuracy_m) })}`;
    $("position").dataset.accuracy = String(here.accuracy_m);
    if (first) map.setView(ll, 17);
    if (walk) {
      walk.points.push([here.lon, here.lat, here.at]);
      layers.walk.addLatLng(ll);
      $("walk").textContent = fmt(T.stop_walk, { n: walk.points.length });
    }
    renderNearby();
  }

  function nearby() {
    if (!here) return [];
    return bundle.outfalls.map((o) => ({ o, m: metres(here, o) }))
      .filter((x) => x.m <= bundle.radius_m).sort((a, b) => a.m - b.m);
  }

  function renderNearby() {
    const list = $("nearby");
    list.replaceChildren();
    const near = nearby();
    if (!near.length) {
      list.append(el("li", { class: "muted" }, fmt(T.none_nearby, { m: bundle.radius_m })));
      return;
    }
    for (const { o, m } of near) {
      list.append(el("li", { "data-outfall": o.id },
        el("span", {}, el("b", {}, o.name), ` · ${Math.round(m)} m`),
        el("button", { type: "button", onclick: () => openDialog("visit", { outfall: o }) }, T.add_visit)));
    }
  }

  // --- the record dialog -------------------------------------------------------------------------------------

  const dialog = $("record-dialog");
  const form = $("record-form");
  let editing = null;

  function fillTypes() {
    const select = $("type-select");
    for (const t of bundle.types || []) {
      if (select.querySelector(`option[value="${CSS.escape(t.code)}"]`)) continue;
      select.append(el("option", { value: t.code }, `${t.code} ${body.dataset.lang === "en" ? t.en : t.zh}`));
    }
  }

  function openDialog(kind, { outfall = null, stop = null, record = null } = {}) {
    editing = record;
    form.reset();
    $("record-error").hidden = true;
    form.elements.kind.value = kind;
    const target = outfall || (stop && { id: stop.outfall_id, version: stop.version, name: stop.name });
    form.elements.outfall_id.value = target ? target.id : "";
    form.elements.version.value = target ? target.version : "";
    for (const fs of form.querySelectorAll("fieldset[data-for]")) {
      fs.hidden = !fs.dataset.for.split(" ").includes(kind);
      fs.disabled = fs.hidden;
    }
    $("record-title").textContent = target ? `${T[kind]} · ${target.name}` : T[kind];
    const warning = $("near-warning");
    warning.hidden = true;
    warning.replaceChildren();
    if (kind === "new_outfall") {
      const near = nearby();
      if (near.length) {
        const { o, m } = near[0];
        warning.append(el("p", {}, fmt(T.near, { name: o.name, m: Math.round(m) })),
          el("button", { type: "button", onclick: () => openDialog("visit", { outfall: o }) }, T.add_visit));
        warning.hidden = false;
      }
    }
    if (record) {
      for (const [k, v] of Object.entries(record.body)) {
        const field = form.elements[k];
        if (field && field.type !== "file" && !(field instanceof RadioNodeList) && v !== null && typeof v !== "object") field.value = String(v);
        else if (field instanceof RadioNodeList) field.value = String(v);
      }
      for (const t of record.body.quick_tests || []) if (form.elements[`qt_${t.parameter}`]) form.elements[`qt_${t.parameter}`].value = t.value;
      showError(record.error);
    }
    $("record-position").textContent = here ? $("position").textContent : T.waiting_gps;
    dialog.showModal();
  }

  // A refusal in the crew's language: by its stable reason key when the page knows it (with its numbers filled
  // in), else the server's own words.
  function worded(e) {
    const text = e.reason && T.reasons[e.reason];
    if (!text) return e.message || "";
    return text.replace(/%\((\w+)\)s/g, (_m, k) => String((e.params || {})[k] ?? ""));
  }

  // The record's field as the form labels it ("position.lat" → the label of the form's "lat" input).
  function fieldLabel(name) {
    const key = name.replace(/^position\./, "").replace(/\[\d+\].*$/, "");
    const input = form.elements[key];
    const label = input && input.labels && input.labels[0];
    return label ? label.textContent.trim() : name;
  }

  // What became of an acknowledged record, in the crew's language.
  function outcome(r) {
    const d = r.details || {};
    if (r.review_item_id) return fmt(T.result_review, { reason: T.review_reasons[d.reason] || d.reason || "" });
    if (r.visit_id) return fmt(T.result_visit, { id: r.outfall_id });
    if (r.track_ids && r.track_ids.length) return T.result_track;
    if (d.new_outfall) return fmt(T.result_new, { id: r.outfall_id });
    if (d.confirmed) return fmt(T.result_confirmed, { id: r.outfall_id });
    if (d.linked) return fmt(T.result_linked, { id: r.outfall_id });
    return r.message || "";
  }

  function showError(error) {
    const box = $("record-error");
    if (!error) return;
    const lines = (error.errors && error.errors.length ? error.errors : [{ field: "", message: error.message }])
      .map((e) => (e.field ? `${fieldLabel(e.field)}: ${worded(e)}` : worded(e)));
    box.textContent = lines.join("\n");
    box.hidden = false;
  }

  function value(name) {
    const field = form.elements[name];
    if (!field || (field.disabled !== undefined && field.closest("fieldset[disabled]"))) return null;
    const v = (field.value || "").trim();
    return v === "" ? null : v;
  }

  function buildRecord(kind) {
    const now = new Date().toISOString();
    const rec = { client_id: newId(), kind, captured_at: now, crew: value("crew") };
    if (kind !== "track") rec.position = here ? { ...here } : null;
    if (kind === "verify" || kind === "reject" || kind === "visit") {
      rec.outfall_id = Number(form.elements.outfall_id.value);
      rec.version = Number(form.elements.version.value);
    }
    if (kind === "new_outfall" || kind === "verify") {
      for (const n of ["name", "national_code", "local_code", "type", "receiving_water", "entry_method", "colour",
        "turbidity", "odour", "notes", "name_provenance", "national_code_provenance", "local_code_provenance",
        "discharging"]) rec[n] = value(n);
      for (const n of ["name", "national_code", "local_code"]) if (!rec[n]) rec[`${n}_provenance`] = "unknown";
      const oil = value("oil_film");
      rec.oil_film = oil === null ? null : oil === "true";
    } else if (kind === "reject") {
      rec.reason = value("reason");
      rec.notes = value("notes");
    } else if (kind === "visit") {
      for (const n of ["discharge", "not_possible_reason", "colour", "turbidity", "odour", "notes"]) rec[n] = value(n);
      const oil = value("oil_film");
      rec.oil_film = oil === null ? null : oil === "true";
      rec.quick_tests = [];
      for (const input of form.querySelectorAll("input[name^=qt_]")) {
        const v = input.value.trim().replace(",", ".");
        if (v !== "") rec.quick_tests.push({ parameter: input.name.slice(3), value: Number(v), unit: input.dataset.unit });
      }
    }
    for (const k of Object.keys(rec)) if (rec[k] === null) delete rec[k];
    return rec;
  }

  async function saveRecord(event) {
    event.preventDefault();
    const kind = form.elements.kind.value;
    if (!here) return showError({ message: T.need_position });
    const rec = buildRecord(kind);
    const photos = editing ? { ...editing.photos } : {};
    for (const input of form.querySelectorAll("fieldset:not([disabled]) input[type=file]")) {
      const file = input.files && input.files[0];
      if (file) photos[input.name.slice(6)] = { blob: file, name: file.name || `${input.name.slice(6)}.jpg` };
    }
    if (kind === "reject" && !rec.reason) return showError({ message: T.need_reason });
    if (kind === "reject" && !photos.site) return showError({ message: T.need_photo });
    rec.photos = Object.keys(photos);
    if (editing && editing.body.position) rec.position = editing.body.position; // where it was made, not here
    const db = await dbp;
    if (editing) await db.delete("records", editing.client_id);
    await db.put("records", { client_id: rec.client_id, kind, body: rec, photos, sent_photos: [], state: "waiting",
      error: null, saved_at: Date.now(), title: rec.name && kind === "new_outfall" ? `${T[kind]} · ${rec.name}` : $("record-title").textContent });
    dialog.close();
    say(T.saved);
    await render();
    if (navigator.onLine) sync();
  }

  // --- walking -----------------------------------------------------------------------------------------------

  async function toggleWalk() {
    const button = $("walk");
    if (!walk) {
      walk = { points: here ? [[here.lon, here.lat, here.at]] : [], started: new Date().toISOString() };
      layers.walk.setLatLngs(here ? [[here.lat, here.lon]] : []);
      button.dataset.walking = "1";
      button.textContent = fmt(T.stop_walk, { n: walk.points.length });
      return;
    }
    const done = walk;
    walk = null;
    button.dataset.walking = "0";
    button.textContent = T.start_walk;
    if (done.points.length < 2) return;
    const rec = { client_id: newId(), kind: "track", captured_at: new Date().toISOString(), points: done.points, photos: [] };
    const db = await dbp;
    await db.put("records", { client_id: rec.client_id, kind: "track", body: rec, photos: {}, sent_photos: [],
      state: "waiting", error: null, saved_at: Date.now(), title: T.track });
    await render();
    if (navigator.onLine) sync();
  }

  // --- sync --------------------------------------------------------------------------------------------------

  async function send(url, options) {
    const go = () => fetch(url, { credentials: "same-origin", ...options, headers: { ...options.headers, "X-CSRF-Token": csrf } });
    let response = await go();
    if (response.status === 403) { // perhaps an old page's CSRF token: take a fresh one and try once more
      const fresh = await fetch(`${API}/bundle`, { credentials: "same-origin" });
      if (fresh.ok) {
        bundle = await fresh.json();
        csrf = bundle.csrf_token;
        response = await go();
      }
    }
    return response;
  }

  async function refusal(db, rec, response) {
    if (response.status === 401) return "stop";
    if (response.status >= 500 || response.status === 429) return "stop";
    let error = {};
    try {
      error = await response.json();
    } catch (_err) {
      error = { message: `HTTP ${response.status}` };
    }
    rec.state = "refused";
    rec.error = { message: error.message || `HTTP ${response.status}`, errors: (error.details && error.details.errors) || [] };
    await db.put("records", rec);
    return "next";
  }

  async function sendOne(db, rec) {
    for (const slot of Object.keys(rec.photos)) {
      if (rec.sent_photos.includes(slot)) continue;
      const photo = rec.photos[slot];
      const url = `${API}/records/${encodeURIComponent(rec.client_id)}/photos/${slot}?name=${encodeURIComponent(photo.name)}`;
      const response = await send(url, { method: "PUT", body: photo.blob, headers: { "Content-Type": photo.blob.type || "image/jpeg" } });
      if (!response.ok) return refusal(db, rec, response);
      rec.sent_photos.push(slot);
      await db.put("records", rec);
    }
    const response = await send(`${API}/records`, { method: "POST", body: JSON.stringify(rec.body), headers: { "Content-Type": "application/json" } });
    if (!response.ok) return refusal(db, rec, response);
    const answer = await response.json();
    const tx = db.transaction(["records", "results"], "readwrite");
    await tx.objectStore("results").put({ client_id: rec.client_id, kind: rec.kind, title: rec.title, status: answer.status,
      message: answer.message, outfall_id: answer.outfall_id, review_item_id: answer.review_item_id,
      visit_id: answer.visit_id, track_ids: answer.track_ids, details: answer.details, at: Date.now() });
    await tx.objectStore("records").delete(rec.client_id); // acknowledged: only now does it leave the phone
    await tx.done;
    return "ok";
  }

  async function sync() {
    if (syncing) return;
    if (!navigator.onLine) {
      say(T.sync_later);
      return;
    }
    syncing = true;
    body.dataset.syncing = "1";
    say(T.syncing);
    let stopped = false;
    let sent = 0;
    try {
      const db = await dbp;
      const waiting = (await db.getAll("records")).filter((r) => r.state === "waiting").sort((a, b) => a.saved_at - b.saved_at);
      for (const rec of waiting) {
        let outcome;
        try {
          outcome = await sendOne(db, rec);
        } catch (_err) {
          outcome = "stop"; // the network went away midway: the rest waits, nothing is lost
        }
        if (outcome === "ok") sent += 1;
        if (outcome === "stop") {
          stopped = true;
          break;
        }
      }
      if (sent) await loadBundle();
    } finally {
      syncing = false;
      body.dataset.syncing = "0";
      say(stopped ? T.sync_later : T.synced);
      await render();
    }
  }

  // --- lists -------------------------------------------------------------------------------------------------

  async function render() {
    const db = await dbp;
    const records = (await db.getAll("records")).sort((a, b) => a.saved_at - b.saved_at);
    const results = (await db.getAll("results")).sort((a, b) => b.at - a.at);
    $("waiting-count").textContent = String(records.length);
    body.dataset.waiting = String(records.length);
    const waiting = $("waiting");
    waiting.replaceChildren();
    if (!records.length) waiting.append(el("li", { class: "muted" }, T.nothing_waiting));
    for (const r of records) {
      const photos = Object.keys(r.photos).length;
      const li = el("li", { "data-state": r.state, "data-client-id": r.client_id },
        el("span", {}, el("b", {}, r.title || T[r.kind]), photos ? ` · ${photos} ${T.photos}` : ""));
      if (r.state === "refused") {
        const first = r.error && (r.error.errors && r.error.errors.length ? r.error.errors[0] : r.error);
        li.append(el("span", { class: "error" }, `${T.refused}: ${first ? worded(first) : ""}`),
          el("button", { type: "button", onclick: () => openDialog(r.kind, { record: r, outfall: outfallOf(r) }) }, T.fix));
      }
      waiting.append(li);
    }
    const done = $("results");
    done.replaceChildren();
    for (const r of results.slice(0, 50)) {
      done.append(el("li", { "data-status": r.status, "data-client-id": r.client_id },
        el("span", {}, el("b", {}, r.title || T[r.kind]), ` · ${T[r.status] || r.status}`),
        el("span", { class: "muted" }, outcome(r))));
    }
    renderTasks(records, results);
  }

  function outfallOf(r) {
    if (!r.body.outfall_id) return null;
    const known = bundle.outfalls.find((o) => o.id === r.body.outfall_id) || stops().find((s) => s.outfall_id === r.body.outfall_id);
    return { id: r.body.outfall_id, version: r.body.version, name: known ? known.name : String(r.body.outfall_id) };
  }

  function renderTasks(records, results) {
    const list = $("tasks");
    list.replaceChildren();
    const done = new Set([...records.map((r) => r.body.outfall_id), ...results.map((r) => r.outfall_id)]);
    const all = stops();
    if (!all.length) list.append(el("li", { class: "muted" }, T.no_tasks));
    for (const s of all) {
      const li = el("li", { class: "stop", "data-outfall": s.outfall_id, "data-recorded": done.has(s.outfall_id) ? "1" : "0" });
      if (s.clip) {
        const frame = el("div", { class: "clip" }, el("img", { src: s.clip.src, alt: s.name, width: 128, height: 128 }));
        const cross = el("span", { class: "cross" });
        cross.style.left = `${s.clip.x / 2}px`;
        cross.style.top = `${s.clip.y / 2}px`;
        frame.append(cross);
        li.append(frame);
      }
      const distance = here ? ` · ${Math.round(metres(here, s))} m` : "";
      li.append(el("div", { class: "stop-text" },
        el("b", {}, `${s.seq}. ${s.name}`),
        el("span", { class: "muted" }, [s.type_code, s.river, s.note].filter(Boolean).join(" · ") + distance),
        el("div", { class: "actions" },
          el("button", { type: "button", class: "primary", onclick: () => openDialog("verify", { stop: s }) }, T.confirm),
          el("button", { type: "button", onclick: () => openDialog("reject", { stop: s }) }, T.reject))));
      list.append(li);
    }
  }

  function showNetwork() {
    const state = $("net-state");
    state.dataset.online = navigator.onLine ? "1" : "0";
    state.textContent = navigator.onLine ? T.online : T.offline;
  }

  // --- start -------------------------------------------------------------------------------------------------

  async function start() {
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.register(body.dataset.sw, { scope: body.dataset.scope }).catch(() => {});
    }
    setupMap();
    showNetwork();
    await loadBundle();
    fillTypes();
    drawBundle();
    await render();
    renderNearby();
    watchPosition();
    body.dataset.ready = "1";
    if (navigator.onLine) sync();
  }

  window.addEventListener("online", () => {
    showNetwork();
    sync();
  });
  window.addEventListener("offline", showNetwork);
  $("sync-button").addEventListener("click", () => sync());
  $("new-outfall").addEventListener("click", () => openDialog("new_outfall"));
  $("walk").addEventListener("click", toggleWalk);
  $("record-cancel").addEventListener("click", () => dialog.close());
  form.addEventListener("submit", saveRecord);
  $("logout-form").addEventListener("submit", (event) => {
    const n = Number(body.dataset.waiting || "0");
    if (n > 0 && !window.confirm(fmt(T.leave_waiting, { n }))) event.preventDefault();
  });
  start();
})();
