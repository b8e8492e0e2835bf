/* Log-out while the field app (/field) still keeps records on this device that the server has not acknowledged:
   ask first, as the field app's own log-out does. The records live in the field app's IndexedDB database; it is
   only looked up when the browser can list databases, so this page never creates one (an empty database of the
   same name would keep the field app from making its stores). */
(function () {
  'use strict';
  var form = document.getElementById('logout-form');
  if (!form || !window.indexedDB || !indexedDB.databases) { return; }
  var name = form.getAttribute('data-field-db');
  var confirmed = false;

  function waiting() {
    return indexedDB.databases().then(function (dbs) {
      if (!dbs.some(function (d) { return d.name === name; })) { return 0; }
      return new Promise(function (resolve) {
        var open = indexedDB.open(name);
        open.onerror = function () { resolve(0); };
        open.onsuccess = function () {
          var db = open.result;
          if (!db.objectStoreNames.contains('records')) { db.close(); resolve(0); return; }
          var count = db.transaction('records', 'readonly').objectStore('records').count();
          count.onsuccess = function () { db.close(); resolve(count.result); };
          count.onerror = function () { db.close(); resolve(0); };
        };
      });
    }).catch(function () { return 0; });
  }

  form.addEventListener('submit', function (event) {
    if (confirmed) { return; }
    event.preventDefault();
    waiting().then(function (n) {
      var question = (form.getAttribute('data-waiting-question') || '').replace('{n}', String(n));
      if (n === 0 || window.confirm(question)) {
        confirmed = true;
        form.submit();
      }
    });
  });
}());
