/* A background job's page: poll its state, move the progress bar, and show the report when it is done. */
(function () {
  'use strict';
  var cfg = JSON.parse(document.getElementById('job-config').textContent);
  var stages = JSON.parse(document.getElementById('job-text').textContent);
  var box = document.getElementById('job');
  var bar = document.getElementById('job-progress');
  var stage = document.getElementById('job-stage');
  if (!bar || box.getAttribute('data-status') === 'failed') { return; }
  function poll() {
    fetch(cfg.url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) { if (!r.ok) { throw new Error('HTTP ' + r.status); } return r.json(); })
      .then(function (job) {
        box.setAttribute('data-status', job.status);
        if (job.status === 'done' || job.status === 'failed') { window.location.assign(cfg.done); return; }
        bar.max = Math.max(job.total, 1);
        bar.value = job.done;
        stage.textContent = stages[job.message] || job.message || stage.textContent;
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
