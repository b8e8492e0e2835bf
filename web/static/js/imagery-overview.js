/* Drone imagery overview: the orthophoto mosaic, the footprints and the cells coloured by status. */
(function () {
  'use strict';
  // Leaflet sets a string tooltip as HTML: names from the catalogue go in as text, never as markup.
  function textNode(s) { var span = document.createElement('span'); span.textContent = String(s); return span; }
  var cfg = JSON.parse(document.getElementById('imagery-config').textContent);
  var el = document.getElementById('cells-map');
  var COLORS = { todo: '#90a4ae', in_progress: '#fb8c00', done: '#1e88e5', reviewed: '#43a047' };
  var map = L.map(el, { attributionControl: false, maxZoom: 22 });
  function get(url) {
    return fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) { if (!r.ok) { throw new Error(url + ': HTTP ' + r.status); } return r.json(); });
  }
  Promise.all([get(cfg.footprints_url), get(cfg.cells_url)]).then(function (data) {
    var prints = L.geoJSON(data[0], { style: { color: '#ffd54f', weight: 1, fill: false, dashArray: '4 3' } }).addTo(map);
    var cells = L.geoJSON(data[1], {
      style: function (f) {
        return { color: COLORS[f.properties.status] || '#555', weight: 2, fillOpacity: 0.25 };
      },
      onEachFeature: function (f, layer) {
        layer.bindTooltip(textNode('#' + f.properties.id + ' · ' + f.properties.status +
          (f.properties.analyst ? ' · ' + f.properties.analyst : '')));
      }
    }).addTo(map);
    var bounds = cells.getLayers().length ? cells.getBounds() : prints.getBounds();
    if (bounds.isValid()) { map.fitBounds(bounds, { maxZoom: 18 }); } else { map.setView([34.3, 108.9], 7); }
    // the imagery only once the view is set: tiles of a first view would be cut off half-loaded
    L.tileLayer(cfg.tiles_url, { maxZoom: 22, maxNativeZoom: 22 })
      .on('load', function () { el.dataset.tiles = 'loaded'; }).addTo(map);
    el.dataset.state = 'ready';
  }, function (err) {
    el.dataset.state = 'error';
    if (window.console) { console.error(err); }
  });
}());
