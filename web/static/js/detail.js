/* The location map on an outfall's page. */
(function () {
  'use strict';
  var cfg = JSON.parse(document.getElementById('map-config').textContent);
  var el = document.getElementById('detail-map');
  var lonlat = cfg.point;
  var map = L.map(el, { preferCanvas: true, attributionControl: false }).setView([lonlat[1], lonlat[0]], 12);
  L.control.scale({ imperial: false }).addTo(map);
  function add(name, style) {
    return fetch(cfg.urls.layer.replace('__name__', name), { headers: { Accept: 'application/json' } })
      .then(function (r) { return r.json(); })
      .then(function (data) { L.geoJSON(data, { style: style }).addTo(map); });
  }
  Promise.all([
    add('counties', { color: '#90a4ae', weight: 1, fill: false }),
    add('rivers', { color: '#0288d1', weight: 3 })
  ]).then(function () {
    L.circleMarker([lonlat[1], lonlat[0]], { radius: 7, color: '#fff', weight: 2, fillColor: '#d81b60', fillOpacity: 1 })
      .addTo(map);
    el.dataset.state = 'ready';
  });
}());
