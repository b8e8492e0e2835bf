/* The outfall map: reference layers and outfalls from the JSON API, drawn with the vendored Leaflet. */
(function () {
  'use strict';
  var cfg = JSON.parse(document.getElementById('map-config').textContent);
  var el = document.getElementById('map');
  var note = document.getElementById('map-note');
  var map = L.map(el, { preferCanvas: true, zoomSnap: 0.25, attributionControl: false, zoomControl: false });
  L.control.zoom({ zoomInTitle: cfg.text.zoomIn, zoomOutTitle: cfg.text.zoomOut }).addTo(map);
  var e = cfg.extent;
  map.fitBounds([[e[1], e[0]], [e[3], e[2]]]);
  L.control.scale({ imperial: false }).addTo(map);
  window.outfallsBasemap(map, cfg.basemap);

  var COLORS = {
    candidate: '#9575cd', surveyed: '#1e88e5', traced: '#6a1b9a', remediating: '#00acc1',
    remediated: '#00897b', closed: '#004d40', rejected: '#bcaaa4', merged: '#795548'
  };
  var STYLES = {
    basins: { color: '#1565c0', weight: 2, fillColor: '#e3f2fd', fillOpacity: 0.45 },
    sub_basins: { color: '#5c9ded', weight: 1, dashArray: '4 3', fill: false },
    provinces: { color: '#37474f', weight: 2.4, fill: false },
    cities: { color: '#607d8b', weight: 1.2, fill: false },
    counties: { color: '#90a4ae', weight: 0.6, fill: false },
    rivers: { color: '#0288d1', weight: 2 }
  };
  var LAYERS = [
    ['basins', cfg.text.basins, true, 'areas'],
    ['sub_basins', cfg.text.subBasins, true, 'areas'],
    ['provinces', cfg.text.provinces, true, 'bounds'],
    ['cities', cfg.text.cities, true, 'bounds'],
    ['counties', cfg.text.counties, false, 'bounds'],
    ['rivers', cfg.text.rivers, true, 'rivers']
  ];
  ['areas', 'bounds', 'rivers', 'points'].forEach(function (name, i) {
    map.createPane(name).style.zIndex = String(350 + i * 10);
  });

  function getJSON(url) {
    return fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) { if (!r.ok) { throw new Error(url + ': HTTP ' + r.status); } return r.json(); });
  }
  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  var overlays = {};
  var loads = LAYERS.map(function (spec) {
    var layer = L.geoJSON(null, {
      pane: spec[3],
      style: STYLES[spec[0]],
      onEachFeature: function (f, l) { l.bindTooltip(esc(f.properties.name), { sticky: true }); }
    });
    overlays[spec[1]] = layer;
    if (spec[2]) { layer.addTo(map); }
    return getJSON(cfg.urls.layer.replace('__name__', spec[0])).then(function (data) { layer.addData(data); });
  });

  var renderer = L.canvas({ padding: 0.3, pane: 'points' });
  var outfalls = L.geoJSON(null, {
    pointToLayer: function (f, latlng) {
      var c = COLORS[f.properties.status] || '#333';
      return L.circleMarker(latlng, {
        renderer: renderer, radius: 4, weight: 1, color: '#ffffff', fillColor: c, fillOpacity: 0.9
      });
    },
    onEachFeature: function (f, l) {
      var p = f.properties;
      l.bindPopup('<strong>' + esc(p.name) + '</strong><br>' + esc(cfg.statusLabels[p.status] || p.status) +
        '<br><a href="' + cfg.urls.detail.replace(/0$/, String(f.id)) + '">' + esc(cfg.text.open) + '</a>');
    }
  }).addTo(map);
  overlays[cfg.text.outfalls] = outfalls;
  var labels = window.outfallsLabels(map, cfg.urls.labels, el);
  overlays[cfg.text.labels] = labels;
  loads.push(labels.loaded);

  // The crews' walked GPS tracks (survey coverage), above the rivers and below the outfalls.
  var tracksEl = document.getElementById('tracks-config');
  if (tracksEl) {
    var tcfg = JSON.parse(tracksEl.textContent);
    map.createPane('tracks').style.zIndex = '375';
    var tracks = L.geoJSON(null, {
      pane: 'tracks',
      style: { color: '#d81b60', weight: 3, opacity: 0.85 },
      onEachFeature: function (f, l) {
        var p = f.properties;
        l.bindTooltip(esc(p.crew) + ' · ' + esc(p.day || tcfg.text.dayUnknown), { sticky: true });
        l.bindPopup('<strong>' + esc(p.crew) + '</strong><br>' + esc(p.day || tcfg.text.dayUnknown) +
          (p.name ? '<br>' + esc(p.name) : '') + '<br>' + esc(p.length_km) + ' ' + esc(tcfg.text.km) +
          ' · #' + esc(f.id));
      }
    }).addTo(map);
    overlays[tcfg.text.tracks] = tracks;
    loads.push(getJSON(tcfg.url).then(function (data) {
      tracks.addData(data);
      el.dataset.tracks = String(data.features.length);
    }));
  }
  // on a phone the layer list folds into its button, so it does not cover the map
  var narrow = window.matchMedia && window.matchMedia('(max-width: 700px)').matches;
  L.control.layers(null, overlays, { collapsed: narrow, position: 'topright' }).addTo(map);
  if (window.outfallsHere) { window.outfallsHere(map, el, document.getElementById('here-note')); }

  var bboxMode = false;
  function loadOutfalls() {
    var params = new URLSearchParams(window.location.search);
    if (bboxMode) { params.set('bbox', map.getBounds().toBBoxString()); }
    note.textContent = cfg.text.loading;
    return getJSON(cfg.urls.outfalls + '?' + params.toString()).then(function (data) {
      outfalls.clearLayers();
      outfalls.addData(data);
      // a filtered map opens on its result: the server sends the box of every outfall the filter matches
      if (!bboxMode && data.bbox) {
        var b = data.bbox;
        map.fitBounds([[b[1], b[0]], [b[3], b[2]]], { padding: [24, 24], maxZoom: 14, animate: false });
        el.dataset.fitted = b.join(',');
      }
      el.dataset.outfalls = String(data.features.length);
      note.textContent = data.truncated ? cfg.text.truncated
        : data.features.length.toLocaleString() + ' ' + cfg.text.shown;
      if (data.truncated && !bboxMode) { bboxMode = true; map.on('moveend', loadOutfalls); }
    });
  }
  loads.push(loadOutfalls());
  Promise.all(loads).then(function () { el.dataset.state = 'ready'; }, function (err) {
    el.dataset.state = 'error';
    note.textContent = String(err.message || err);
    if (window.console) { console.error(err); }
  });
  window.outfallsMap = map;
}());
