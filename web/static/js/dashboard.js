/* The leadership dashboard: scopes coloured by their gap to the target due next (GeoJSON reference layers from
   the JSON API), outfalls as vector tiles (VectorGrid), the trend chart (Chart.js) and the as-of replay slider.
   Everything is vendored; configuration comes from the page as inert JSON. */
(function () {
  'use strict';
  var cfg = JSON.parse(document.getElementById('dash-config').textContent);
  var el = document.getElementById('dash-map');
  var T = cfg.text;

  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function pct(v) { return v == null ? '—' : (v * 100).toFixed(1) + '%'; }
  function pp(v) { return v == null ? '—' : (v > 0 ? '+' : '') + v.toFixed(1) + ' ' + T.pp; }
  function getJSON(url) {
    return fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) { if (!r.ok) { throw new Error(url + ': HTTP ' + r.status); } return r.json(); });
  }

  /* -- as-of replay: a slider over month ends from the first outfall to today ------------------------------ */
  var slider = document.getElementById('asof-slider');
  var dateInput = document.getElementById('asof-date');
  var form = document.getElementById('asof-form');
  var days = [];
  (function () {
    var first = new Date(cfg.firstDay + 'T00:00:00Z');
    var last = new Date(dateInput.max + 'T00:00:00Z');
    var d = new Date(Date.UTC(first.getUTCFullYear(), first.getUTCMonth() + 1, 0));
    while (d < last) {
      days.push(d.toISOString().slice(0, 10));
      d = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 2, 0));
    }
    days.push(dateInput.max);
    slider.max = String(days.length - 1);
    var at = days.length - 1;
    for (var i = 0; i < days.length; i++) { if (days[i] >= cfg.asOf) { at = i; break; } }
    slider.value = String(at);
  }());
  var submitted = false;
  function replay() { if (!submitted && dateInput.value) { submitted = true; form.submit(); } }
  slider.addEventListener('input', function () { dateInput.value = days[Number(slider.value)]; });
  slider.addEventListener('change', function () { dateInput.value = days[Number(slider.value)]; replay(); });
  dateInput.addEventListener('change', replay);

  /* -- the map ----------------------------------------------------------------------------------------------- */
  var map = L.map(el, { zoomSnap: 0.25, attributionControl: false, zoomControl: false });
  L.control.zoom({ zoomInTitle: T.zoomIn, zoomOutTitle: T.zoomOut }).addTo(map);
  L.control.scale({ imperial: false }).addTo(map);
  var e = cfg.extent;
  map.fitBounds([[e[1], e[0]], [e[3], e[2]]]);
  window.outfallsBasemap(map, cfg.basemap);
  ['areas', 'outline', 'points'].forEach(function (name, i) { map.createPane(name).style.zIndex = String(350 + i * 50); });

  function colour(row) { return cfg.gapColors[row ? row.gap_class : 'none']; }
  function tooltip(row, name) {
    if (!row) { return '<strong>' + esc(name) + '</strong><br>' + esc(T.noOutfalls); }
    var html = '<strong>' + esc(row.scope_name) + '</strong><br>' + esc(T.share) + ' ' + pct(row.share) +
      ' (' + row.count.toLocaleString() + ' / ' + row.denominator.toLocaleString() + ' ' + esc(T.outfalls) + ')<br>';
    if (row.target_deadline) {
      html += esc(T.target) + ' ' + pct(row.target_share) + ' ' + esc(T.by) + ' ' + esc(row.target_deadline) +
        '<br>' + esc(T.gap) + ' ' + pp(row.gap_pp);
      if (row.gap_count) { html += ' · ' + row.gap_count.toLocaleString() + ' ' + esc(T.stillNeeded); }
      if (row.behind_since) { html += '<br>' + esc(T.behindSince) + ' ' + esc(row.behind_since); }
    } else {
      html += esc(T.noTarget);
    }
    return html;
  }

  var coloured = {};
  var scopes = L.geoJSON(null, {
    pane: 'areas',
    filter: function (f) { return Object.prototype.hasOwnProperty.call(cfg.rows, f.properties.code); },
    style: function (f) {
      var line = f.geometry.type.indexOf('LineString') >= 0;
      var c = colour(cfg.rows[f.properties.code]);
      return line ? { color: c, weight: 5, opacity: 0.9 }
        : { color: '#ffffff', weight: 1.5, fillColor: c, fillOpacity: 0.55 };
    },
    onEachFeature: function (f, layer) {
      var row = cfg.rows[f.properties.code];
      coloured[f.properties.code] = colour(row);
      // written when first shown, not while the page is drawn (number formatting is slow the first time)
      layer.bindTooltip(function () { return tooltip(row, f.properties.name); }, { sticky: true });
      layer.on('mouseover', function () { layer.setStyle({ weight: 3 }); });
      layer.on('mouseout', function () { scopes.resetStyle(layer); });
      if (cfg.childKind) {
        layer.on('click', function () {
          window.location.href = cfg.urls.drill.replace('__scope__', encodeURIComponent(cfg.childKind + ':' +
            f.properties.code));
        });
      }
    }
  }).addTo(map);
  var outline = L.geoJSON(null, {
    pane: 'outline', interactive: false,
    filter: function (f) { return f.properties.code === cfg.parentCode; },
    style: { color: '#263238', weight: 2, dashArray: '6 4', fill: false }
  }).addTo(map);

  var loads = [];
  if (cfg.layer) {
    loads.push(getJSON(cfg.urls.layer.replace('__name__', cfg.layer)).then(function (data) {
      scopes.addData(data);
      el.dataset.scopes = String(scopes.getLayers().length);
      el.dataset.colours = JSON.stringify(coloured);
      if (scopes.getLayers().length && cfg.fitToScopes) { map.fitBounds(scopes.getBounds(), { padding: [12, 12] }); }
    }));
  }
  if (cfg.parentLayer && cfg.parentCode) {
    loads.push(getJSON(cfg.urls.layer.replace('__name__', cfg.parentLayer)).then(function (data) {
      outline.addData(data);
    }));
  }

  // Outfalls as vector tiles: counts per area at low zoom, clusters (n, most common state) below
  // cfg.clusterBelowZoom, single outfalls above; optionally only those in one state that day.
  // Below cfg.areaCountsBelowZoom a tile holds points only at the centres of areas with outfalls: a tile farther
  // than a symbol's reach from their box (cfg.areaCountsExtent) would come back empty, so it is not asked for.
  var REACH_PX = 16;
  var OutfallTiles = L.VectorGrid.Protobuf.extend({
    _isValidTile: function (coords) {
      if (!L.VectorGrid.Protobuf.prototype._isValidTile.call(this, coords)) { return false; }
      var e = cfg.areaCountsExtent;
      if (!e || coords.z >= cfg.areaCountsBelowZoom) { return true; }
      var size = this.getTileSize();
      var nw = this._map.unproject(coords.scaleBy(size).subtract([REACH_PX, REACH_PX]), coords.z);
      var se = this._map.unproject(coords.add([1, 1]).scaleBy(size).add([REACH_PX, REACH_PX]), coords.z);
      return L.latLngBounds(nw, se).intersects([[e[1], e[0]], [e[3], e[2]]]);
    },
    _update: function (center) {
      L.VectorGrid.Protobuf.prototype._update.call(this, center);
      // a view with no tile to ask for is loaded at once (Leaflet says so only after loading some)
      if (this._map && !this._loading) { this.fire('load'); }
    }
  });
  var tilesLoaded = 0;
  function outfallLayer(url) {
    var layer = new OutfallTiles(url, {
      pane: 'points',
      interactive: false,
      maxNativeZoom: 16,
      rendererFactory: L.canvas.tile,
      fetchOptions: { credentials: 'same-origin' },
      vectorTileLayerStyles: {
        outfalls: function (p) {
          var n = p.n || 1;
          return {
            radius: p.n ? Math.min(14, 3 + Math.sqrt(n)) : 4, fill: true, fillOpacity: 0.85, weight: 1,
            color: '#ffffff', fillColor: cfg.statusColors[p.state] || '#455a64'
          };
        }
      }
    });
    layer.on('tileload', function () { tilesLoaded += 1; el.dataset.tiles = String(tilesLoaded); });
    layer.on('loading', function () { el.dataset.tilesState = 'loading'; });
    layer.on('load', function () { el.dataset.tilesState = 'loaded'; });
    return layer;
  }
  var outfalls = outfallLayer(cfg.urls.tiles);
  var tilesDrawn = new Promise(function (resolve) { outfalls.once('load', resolve); });  // before it is added:
  outfalls.addTo(map);  // with no tile to ask for, it is loaded at once
  var layers = L.control.layers(null, null, { collapsed: false, position: 'topright' }).addTo(map);
  layers.addOverlay(outfalls, T.outfallsLayer);
  var labels = window.outfallsLabels(map, cfg.urls.labels, el);
  layers.addOverlay(labels, T.labels);
  loads.push(labels.loaded);
  document.getElementById('tile-state').addEventListener('change', function (ev) {
    var url = cfg.urls.tiles;
    if (ev.target.value) { url += (url.indexOf('?') < 0 ? '?' : '&') + 'state=' + encodeURIComponent(ev.target.value); }
    el.dataset.tilesState = 'loading';
    layers.removeLayer(outfalls);
    map.removeLayer(outfalls);
    outfalls = outfallLayer(url).addTo(map);
    layers.addOverlay(outfalls, T.outfallsLayer);
  });

  Promise.all(loads).then(function () { el.dataset.state = 'ready'; }, function (err) {
    el.dataset.state = 'error';
    if (window.console) { console.error(err); }
  });
  window.dashboardMap = map;

  /* -- the trend chart --------------------------------------------------------------------------------------- */
  // x is the year as a number (2023.5 is early July 2023), so the axis ticks fall on new year's days
  function year(iso) {
    var t = Date.parse(iso + 'T00:00:00Z');
    var y = new Date(t).getUTCFullYear();
    return y + (t - Date.UTC(y, 0, 1)) / (Date.UTC(y + 1, 0, 1) - Date.UTC(y, 0, 1));
  }
  var CHART_COLORS = { traced: '#6a1b9a', remediated: '#00897b', closed: '#004d40' };
  var canvas = document.getElementById('trend-chart');
  // the figures come from the trend API (the same trend the print view draws), asked for by the page's head
  function drawChart(chart) {
    var datasets = [];
    Object.keys(CHART_COLORS).forEach(function (k) {
      datasets.push({
        label: cfg.metricLabels[k], borderColor: CHART_COLORS[k], backgroundColor: CHART_COLORS[k],
        pointRadius: 0, borderWidth: 2, tension: 0,
        data: chart.points.filter(function (p) { return p.shares[k] != null; }).map(function (p) {
          return { x: year(p.on), y: p.shares[k] * 100, d: p.on };
        })
      });
      var targets = (chart.targets[k] || []).map(function (t) {
        return { x: year(t.deadline), y: t.share * 100, d: t.deadline };
      });
      if (targets.length) {
        datasets.push({
          label: cfg.metricLabels[k] + ' · ' + T.targetPoint, type: 'scatter', data: targets, showLine: false,
          clip: false,  // a 100 % target sits on the top edge and the last deadline on the right edge: draw them whole
          pointStyle: 'triangle', pointRadius: 7, borderColor: CHART_COLORS[k], backgroundColor: '#ffffff', borderWidth: 2
        });
      }
    });
    window.dashboardChart = new Chart(canvas, {
      type: 'line',
      data: { datasets: datasets },
      options: {
        animation: false, maintainAspectRatio: false, parsing: false,
        layout: { padding: { top: 10, right: 12 } },  // room for the unclipped target markers
        interaction: { mode: 'nearest', intersect: false },
        scales: {
          x: { type: 'linear', ticks: { stepSize: 1, callback: function (v) { return String(v); } } },
          y: { min: 0, max: 100, ticks: { callback: function (v) { return v + '%'; } } }
        },
        plugins: {
          legend: { position: 'bottom', labels: { boxWidth: 12 } },
          tooltip: { callbacks: {
            title: function (items) { return items.length ? items[0].raw.d : ''; },
            label: function (item) { return item.dataset.label + ': ' + item.parsed.y.toFixed(1) + '%'; }
          } }
        }
      }
    });
    canvas.dataset.state = 'ready';
    canvas.removeAttribute('aria-busy');
    performance.mark('dashboard-chart');
  }
  var charted = getJSON(cfg.urls.trend).then(drawChart, function (err) {
    canvas.dataset.state = 'error';
    if (window.console) { console.error(err); }
  });
  // readiness: layers on the map, the first view's tiles drawn (canvas draws on the next frame), chart drawn
  Promise.all([Promise.all(loads), tilesDrawn, charted]).then(function () {
    requestAnimationFrame(function () {
      performance.mark('dashboard-map');
      performance.mark('dashboard-ready');
      document.documentElement.dataset.ready = 'true';
    });
  });
}());
