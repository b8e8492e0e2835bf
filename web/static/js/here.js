/* "You are here" on a Leaflet map: the phone's position (Geolocation API) as a dot with its accuracy circle, and a
   button that goes there. A refused permission or a missing fix is said quietly in a note, never in a dialog.
   The map element carries the texts: data-here-label, -shown ("{m}" = accuracy in m), -denied, -unavailable;
   data-here-auto="1" starts watching at once (the crew's route), otherwise the button starts it. */
(function () {
  'use strict';
  window.outfallsHere = function (map, el, note) {
    var text = el.dataset;
    var dot = null;
    var ring = null;
    var watching = null;
    var goThere = false;
    var link = null;
    function say(state, message) {
      el.dataset.here = state;
      if (note) { note.textContent = message; }
      if (link) { link.classList.toggle('on', state === 'shown'); }
    }
    function found(pos) {
      var at = [pos.coords.latitude, pos.coords.longitude];
      var accuracy = Math.round(pos.coords.accuracy || 0);
      if (!dot) {
        ring = L.circle(at, { radius: accuracy, color: '#1a73e8', weight: 1, fillOpacity: 0.12, interactive: false }).addTo(map);
        dot = L.marker(at, { icon: L.divIcon({ className: 'here-dot', iconSize: [16, 16] }), keyboard: false,
          interactive: false, zIndexOffset: 1000 }).addTo(map);
      } else {
        dot.setLatLng(at);
        ring.setLatLng(at).setRadius(accuracy);
      }
      say('shown', (text.hereShown || '').replace('{m}', String(accuracy)));
      if (goThere) { goThere = false; map.setView(at, Math.max(map.getZoom(), 16)); }
    }
    function failed(err) {
      if (err && err.code === 1) {  // PERMISSION_DENIED: stop asking
        if (watching !== null) { navigator.geolocation.clearWatch(watching); watching = null; }
        say('denied', text.hereDenied || '');
      } else if (!dot) {
        say('unavailable', text.hereUnavailable || '');
      }
    }
    function crosshair() {  // the usual "my position" sign, drawn as SVG elements
      var ns = 'http://www.w3.org/2000/svg';
      function make(tag, attrs) {
        var node = document.createElementNS(ns, tag);
        Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
        return node;
      }
      var svg = make('svg', { viewBox: '0 0 24 24', width: '20', height: '20', 'aria-hidden': 'true', focusable: 'false' });
      svg.appendChild(make('circle', { cx: '12', cy: '12', r: '7', fill: 'none', stroke: 'currentColor', 'stroke-width': '2' }));
      svg.appendChild(make('circle', { cx: '12', cy: '12', r: '3', fill: 'currentColor' }));
      svg.appendChild(make('path', { d: 'M12 1v4M12 19v4M1 12h4M19 12h4', stroke: 'currentColor', 'stroke-width': '2' }));
      return svg;
    }
    function start() {
      if (watching !== null) { return; }
      say('asking', '');
      watching = navigator.geolocation.watchPosition(found, failed,
        { enableHighAccuracy: true, maximumAge: 10000, timeout: 30000 });
    }
    if (!navigator.geolocation) { say('unavailable', text.hereUnavailable || ''); return; }
    var Here = L.Control.extend({
      options: { position: 'topleft' },
      onAdd: function () {
        var box = L.DomUtil.create('div', 'leaflet-bar here-control');
        link = L.DomUtil.create('a', '', box);
        link.href = '#';
        link.id = 'here-button';
        link.setAttribute('role', 'button');
        link.title = text.hereLabel || '';
        link.setAttribute('aria-label', text.hereLabel || '');
        link.appendChild(crosshair());
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.on(link, 'click', function (e) {
          L.DomEvent.preventDefault(e);
          if (dot) { map.setView(dot.getLatLng(), Math.max(map.getZoom(), 16)); return; }
          goThere = true;
          if (el.dataset.here === 'denied') { watching = null; }
          start();
        });
        return box;
      }
    });
    new Here().addTo(map);
    if (text.hereAuto === '1') { start(); }
  };
}());
