/* The outfall list's bulk panel: select the page, count the ticked rows, show the fields of the chosen action. */
(function () {
  'use strict';
  var form = document.getElementById('bulk-form');
  if (!form) { return; }
  var boxes = Array.prototype.slice.call(form.querySelectorAll('input[name="id"]'));
  var all = document.getElementById('select-page');
  var count = document.getElementById('ticked-count');
  var action = document.getElementById('bulk-action');
  function recount() {
    var n = boxes.filter(function (b) { return b.checked; }).length;
    count.textContent = String(n);
    all.checked = n === boxes.length && n > 0;
    all.indeterminate = n > 0 && n < boxes.length;
  }
  function showFields() {
    form.querySelectorAll('[data-for]').forEach(function (el) {
      var on = el.getAttribute('data-for').split(' ').indexOf(action.value) >= 0;
      el.hidden = !on;
      el.querySelectorAll('input, select').forEach(function (i) { i.disabled = !on; });
    });
  }
  all.addEventListener('change', function () {
    boxes.forEach(function (b) { b.checked = all.checked; });
    recount();
  });
  boxes.forEach(function (b) { b.addEventListener('change', recount); });
  action.addEventListener('change', showFields);
  recount();
  showFields();
})();
