/* The configuration page: the node table, the blacklist and the master's settings. */
'use strict';

(function () {
  var el = disco.el, $ = disco.$;

  function load() {
    disco.getJSON('/disco/ctrl/load_config_table').then(function (r) {
      var table = disco.clear($('nodetable'));
      table.appendChild(el('tr', null, el('th', null, 'node'), el('th', null, 'slots')));
      (r.data || []).forEach(function (row) {
        table.appendChild(el('tr', {'class': 'noderow'}, el('td', null, row[0]),
                             el('td', {'class': 'num'}, row[1])));
      });
    });
    disco.getJSON('/disco/ctrl/get_blacklist').then(function (r) {
      $('blacklist').textContent = (r.data || []).length ? r.data.join(', ') : 'none';
    });
    disco.getJSON('/disco/ctrl/get_settings').then(function (r) {
      if (!r.data) return;
      $('max_failure_rate').value = r.data.max_failure_rate;
      $('accept_new_jobs').checked = !!Number(r.data.accept_new_jobs);
    });
  }

  disco.header('Configuration', 'config.html');
  $('settings').addEventListener('submit', function (ev) {
    ev.preventDefault();
    disco.postJSON('/disco/ctrl/save_settings', {
      max_failure_rate: String($('max_failure_rate').value),
      accept_new_jobs: $('accept_new_jobs').checked ? '1' : '0'
    }).then(function (text) { $('settingsmsg').textContent = JSON.parse(text); load(); },
            function (e) { $('settingsmsg').textContent = String(e.message || e); });
  });
  load();
})();
