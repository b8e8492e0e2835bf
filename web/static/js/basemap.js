/* The optional basemap of a Leaflet map: XYZ tiles from an intranet tile server configured in `[map] basemap_url`,
   under everything else, with its attribution (`[map] basemap_attribution`) in the corner as plain text.
   `basemap` is the page's {url, attribution}, or null when none is configured: then the map draws none. */
(function () {
  'use strict';
  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  window.outfallsBasemap = function (map, basemap) {
    if (!basemap || !basemap.url) { return null; }
    // Leaflet writes attributions as markup: the configured text goes in escaped; no "Leaflet" link prefix
    if (!map.attributionControl) { map.attributionControl = L.control.attribution({ prefix: false }).addTo(map); }
    var layer = L.tileLayer(basemap.url, { maxZoom: 19, attribution: esc(basemap.attribution) });
    layer.on('tileload', function () {
      var el = map.getContainer();
      el.dataset.basemapTiles = String(Number(el.dataset.basemapTiles || 0) + 1);
    });
    return layer.addTo(map);
  };
}());
