/* The map of an upload's outfalls on its report page. */
(function () {
  'use strict';
  var cfg = JSON.parse(document.getElementById('map-config').textContent);
  var el = document.getElementById('batch-map');
  var map = L.map(el, { attributionControl: false });  // SVG: a few markers, each one clickable
  L.control.scale({ imperial: false }).addTo(map);
  var layer = L.featureGroup().addTo(map);
  cfg.points.forEach(function (p) {
    var marker = L.circleMarker([p.lat, p.lon], {
      radius: 6, color: '#fff', weight: 2, fillColor: '#d81b60', fillOpacity: 1
    }).addTo(layer);
    var link = document.createElement('a');
    link.href = cfg.detail.replace(/0$/, String(p.id));
    link.textContent = p.name;
    marker.bindPopup(link);
  });
  map.fitBounds(layer.getBounds().pad(0.2), { maxZoom: 15 });
  el.setAttribute('data-points', String(cfg.points.length));
})();
