/* Narrow screens: every table cell carries its column's name (data-label), shown beside the value when a table
   stacks into cards, also for rows a page adds later; the menu closes with Escape and tells screen readers
   whether it is open. The menu itself works without this script. */
(function () {
  'use strict';
  function columnNames(table) {
    var head = table.tHead;
    var row = head && head.rows[head.rows.length - 1];
    if (!row) { return null; }
    var names = [];
    Array.prototype.forEach.call(row.cells, function (th) {
      var named = th.querySelector('[aria-label]');
      var name = (th.textContent || '').replace(/\s+/g, ' ').trim() ||
        th.getAttribute('aria-label') || (named ? named.getAttribute('aria-label') : '') || '';
      for (var i = 0; i < (th.colSpan || 1); i += 1) { names.push(name); }
    });
    return names;
  }
  function label(table) {
    var names = columnNames(table);
    if (!names) { return; }
    Array.prototype.forEach.call(table.tBodies, function (body) {
      Array.prototype.forEach.call(body.rows, function (row) {
        var col = 0;
        Array.prototype.forEach.call(row.cells, function (cell) {
          if (!cell.hasAttribute('data-label') && cell.colSpan === 1 && names[col]) {
            cell.setAttribute('data-label', names[col]);
          }
          col += cell.colSpan || 1;
        });
      });
    });
    if (table.tFoot && table.tFoot.rows.length) {
      Array.prototype.forEach.call(table.tFoot.rows, function (row) {
        var col = 0;
        Array.prototype.forEach.call(row.cells, function (cell) {
          if (col > 0 && !cell.hasAttribute('data-label') && cell.colSpan === 1 && names[col]) {
            cell.setAttribute('data-label', names[col]);
          }
          col += cell.colSpan || 1;
        });
      });
    }
  }
  function labelAll() { Array.prototype.forEach.call(document.querySelectorAll('table.grid'), label); }
  labelAll();
  if (window.MutationObserver) {
    var pending = false;
    new MutationObserver(function () {
      if (pending) { return; }
      pending = true;
      window.requestAnimationFrame(function () { pending = false; labelAll(); });
    }).observe(document.body, { childList: true, subtree: true });
  }

  var toggle = document.getElementById('nav-toggle');
  if (!toggle) { return; }
  function sync() { toggle.setAttribute('aria-expanded', toggle.checked ? 'true' : 'false'); }
  toggle.addEventListener('change', sync);
  sync();
  document.addEventListener('keydown', function (e) {
    if (e.key === 'Escape' && toggle.checked) { toggle.checked = false; sync(); toggle.focus(); }
  });
}());
