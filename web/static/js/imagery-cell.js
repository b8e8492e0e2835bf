/* The analyst's page: a cell on the drone imagery at full resolution with rivers and outfalls. A small drawing
   tool on plain Leaflet marks suspected outfalls (points) and sensitive areas (polygons); reviewers accept, edit
   (drag a point) or reject marks. Keyboard: P point, A area, Enter close the area, Esc cancel, Del delete the
   selected mark, N done and next cell; when reviewing J/K next/previous, Y accept, R reject. */
(function () {
  'use strict';
  // Leaflet sets a string tooltip as HTML: names from the catalogue go in as text, never as markup.
  function textNode(s) { var span = document.createElement('span'); span.textContent = String(s); return span; }
  var cfg = JSON.parse(document.getElementById('imagery-config').textContent);
  var text = JSON.parse(document.getElementById('imagery-text').textContent);
  var labels = JSON.parse(document.getElementById('imagery-labels').textContent);
  var csrf = JSON.parse(document.getElementById('imagery-csrf').textContent);
  var el = document.getElementById('cell-map');
  var listEl = document.getElementById('marks');
  var errorEl = document.getElementById('mark-error');
  var form = document.getElementById('mark-form');
  var mode = cfg.mode;

  var map = L.map(el, { attributionControl: false, maxZoom: 23, doubleClickZoom: false, keyboard: false });
  L.control.scale({ imperial: false }).addTo(map);
  var imagery = L.tileLayer(cfg.tiles_url, { maxZoom: 23, maxNativeZoom: 22 }).addTo(map);
  imagery.on('loading', function () { el.dataset.tiles = 'loading'; });
  imagery.on('load', function () { el.dataset.tiles = 'loaded'; });
  var cellLayer = L.geoJSON(cfg.cell, { style: { color: '#ffeb3b', weight: 2, fill: false, dashArray: '6 4' }, interactive: false }).addTo(map);
  map.fitBounds(cellLayer.getBounds());
  map.createPane('marks').style.zIndex = '620';
  var overlays = {};
  overlays[text.imagery] = imagery;
  var layersControl = L.control.layers(null, overlays, { collapsed: true }).addTo(map);

  function api(method, url, body) {
    var opts = { method: method, credentials: 'same-origin', headers: { Accept: 'application/json', 'X-CSRF-Token': csrf } };
    if (body !== undefined) { opts.headers['Content-Type'] = 'application/json'; opts.body = JSON.stringify(body); }
    return fetch(url, opts).then(function (r) {
      if (r.status === 204) { return null; }
      return r.json().then(function (data) {
        if (!r.ok) { throw new Error(data.message || ('HTTP ' + r.status)); }
        return data;
      });
    });
  }
  function showError(err) {
    errorEl.textContent = err ? err.message : '';
    errorEl.hidden = !err;
  }

  // Context layers: rivers and the outfalls already in the catalogue.
  function get(url) {
    return fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) { if (!r.ok) { throw new Error(url + ': HTTP ' + r.status); } return r.json(); });
  }
  var b = map.getBounds().pad(1);
  var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(6); }).join(',');
  var context = Promise.all([
    get(cfg.rivers_url).then(function (data) {
      var rivers = L.geoJSON(data, { style: { color: '#29b6f6', weight: 2, opacity: 0.8 }, interactive: false }).addTo(map);
      layersControl.addOverlay(rivers, text.rivers);
    }),
    get(cfg.outfalls_url + '?bbox=' + bbox).then(function (data) {
      var outfalls = L.geoJSON(data, {
        pointToLayer: function (f, at) {
          return L.circleMarker(at, { radius: 6, color: '#fff', weight: 2, fillColor: '#8e24aa', fillOpacity: 1 });
        },
        onEachFeature: function (f, layer) { layer.bindTooltip(textNode((f.properties && f.properties.name) || f.id)); }
      }).addTo(map);
      layersControl.addOverlay(outfalls, text.outfalls);
    })
  ]);

  // --- the marks ---------------------------------------------------------------------------------------------
  var marks = [];       // GeoJSON features
  var layers = {};      // id -> Leaflet layer
  var selected = null;  // mark id

  function pinIcon(f) {
    var cls = 'mark-pin ' + f.properties.review + (f.properties.id === selected ? ' selected' : '');
    return L.divIcon({ className: '', html: '<div class="' + cls + '"></div>', iconSize: [16, 16], iconAnchor: [8, 8] });
  }
  function areaStyle(f) {
    var color = f.properties.review === 'rejected' ? '#9e9e9e' : (f.properties.review === 'pending' ? '#ff7043' : '#43a047');
    return { pane: 'marks', color: color, weight: f.properties.id === selected ? 4 : 2, fillOpacity: 0.2 };
  }
  function draw(f) {
    if (layers[f.id]) { map.removeLayer(layers[f.id]); }
    var layer;
    var canMove = f.properties.review === 'pending' && (mode === 'edit' || mode === 'review');
    if (f.geometry.type === 'Point') {
      layer = L.marker([f.geometry.coordinates[1], f.geometry.coordinates[0]], {
        pane: 'marks', icon: pinIcon(f), draggable: canMove, keyboard: false
      });
      layer.on('dragend', function () {
        var at = layer.getLatLng();
        var moved = { type: 'Point', coordinates: [at.lng, at.lat] };
        if (mode === 'edit') {
          save(f, moved, attrs(f));
        } else {
          f.pendingGeometry = moved;
          select(f.id);
        }
      });
    } else {
      layer = L.geoJSON(f, { style: areaStyle });
    }
    layer.on('click', function (e) { L.DomEvent.stopPropagation(e); select(f.id); });
    layer.addTo(map);
    layers[f.id] = layer;
  }
  function attrs(f) {
    var p = f.properties;
    return { type_guess: p.type_guess, confidence: p.confidence, area_kind: p.area_kind, note: p.note };
  }
  function label(f) {
    var p = f.properties;
    var parts = [(p.kind === 'point' ? text.point : text.area) + ' #' + p.id];
    if (p.type_guess) { parts.push(labels.type[p.type_guess] || p.type_guess); }
    if (p.confidence) { parts.push(labels.confidence[p.confidence] || p.confidence); }
    if (p.area_kind) { parts.push(labels.area_kind[p.area_kind] || p.area_kind); }
    if (p.note) { parts.push(p.note); }
    parts.push('(' + (text[p.review] || p.review) + (p.review_reason ? ': ' + p.review_reason : '') + ')');
    return parts.join(' · ');
  }
  function button(caption, cls, handler) {
    var btn = document.createElement('button');
    btn.type = 'button';
    btn.className = 'btn ' + cls;
    btn.textContent = caption;
    btn.addEventListener('click', function (e) { e.stopPropagation(); handler(); });
    return btn;
  }
  function renderList() {
    listEl.textContent = '';
    marks.forEach(function (f) {
      var li = document.createElement('li');
      li.dataset.id = f.id;
      li.dataset.kind = f.properties.kind;
      li.dataset.review = f.properties.review;
      li.className = f.id === selected ? 'selected' : '';
      var span = document.createElement('span');
      span.textContent = label(f);
      li.appendChild(span);
      var actions = document.createElement('div');
      actions.className = 'actions';
      if (mode === 'edit' && f.properties.review === 'pending') {
        actions.appendChild(button(text.edit, 'mark-edit', function () { openForm(f.properties.kind, f); }));
        actions.appendChild(button(text['delete'], 'mark-delete', function () { remove(f); }));
      } else if (mode === 'review' && f.properties.review === 'pending') {
        actions.appendChild(button(f.pendingGeometry ? text.acceptEdit : text.accept, 'mark-accept', function () { review(f, 'accept'); }));
        var reason = document.createElement('input');
        reason.className = 'mark-reason';
        reason.placeholder = text.reason;
        reason.addEventListener('click', function (e) { e.stopPropagation(); });
        reason.addEventListener('keydown', function (e) {
          e.stopPropagation();
          if (e.key === 'Enter') { review(f, 'reject', reason.value); }
        });
        actions.appendChild(reason);
        actions.appendChild(button(text.reject, 'mark-reject', function () { review(f, 'reject', reason.value); }));
      } else if (f.properties.outfall_id) {
        var a = document.createElement('a');
        a.href = cfg.outfall_url + f.properties.outfall_id;
        a.textContent = text.candidate + ' ' + f.properties.outfall_id;
        a.className = 'mark-outfall';
        actions.appendChild(a);
      }
      li.appendChild(actions);
      li.addEventListener('click', function () { select(f.id, true); });
      listEl.appendChild(li);
    });
  }
  function select(id, pan) {
    selected = id;
    marks.forEach(draw);
    renderList();
    var f = find(id);
    if (f && pan) {
      var layer = layers[id];
      map.panTo(layer.getLatLng ? layer.getLatLng() : layer.getBounds().getCenter());
    }
  }
  function find(id) {
    for (var i = 0; i < marks.length; i += 1) { if (marks[i].id === id) { return marks[i]; } }
    return null;
  }
  function replace(f) {
    var i = marks.findIndex(function (m) { return m.id === f.id; });
    if (i >= 0) { marks[i] = f; } else { marks.push(f); }
    selected = f.id;
    marks.forEach(draw);
    renderList();
  }
  function load() {
    return api('GET', cfg.marks_url).then(function (data) {
      marks = data.features;
      marks.forEach(draw);
      renderList();
    });
  }

  // --- drawing (analyst) -------------------------------------------------------------------------------------
  var tool = null;       // 'point' | 'area' | null
  var vertices = [];
  var sketch = L.layerGroup().addTo(map);
  var draft = null;      // {kind, geometry, mark}

  function setTool(name) {
    if (mode !== 'edit') { return; }
    tool = name;
    vertices = [];
    sketch.clearLayers();
    ['point', 'area'].forEach(function (t) {
      var btn = document.getElementById('tool-' + t);
      if (btn) { btn.classList.toggle('active', t === name); }
    });
    document.getElementById('tool-finish').hidden = name !== 'area';
    el.style.cursor = name ? 'crosshair' : '';
    document.getElementById('tool-hint').textContent = name === 'point' ? text.clickPoint : (name === 'area' ? text.clickArea : document.getElementById('tool-hint').textContent);
  }
  function redrawSketch() {
    sketch.clearLayers();
    vertices.forEach(function (v) {
      L.marker(v, { icon: L.divIcon({ className: 'draw-vertex', iconSize: [8, 8] }), interactive: false }).addTo(sketch);
    });
    if (vertices.length > 1) { L.polygon(vertices, { color: '#ffeb3b', weight: 2, fillOpacity: 0.1, interactive: false }).addTo(sketch); }
  }
  map.on('click', function (e) {
    if (mode !== 'edit' || !tool || !form.hidden) { return; }
    if (tool === 'point') {
      sketch.clearLayers();
      L.marker(e.latlng, { icon: L.divIcon({ className: 'draw-vertex', iconSize: [8, 8] }) }).addTo(sketch);
      openForm('point', null, { type: 'Point', coordinates: [e.latlng.lng, e.latlng.lat] });
    } else {
      vertices.push(e.latlng);
      redrawSketch();
    }
  });
  map.on('dblclick', function () { if (tool === 'area') { finishArea(); } });
  function finishArea() {
    if (tool !== 'area' || vertices.length < 3) { return; }
    var ring = vertices.map(function (v) { return [v.lng, v.lat]; });
    ring.push(ring[0]);
    openForm('area', null, { type: 'Polygon', coordinates: [ring] });
  }
  function openForm(kind, mark, geometry) {
    if (!form) { return; }
    draft = { kind: kind, mark: mark, geometry: geometry || (mark && mark.geometry) };
    form.hidden = false;
    document.getElementById('mark-form-title').textContent = (kind === 'point' ? text.point : text.area) + (mark ? ' #' + mark.id : '');
    form.querySelectorAll('label[data-for]').forEach(function (l) { l.hidden = l.dataset.for !== kind; });
    var p = mark ? mark.properties : {};
    document.getElementById('mark-type').value = p.type_guess || '';
    document.getElementById('mark-confidence').value = p.confidence || '';
    document.getElementById('mark-area-kind').value = p.area_kind || 'bridge';
    document.getElementById('mark-note').value = p.note || '';
    document.getElementById(kind === 'point' ? 'mark-type' : 'mark-area-kind').focus();
  }
  function closeForm() {
    if (!form) { return; }
    if (form.contains(document.activeElement)) { document.activeElement.blur(); }  // shortcuts work again
    form.hidden = true;
    draft = null;
    vertices = [];
    sketch.clearLayers();
  }
  function formValues() {
    return {
      type_guess: document.getElementById('mark-type').value || null,
      confidence: document.getElementById('mark-confidence').value || null,
      area_kind: draft.kind === 'area' ? document.getElementById('mark-area-kind').value : null,
      note: document.getElementById('mark-note').value || null
    };
  }
  function save(mark, geometry, values) {
    var body = Object.assign({ geometry: geometry }, values);
    var request = mark ? api('PUT', cfg.mark_url + mark.id, body)
      : api('POST', cfg.marks_url, Object.assign({ kind: draft.kind }, body));
    return request.then(function (f) { showError(null); replace(f); }, function (err) {
      showError(err);
      if (mark) { draw(mark); }
    });
  }
  if (form) {
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      if (!draft) { return; }
      var d = draft;
      save(d.mark, d.geometry, formValues()).then(function () {
        closeForm();
        setTool(null);
      });
    });
    document.getElementById('mark-discard').addEventListener('click', function () { closeForm(); });
    document.getElementById('tool-point').addEventListener('click', function () { setTool('point'); });
    document.getElementById('tool-area').addEventListener('click', function () { setTool('area'); });
    document.getElementById('tool-finish').addEventListener('click', finishArea);
    document.getElementById('tool-cancel').addEventListener('click', function () { closeForm(); setTool(null); });
  }
  function remove(f) {
    if (!window.confirm(text.confirmDelete)) { return; }
    api('DELETE', cfg.mark_url + f.id).then(function () {
      map.removeLayer(layers[f.id]);
      delete layers[f.id];
      marks = marks.filter(function (m) { return m.id !== f.id; });
      selected = null;
      renderList();
      showError(null);
    }, showError);
  }

  // --- review --------------------------------------------------------------------------------------------------
  function review(f, decision, reason) {
    if (decision === 'reject' && !(reason || '').trim()) { showError(new Error(text.needReason)); return; }
    var body = { decision: decision, reason: reason || null };
    if (decision === 'accept' && f.pendingGeometry) {
      body = Object.assign({ decision: 'edit', geometry: f.pendingGeometry }, attrs(f));
    }
    api('POST', cfg.mark_url + f.id + '/review', body).then(function (g) { showError(null); replace(g); }, showError);
  }

  // --- keyboard --------------------------------------------------------------------------------------------------
  document.addEventListener('keydown', function (e) {
    var typing = /^(INPUT|SELECT|TEXTAREA)$/.test(e.target.tagName);
    if (e.key === 'Escape') { closeForm(); setTool(null); return; }
    if (typing || e.ctrlKey || e.metaKey || e.altKey) { return; }
    var key = e.key.toLowerCase();
    var f = find(selected);
    if (mode === 'edit') {
      if (key === 'p') { setTool('point'); e.preventDefault(); }
      else if (key === 'a') { setTool('area'); e.preventDefault(); }
      else if (e.key === 'Enter' && tool === 'area') { finishArea(); e.preventDefault(); }
      else if ((e.key === 'Delete' || e.key === 'Backspace') && f) { remove(f); e.preventDefault(); }
      else if (key === 'n') { document.getElementById('done-form').submit(); }
    } else if (mode === 'review') {
      var pending = marks.filter(function (m) { return m.properties.review === 'pending'; });
      var i = pending.indexOf(f);
      if (key === 'j' && pending.length) { select(pending[(i + 1) % pending.length].id, true); }
      else if (key === 'k' && pending.length) { select(pending[(i - 1 + pending.length) % pending.length].id, true); }
      else if (key === 'y' && f && f.properties.review === 'pending') { review(f, 'accept'); }
      else if (key === 'r' && f && f.properties.review === 'pending') {
        var input = listEl.querySelector('li.selected .mark-reason');
        if (input) { input.focus(); e.preventDefault(); }
      }
    }
  });

  Promise.all([load(), context]).then(function () { el.dataset.state = 'ready'; }, function (err) {
    el.dataset.state = 'error';
    showError(err);
    if (window.console) { console.error(err); }
  });
  // for the page's own tests and for debugging in the browser console
  window.outfallsImagery = { map: map, anchor: cfg.anchor };
}());
