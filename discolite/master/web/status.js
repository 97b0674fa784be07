/* The status page: the nodes with their task slots, and the job list (newest first). */
'use strict';

(function () {
  var el = disco.el, $ = disco.$;
  var jobs = [], lastJobs = null, lastNodes = null;

  function renderNodes(info) {
    var box = disco.clear($('nodes'));
    Object.keys(info).sort().forEach(function (host) {
      var node = info[host];
      var busy = (node.tasks || []).length, slots = node.max_workers || 0;
      var cells = [];
      for (var i = 0; i < Math.max(slots, busy); i++) {
        var job = i < busy ? node.tasks[i] : null;
        cells.push(el('span', {'class': 'slot ' + (job ? 'busy' : 'free'),
                               title: job ? 'running a task of ' + job : 'free'}));
      }
      var toggle = el('button', {type: 'button', 'class': 'small',
                                 onclick: function () {
                                   disco.postJSON(node.blacklisted ? '/disco/ctrl/whitelist'
                                                  : '/disco/ctrl/blacklist', host)
                                     .then(refreshNodes);
                                 }},
                      node.blacklisted ? 'whitelist' : 'blacklist');
      box.appendChild(el('div', {'class': 'node' + (node.blacklisted ? ' blacklisted' : ''),
                                 'data-host': host},
        el('h3', null, host, node.blacklisted ? el('span', {'class': 'flag'}, 'blacklisted')
                                             : null),
        el('div', {'class': 'slots', 'data-busy': busy, 'data-slots': slots}, cells),
        el('p', {'class': 'muted'}, busy + ' of ' + slots + ' slots busy'),
        el('p', {'class': 'muted'}, 'tasks ok ' + node.job_ok + ', data errors ' +
           node.data_error + ', errors ' + node.error),
        node.diskfree !== undefined ?
          el('p', {'class': 'muted'}, 'disk free ' + disco.bytes(node.diskfree * 1024)) : null,
        toggle));
    });
  }

  function renderJobs() {
    var text = ($('filter').value || '').trim().toLowerCase();
    var shown = text ? jobs.filter(function (j) {
      return j[2].toLowerCase().indexOf(text) >= 0 || j[1] === text;
    }) : jobs;
    $('jobcount').textContent = text ? '(' + shown.length + ' of ' + jobs.length + ')'
                                     : '(' + jobs.length + ')';
    var box = disco.clear($('jobs'));
    if (!shown.length) {
      box.appendChild(el('p', {'class': 'message'},
                         jobs.length ? 'No job matches the filter.' : 'No jobs yet.'));
      return;
    }
    // rows are grid boxes, not table rows: content-visibility lets the browser skip the
    // layout of the rows out of view, which keeps a list of thousands of jobs fast
    var rows = document.createDocumentFragment();
    shown.forEach(function (j) {
      rows.appendChild(el('div', {'class': 'row job ' + j[1], role: 'row', 'data-name': j[2],
                                  'data-status': j[1]},
        el('span', {role: 'cell'}, el('span', {'class': 'status ' + j[1]}, j[1])),
        el('span', {role: 'cell'}, el('a', {href: disco.jobPage(j[2])}, j[2])),
        el('span', {role: 'cell', 'class': 'muted'}, disco.time(j[0])),
        el('span', {role: 'cell'}, el('a', {href: disco.dataflowPage(j[2]), 'class': 'muted'},
                                          'dataflow'))));
    });
    box.appendChild(el('div', {'class': 'joblist', role: 'table'},
      el('div', {'class': 'row head', role: 'row'}, ['status', 'job', 'started', ''].map(
        function (h) { return el('span', {role: 'columnheader'}, h); })), rows));
  }

  function refreshNodes() {
    return disco.getJSON('/disco/ctrl/nodeinfo').then(function (r) {
      if (r.status !== 200) { disco.message($('nodes'), 'nodeinfo: HTTP ' + r.status, 'error'); return; }
      var key = JSON.stringify(r.data);
      if (key !== lastNodes) { lastNodes = key; renderNodes(r.data); }
    });
  }

  function refreshJobs() {
    return disco.getJSON('/disco/ctrl/joblist').then(function (r) {
      if (r.status !== 200) { disco.message($('jobs'), 'joblist: HTTP ' + r.status, 'error'); return; }
      var key = JSON.stringify(r.data);
      if (key !== lastJobs) { lastJobs = key; jobs = r.data; renderJobs(); }
    });
  }

  disco.header('Status', 'index.html');
  $('filter').value = disco.param('filter') || '';
  $('filter').addEventListener('input', renderJobs);
  disco.poll(function () { return Promise.all([refreshNodes(), refreshJobs()]); }, 2000);
})();
