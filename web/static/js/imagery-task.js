/* A verification task: the stops on the map in walking order, joined by the route. */
(function () {
  'use strict';
  // Leaflet sets a string tooltip as HTML: names from the catalogue go in as text, never as markup.
  function textNode(s) { var span = document.createElement('span'); span.textContent = String(s); return span; }
  var cfg = JSON.parse(document.getElementById('task-config').textContent);
  var el = document.getElementById('task-map');
  var map = L.map(el, { attributionControl: false, maxZoom: 22 }).setView([34.3, 108.9], 7);
  window.outfallsBasemap(map, cfg.basemap);
  // the drone images under the route (transparent where there are none)
  if (el.dataset.tiles) { L.tileLayer(el.dataset.tiles, { maxZoom: 22, maxNativeZoom: 22 }).addTo(map); }
  var line = [];
  var group = L.featureGroup().addTo(map);
  cfg.stops.forEach(function (s) {
    var at = [s.lat, s.lon];
    line.push(at);
    if (s.kind === 'area' && s.area_wkt) {
      var coords = s.area_wkt.replace(/^POLYGON\s*\(\(/, '').replace(/\)\).*$/, '').split(',').map(function (p) {
        var xy = p.trim().split(/\s+/);
        return [parseFloat(xy[1]), parseFloat(xy[0])];
      });
      L.polygon(coords, { color: '#ef6c00', weight: 2, fillOpacity: 0.2 }).addTo(group);
    }
    L.marker(at, {
      icon: L.divIcon({ className: 'route-stop', html: '<span>' + s.seq + '</span>', iconSize: [22, 22] })
    }).bindTooltip(textNode(s.seq + '. ' + s.name)).addTo(group);
  });
  if (line.length > 1) { L.polyline(line, { color: '#0b5d8a', weight: 2, dashArray: '6 4' }).addTo(group); }
  if (line.length) { map.fitBounds(group.getBounds(), { maxZoom: 19, padding: [30, 30] }); }
  if (window.outfallsHere) { window.outfallsHere(map, el, document.getElementById('here-note')); }
  fetch(cfg.rivers_url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
    .then(function (r) { if (!r.ok) { throw new Error('rivers: HTTP ' + r.status); } return r.json(); })
    .then(function (data) {
      L.geoJSON(data, { style: { color: '#0288d1', weight: 3 } }).addTo(map);
      group.bringToFront();
      el.dataset.state = 'ready';
    }, function (err) { el.dataset.state = 'error'; if (window.console) { console.error(err); } });
}());
