/* The job page: jobinfo, stage counts, inputs, results, the event log as it grows,
 * and the kill / clean / purge buttons. */
'use strict';

(function () {
  var el = disco.el, $ = disco.$;
  var name = disco.param('name') || '';
  var offset = 0, events = [], status = null, resultsShown = null, gone = false;
  var MAX_LIST = 200;

  function missing(why) {
    gone = true;
    $('job').hidden = true;
    disco.message($('missing'), why, 'error');
  }

  function urlItem(url) {
    var path = disco.dataPath(url);
    var text = /^raw:\/\//.test(url) ? url.slice(0, 300) : url;
    if (!path) return el('li', null, el('code', null, text));
    var file = path.split('/').pop();
    return el('li', null, el('a', {href: path, download: file}, text));
  }

  function list(node, countNode, urls) {
    disco.clear(node);
    urls.slice(0, MAX_LIST).forEach(function (u) { node.appendChild(urlItem(u)); });
    countNode.textContent = '(' + urls.length + ')';
    if (urls.length > MAX_LIST) {
      node.appendChild(el('li', {'class': 'muted'}, '... ' + (urls.length - MAX_LIST) + ' more'));
    }
  }

  /* A result that is an index file (dir://) is listed with the data files it names. */
  function showResults(urls) {
    var key = JSON.stringify(urls);
    if (key === resultsShown) return;
    resultsShown = key;
    list($('results'), $('resultcount'), urls);
    urls.slice(0, 50).forEach(function (url, i) {
      var path = disco.dataPath(url);
      if (!/^dir:/.test(url) || !path) return;
      fetch(path, {cache: 'no-store'}).then(function (r) { return r.ok ? r.text() : ''; })
        .then(function (text) {
          var files = text.split('\n').filter(Boolean).map(function (line) {
            var parts = line.split(' ');
            var data = disco.dataPath(parts[1] || '');
            var label = 'label ' + parts[0] + ', ' + disco.bytes(Number(parts[2]));
            return el('li', null, data ? el('a', {href: data, download: data.split('/').pop(),
                                                  'class': 'datafile'}, label)
                                       : el('span', null, label + ' ' + (parts[1] || '')));
          });
          var item = $('results').children[i];
          if (item && files.length) item.appendChild(el('ul', null, files));
        });
    });
  }

  function render(info) {
    $('job').hidden = false;
    disco.clear($('missing'));
    status = info.active;
    var fields = [['status', el('span', {'class': 'status ' + info.active, id: 'status'},
                                info.active)],
                  ['started', info.timestamp], ['owner', info.owner], ['worker', info.worker],
                  ['running on', (info.hosts || []).join(', ') || '-']];
    var table = disco.clear($('fields'));
    fields.forEach(function (f) {
      table.appendChild(el('tr', null, el('th', null, f[0]), el('td', null, f[1])));
    });
    var stages = disco.clear($('stages'));
    stages.appendChild(el('tr', null, ['stage', 'pending', 'waiting', 'running', 'done',
                                       'failed'].map(function (h) { return el('th', null, h); })));
    info.pipeline.forEach(function (row) {
      stages.appendChild(el('tr', {'data-stage': row[0]}, row.map(function (v, i) {
        return el('td', {'class': i ? 'num' : null}, v);
      })));
    });
    if ($('inputs').childElementCount === 0) list($('inputs'), $('inputcount'), info.inputs);
    showResults(info.results);
    $('kill').disabled = info.active !== 'active';
  }

  function showEvents() {
    var text = ($('eventfilter').value || '').toLowerCase();
    var box = $('events');
    var shown = text ? events.filter(function (e) {
      return (e[0] + ' ' + e[1] + ' ' + e[2]).toLowerCase().indexOf(text) >= 0;
    }) : events;
    disco.clear(box);
    var frag = document.createDocumentFragment();
    shown.forEach(function (e) { frag.appendChild(eventRow(e)); });
    box.appendChild(frag);
    $('eventcount').textContent = '(' + events.length + ')';
  }

  function eventRow(e) {
    var msg = String(e[2]);
    var kind = /^(FATAL|ERROR)/.test(msg) ? 'error' : /^(WARN|Task .* failed)/.test(msg) ? 'warning'
      : /^READY/.test(msg) ? 'ready' : '';
    return el('div', {'class': 'event ' + kind},
              el('span', {'class': 'ts'}, e[0]), el('span', {'class': 'host'}, e[1]),
              el('span', {'class': 'msg'}, msg));
  }

  function refreshEvents() {
    return fetch('/disco/ctrl/rawevents?name=' + encodeURIComponent(name),
                 {cache: 'no-store', headers: offset ? {Range: 'bytes=' + offset + '-'} : {}})
      .then(function (r) {
        if (r.status === 404) return null;
        return r.text().then(function (text) {
          if (r.status === 200 && offset) { events = []; offset = 0; }  // range not served
          var end = text.lastIndexOf('\n') + 1;
          var added = [];
          text.slice(0, end).split('\n').forEach(function (line) {
            if (!line) return;
            try { added.push(JSON.parse(line)); } catch (e) { /* a partial line */ }
          });
          offset += end;
          if (!added.length) return;
          var box = $('events');
          var atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
          events = events.concat(added);
          if (($('eventfilter').value || '') || box.childElementCount !== events.length -
              added.length) {
            showEvents();
          } else {
            var frag = document.createDocumentFragment();
            added.forEach(function (e) { frag.appendChild(eventRow(e)); });
            box.appendChild(frag);
            $('eventcount').textContent = '(' + events.length + ')';
          }
          if ($('follow').checked && (atBottom || added.length === events.length)) {
            box.scrollTop = box.scrollHeight;
          }
        });
      });
  }

  function refresh() {
    if (gone) return false;
    return disco.getJSON('/disco/ctrl/jobinfo?name=' + encodeURIComponent(name))
      .then(function (r) {
        if (r.status === 404) {
          missing('No job named "' + name + '" on this master: it may have been cleaned or ' +
                  'purged, or the name is wrong.');
          return false;
        }
        if (r.status !== 200) { disco.message($('missing'), 'jobinfo: HTTP ' + r.status, 'error'); return true; }
        render(r.data);
        var wasActive = r.data.active === 'active';
        return refreshEvents().then(function () { return wasActive; });
      });
  }

  function action(verb, ask) {
    return function () {
      if (ask && !window.confirm(ask)) return;
      $('actionmsg').textContent = verb + '...';
      disco.postJSON('/disco/ctrl/' + verb + '_job', name).then(function () {
        var done = {kill: 'killed', clean: 'cleaned', purge: 'purged'}[verb];
        $('actionmsg').textContent = done;
        if (verb === 'kill') {
          disco.poll(refresh, 500);
        } else {
          missing('Job "' + name + '" was ' + done + ': the master no longer knows it' +
                  (verb === 'purge' ? ' and its data is deleted.' : '.'));
        }
      }, function (e) { $('actionmsg').textContent = String(e.message || e); });
    };
  }

  disco.header(name || 'Job');
  $('jobname').textContent = name;
  if (!name) { missing('No job name given: open this page as job.html?name=JOB.'); return; }
  $('dataflow').setAttribute('href', disco.dataflowPage(name));
  $('kill').addEventListener('click', action('kill', 'Kill job ' + name + '?'));
  $('clean').addEventListener('click', action('clean', 'Clean job ' + name +
    '? The master forgets it (its data is kept).'));
  $('purge').addEventListener('click', action('purge', 'Purge job ' + name +
    '? The master forgets it and deletes its data.'));
  $('eventfilter').addEventListener('input', showEvents);
  disco.poll(refresh, 500);
})();
