/* Names on a map with no basemap, from the product's own reference data (GET the labels URL: GeoJSON points with
   kind, name, name_en, angle): provinces and basins at low zoom, cities, sub-basins and counties as one zooms in,
   river names turned along their lines. Only names in view are placed, the most important first, and a name that
   would overlap one already placed waits for a closer zoom. Text goes in as text (textContent), never as HTML.
   Returns the layer (for a layers control); its ``loaded`` promise settles once the names have come. */
(function () {
  'use strict';
  // kind: [shown from zoom, shown below zoom, importance (lower first), font size in px]
  var SAME_NAME_APART_PX = 300;  // a long river is named again only this far along on screen
  var KINDS = {
    province: [0, 8, 0, 15], basin: [0, 7.5, 1, 14], city: [7, 10.5, 2, 13], sub_basin: [6, 9, 3, 12],
    river: [6.5, 99, 4, 12], county: [8.5, 99, 5, 12]
  };

  window.outfallsLabels = function (map, url, el) {
    var english = (document.documentElement.lang || '').slice(0, 2) === 'en';
    map.createPane('labels').style.zIndex = '620';  // above the outfalls, below tooltips and popups
    var group = L.layerGroup();
    var points = null;  // until the names have come

    function marker(p) {
      if (!p.marker) {
        var span = document.createElement('span');
        span.textContent = p.name;
        span.style.transform = 'translate(-50%, -50%) rotate(' + p.angle + 'deg)';
        p.marker = L.marker(p.latlng, {
          pane: 'labels', interactive: false, keyboard: false,
          icon: L.divIcon({ className: 'map-label map-label-' + p.kind, html: span, iconSize: null })
        });
      }
      return p.marker;
    }
    function overlaps(box, placed) {
      for (var i = 0; i < placed.length; i++) {
        var b = placed[i];
        if (box[0] < b[2] && b[0] < box[2] && box[1] < b[3] && b[1] < box[3]) { return true; }
      }
      return false;
    }
    function place() {
      group.clearLayers();
      if (!points || !map.hasLayer(group)) { return; }
      var zoom = map.getZoom();
      var view = map.getBounds().pad(0.1);
      var placed = [];
      var shown = {};
      var byCode = {};
      points.forEach(function (p) {
        var k = KINDS[p.kind];
        if (zoom < k[0] || zoom >= k[1] || !view.contains(p.latlng)) { return; }
        // the text's box on screen (CJK characters are about square), turned with the text, plus a margin
        var at = map.latLngToLayerPoint(p.latlng);
        var w = p.name.length * k[3] + 8;
        var h = k[3] + 6;
        var rad = p.angle * Math.PI / 180;
        var bw = Math.abs(w * Math.cos(rad)) + Math.abs(h * Math.sin(rad));
        var bh = Math.abs(w * Math.sin(rad)) + Math.abs(h * Math.cos(rad));
        var box = [at.x - bw / 2, at.y - bh / 2, at.x + bw / 2, at.y + bh / 2];
        if (overlaps(box, placed)) { return; }
        var same = byCode[p.kind + p.code] || (byCode[p.kind + p.code] = []);
        if (same.some(function (q) { return q.distanceTo(at) < SAME_NAME_APART_PX; })) { return; }
        same.push(at);
        placed.push(box);
        shown[p.kind] = (shown[p.kind] || 0) + 1;
        group.addLayer(marker(p));
      });
      if (el) { el.dataset.labels = JSON.stringify(shown); }
    }

    group.loaded = fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/geo+json' } })
      .then(function (r) { if (!r.ok) { throw new Error(url + ': HTTP ' + r.status); } return r.json(); })
      .then(function (data) {
        points = [];
        data.features.forEach(function (f) {
          var pr = f.properties;
          if (!KINDS[pr.kind] || !pr.name) { return; }
          var c = f.geometry.coordinates;
          points.push({
            kind: pr.kind, code: pr.code, name: (english && pr.name_en) || pr.name, angle: pr.angle || 0,
            latlng: L.latLng(c[1], c[0]), rank: KINDS[pr.kind][2]
          });
        });
        points.sort(function (a, b) { return a.rank - b.rank; });
        place();
      })
      .catch(function (err) { if (window.console) { console.error(err); } });  // the map works without names
    map.on('moveend', place);
    group.on('add', function () { setTimeout(place, 0); });
    group.addTo(map);
    return group;
  };
}());
