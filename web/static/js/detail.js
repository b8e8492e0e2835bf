/* The location map on an outfall's page. */
(function () {
  'use strict';
  var cfg = JSON.parse(document.getElementById('map-config').textContent);
  var el = document.getElementById('detail-map');
  var lonlat = cfg.point;
  var map = L.map(el, { preferCanvas: true, attributionControl: false, zoomControl: false })
    .setView([lonlat[1], lonlat[0]], 12);
  L.control.zoom({ zoomInTitle: cfg.text.zoomIn, zoomOutTitle: cfg.text.zoomOut }).addTo(map);
  L.control.scale({ imperial: false }).addTo(map);
  // the outfall first, in a pane above the reference layers, so it shows even if a layer fails to load
  map.createPane('points').style.zIndex = '450';
  L.circleMarker([lonlat[1], lonlat[0]], {
    pane: 'points', radius: 7, color: '#fff', weight: 2, fillColor: '#d81b60', fillOpacity: 1
  }).addTo(map);
  function add(name, style) {
    return fetch(cfg.urls.layer.replace('__name__', name), {
      credentials: 'same-origin', headers: { Accept: 'application/json' }
    })
      .then(function (r) { if (!r.ok) { throw new Error(name + ': HTTP ' + r.status); } return r.json(); })
      .then(function (data) { L.geoJSON(data, { style: style }).addTo(map); });
  }
  Promise.all([
    add('counties', { color: '#90a4ae', weight: 1, fill: false }),
    add('rivers', { color: '#0288d1', weight: 3 })
  ]).then(function () { el.dataset.state = 'ready'; }, function (err) {
    el.dataset.state = 'error';
    if (window.console) { console.error(err); }
  });
}());
