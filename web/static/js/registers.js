/* The registers page: the quick as-of choices (today, the last year-end, each target deadline) fill the date. */
(function () {
  'use strict';
  var input = document.getElementById('export-as-of');
  var choices = document.getElementById('as-of-choices');
  if (!input || !choices) { return; }
  choices.addEventListener('click', function (e) {
    var day = e.target && e.target.dataset ? e.target.dataset.asOf : null;
    if (day) { input.value = day; }
  });
})();
