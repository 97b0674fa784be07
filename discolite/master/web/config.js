/* The configuration page: the node table, the blacklist and the master's settings. */
'use strict';

(function () {
  var el = disco.el, $ = disco.$;

  function nodeRow(host, slots) {
    var row = el('tr', {'class': 'noderow'},
      el('td', null, el('input', {type: 'text', 'class': 'host', value: host,
                                  spellcheck: 'false', 'aria-label': 'node'})),
      el('td', null, el('input', {type: 'number', 'class': 'slots', min: 0, value: slots,
                                  'aria-label': 'slots'})),
      el('td', null, el('button', {type: 'button', 'class': 'small',
                                   onclick: function () { row.parentNode.removeChild(row); }},
                        'remove')));
    return row;
  }

  function load() {
    disco.getJSON('/disco/ctrl/load_config_table').then(function (r) {
      var table = disco.clear($('nodetable'));
      table.appendChild(el('tr', null, el('th', null, 'node'), el('th', null, 'slots'),
                           el('th')));
      (r.data || []).forEach(function (row) { table.appendChild(nodeRow(row[0], row[1])); });
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
  $('addnode').addEventListener('click', function () {
    $('nodetable').appendChild(nodeRow('', '1'));
  });
  $('config').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var rows = Array.prototype.map.call(document.querySelectorAll('#nodetable tr.noderow'),
      function (tr) {
        return [tr.querySelector('.host').value.trim(), String(tr.querySelector('.slots').value)];
      });
    $('configmsg').textContent = 'saving...';
    disco.postJSON('/disco/ctrl/save_config_table', rows).then(function (text) {
      $('configmsg').textContent = JSON.parse(text);
      load();
    }, function (e) { $('configmsg').textContent = String(e.message || e); });
  });
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
