/* The field app's service worker: keeps the app shell so /field opens with no network, and keeps every map
   tile the crew has seen. Records never pass through here: the app keeps them in IndexedDB until the server
   acknowledges them. */
"use strict";

const SHELL = "{{ version }}";
const TILES = "field-tiles-1";
const SHELL_URLS = {{ shell|tojson }};
const APP_URL = SHELL_URLS[0];
const MAX_TILES = 4000;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((cache) => cache.addAll(SHELL_URLS)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== SHELL && k !== TILES).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

function isTile(url) {
  return /\/imagery\/tiles\/\d+\/\d+\/\d+\.png$/.test(url.pathname) || /\.(png|jpe?g|webp)$/.test(url.pathname) &&
    url.origin !== self.location.origin;
}

async function networkFirst(request, key) {
  const cache = await caches.open(SHELL);
  try {
    const response = await fetch(request);
    if (response.ok && !response.redirected) await cache.put(key, response.clone());
    return response;
  } catch (err) {
    const kept = await cache.match(key);
    if (kept) return kept;
    throw err;
  }
}

async function cacheFirst(request, name) {
  const cache = await caches.open(name);
  const kept = await cache.match(request);
  if (kept) return kept;
  const response = await fetch(request);
  if (response.ok || response.type === "opaque") {
    await cache.put(request, response.clone());
    if (name === TILES) trim(cache);
  }
  return response;
}

async function trim(cache) {
  const keys = await cache.keys();
  for (let i = 0; i < keys.length - MAX_TILES; i++) await cache.delete(keys[i]);
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (request.mode === "navigate" && url.origin === self.location.origin && url.pathname === APP_URL) {
    event.respondWith(networkFirst(request, APP_URL));
  } else if (isTile(url)) {
    event.respondWith(cacheFirst(request, TILES));
  } else if (url.origin === self.location.origin && SHELL_URLS.includes(url.pathname)) {
    event.respondWith(networkFirst(request, url.pathname));
  }
});
