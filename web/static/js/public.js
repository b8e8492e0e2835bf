// The public pages: the map of public outfalls, one outfall's place, and the report form's position (the phone's
// GPS or a point tapped on the map). No inline scripts (the Content Security Policy forbids them).
(function () {
  "use strict";
  function map(el) {
    var m = L.map(el, { attributionControl: false });
    var extent = (el.dataset.extent || "").split(",").map(Number);
    if (extent.length === 4) m.fitBounds([[extent[1], extent[0]], [extent[3], extent[2]]]);
    else m.setView([34.3, 108.9], 7);
    return m;
  }
  // Rivers and boundaries under the outfalls (there is no basemap on the public pages): public reference data.
  function context(m, el) {
    if (!el.dataset.context) return;
    fetch(el.dataset.context).then(function (r) { return r.json(); }).then(function (data) {
      L.geoJSON(data, {
        interactive: false,
        style: function (f) {
          return f.properties.kind === "river"
            ? { className: "public-context river", color: "#4a90d9", weight: 2, opacity: 0.8 }
            : { className: "public-context area", color: "#7a8794", weight: 1, dashArray: "4 4", opacity: 0.9,
                fill: false };
        }
      }).addTo(m).bringToBack();
    }).catch(function () { /* the outfalls still show without their context */ });
  }
  var overview = document.getElementById("public-map");
  if (overview && overview.dataset.geojson) {
    var m = map(overview);
    context(m, overview);
    fetch(overview.dataset.geojson).then(function (r) { return r.json(); }).then(function (data) {
      var layer = L.geoJSON(data, {
        pointToLayer: function (f, latlng) { return L.circleMarker(latlng, { radius: 6, color: "#0b4ea2" }); },
        onEachFeature: function (f, l) {
          var link = document.createElement("a");
          link.href = overview.dataset.page + encodeURIComponent(f.id);
          link.textContent = f.properties.name || f.id;
          l.bindPopup(link);
        }
      }).addTo(m);
      if (data.features.length) m.fitBounds(layer.getBounds(), { maxZoom: 13 });
    });
  } else if (overview && overview.dataset.point) {
    var p = overview.dataset.point.split(",").map(Number);
    var one = L.map(overview, { attributionControl: false }).setView([p[1], p[0]], 14);
    context(one, overview);
    L.circleMarker([p[1], p[0]], { radius: 8, color: "#0b4ea2" }).addTo(one);
  }
  var form = document.getElementById("report-form");
  if (!form) return;
  var lon = document.getElementById("lon"), lat = document.getElementById("lat");
  var source = document.getElementById("location_source");
  var pick = document.getElementById("report-map"), marker = null, rm = null;
  function place(y, x, how) {
    lat.value = y.toFixed(6); lon.value = x.toFixed(6); source.value = how;
    if (rm) { if (marker) marker.setLatLng([y, x]); else marker = L.marker([y, x]).addTo(rm); rm.setView([y, x]); }
  }
  if (pick && window.L) {
    rm = L.map(pick, { attributionControl: false });
    var y0 = parseFloat(lat.value), x0 = parseFloat(lon.value);
    if (isFinite(y0) && isFinite(x0)) { rm.setView([y0, x0], 14); marker = L.marker([y0, x0]).addTo(rm); }
    else rm.setView([34.3, 108.9], 7);
    context(rm, pick);
    rm.on("click", function (e) { place(e.latlng.lat, e.latlng.lng, "map"); });
  }
  var gps = document.getElementById("use-gps");
  if (gps && navigator.geolocation) {
    var note = document.getElementById("gps-note");
    var say = function (what) {  // a refusal or a missing fix is said beside the button, never lost silently
      if (!note) return;
      note.textContent = what ? note.dataset[what] || "" : "";
      note.dataset.state = what || "";
      note.hidden = !what;
    };
    gps.addEventListener("click", function () {
      say("asking");
      navigator.geolocation.getCurrentPosition(function (pos) {
        say(null);
        place(pos.coords.latitude, pos.coords.longitude, "gps");
      }, function (err) {
        say(err.code === err.PERMISSION_DENIED ? "denied" : "unavailable");
      }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 });
    });
  } else if (gps) { gps.hidden = true; }
})();
