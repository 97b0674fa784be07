/* The dataflow view: inputs -> the tasks of each stage (one column per stage) with the
 * files each task wrote, one per label -> results, drawn from /disco/ctrl/dataflow and
 * redrawn while the job runs.  Stages with many tasks are drawn as a grid of small
 * squares, with one arrow per column carrying the totals. */
'use strict';

(function () {
  var el = disco.el, $ = disco.$;
  var SVG = 'http://www.w3.org/2000/svg';
  var COMPACT = 48;          // more tasks than this in a stage: a grid of squares
  var LIST = 48;             // inputs / results shown one by one up to this many
  var name = disco.param('name') || '';
  var data = null, lastKey = null, selected = null, tasksById = {}, lastArrows = [];

  function stateClass(t) {
    return 'state-' + t.state + (t.retried ? ' retried' : '');
  }

  function stateText(t) {
    var text = t.state;
    if (t.retried) {
      text += t.state === 'failed' ? ' after ' + t.failures + ' failures'
        : ' (failed ' + t.failures + '\u00d7, retried)';
    }
    return text;
  }

  function carried(records, bytes) {
    return disco.count(records) + ' rec \u00b7 ' + disco.bytes(bytes);
  }

  function partId(taskid, label) { return 'p-' + taskid + '-' + String(label); }

  function taskCard(t) {
    var parts = (t.outputs || []).slice().sort(function (a, b) {
      return String(a.label).localeCompare(String(b.label), 'en', {numeric: true});
    }).map(function (o) {
      return el('span', {'class': 'part', id: partId(t.id, o.label), 'data-label': o.label,
                         'data-records': o.records, 'data-bytes': o.bytes,
                         title: 'label ' + o.label + ': ' + carried(o.records, o.bytes)},
                'label ' + o.label + ' \u00b7 ' + disco.count(o.records) + ' rec');
    });
    var meta = [t.host, disco.seconds(t.duration)].filter(Boolean).join(' \u00b7 ');
    return el('div', {'class': 'task ' + stateClass(t), id: 't-' + t.id, 'data-task': t.id,
                      'data-stage': t.name.slice(0, t.name.lastIndexOf(':')),
                      'data-state': t.state, 'data-failures': t.failures,
                      'data-records-in': t.records_in, 'data-records-out': t.records_out,
                      tabindex: 0, onclick: function () { select(t.id); }},
      el('div', {'class': 'name'}, t.name, el('span', {'class': 'badge'}, stateText(t))),
      meta ? el('div', {'class': 'meta'}, meta) : null,
      el('div', {'class': 'meta records'}, 'records ' + disco.count(t.records_in) + ' in \u2192 ' +
         disco.count(t.records_out) + ' out'),
      t.error && t.state !== 'done' ? el('div', {'class': 'meta error'}, t.error) : null,
      parts.length ? el('div', {'class': 'parts'}, parts) : null);
  }

  function taskSquare(t) {
    return el('span', {'class': 'sq ' + stateClass(t), id: 't-' + t.id, 'data-task': t.id,
                       'data-state': t.state, title: t.name + ': ' + stateText(t) +
                       (t.duration !== null ? ', ' + disco.seconds(t.duration) : ''),
                       onclick: function () { select(t.id); }});
  }

  function summary(tasks) {
    var by = {}, rin = 0, rout = 0, bout = 0;
    tasks.forEach(function (t) {
      by[t.state] = (by[t.state] || 0) + 1;
      rin += t.records_in || 0; rout += t.records_out || 0; bout += t.bytes_out || 0;
    });
    var states = Object.keys(by).sort().map(function (s) { return by[s] + ' ' + s; }).join(', ');
    return states + '; records ' + disco.count(rin) + ' in \u2192 ' + disco.count(rout) +
      ' out (' + disco.bytes(bout) + ')';
  }

  function column(cls, title, body, attrs) {
    var a = attrs || {};
    a['class'] = 'col ' + cls;
    return el('div', a, el('h3', null, title), body);
  }

  function inputText(input) {
    var url = input.url;
    return url.length > 60 ? url.slice(0, 57) + '...' : url;
  }

  function render() {
    var flow = $('flow');
    var svg = $('arrows');
    Array.prototype.slice.call(flow.children).forEach(function (c) {
      if (c !== svg) flow.removeChild(c);
    });
    tasksById = {};
    var arrows = [];
    // inputs
    var inputs = data.inputs;
    var inputBody;
    if (inputs.length <= LIST) {
      inputBody = inputs.map(function (i) {
        return el('div', {'class': 'input', id: 'i-' + i.index, title: i.url},
                  inputText(i), i.bytes !== null ? el('span', {'class': 'meta'},
                                                       ' ' + disco.bytes(i.bytes)) : null);
      });
    } else {
      inputBody = el('div', {'class': 'box', id: 'inputs-all'}, inputs.length + ' inputs',
                     el('div', {'class': 'meta'}, inputs.slice(0, 5).map(inputText).join(', ') +
                        ', ...'));
    }
    var cols = [column('inputs', 'inputs (' + inputs.length + ')', inputBody,
                       {id: 'col-inputs'})];
    var prevCompact = inputs.length > LIST, prevId = 'col-inputs';
    data.stages.forEach(function (stage, k) {
      stage.tasks.forEach(function (t) { tasksById[t.id] = t; });
      var compact = stage.tasks.length > COMPACT;
      var title = stage.name + ' \u00b7 ' + stage.grouping + ' (' +
        (stage.scheduled ? stage.tasks.length + ' task' + (stage.tasks.length === 1 ? '' : 's')
                         : 'not started') + ')';
      var body;
      if (!stage.scheduled) {
        body = el('p', {'class': 'muted'}, data.status === 'active'
                  ? 'starts when the previous stage is done' : 'did not run');
      } else if (compact) {
        body = [el('div', {'class': 'meta'}, summary(stage.tasks)),
                el('div', {'class': 'grid'}, stage.tasks.map(taskSquare))];
      } else {
        body = stage.tasks.map(taskCard);
      }
      var colId = 'col-' + k;
      cols.push(column('stage' + (stage.current ? ' current' : ''), title, body,
                       {id: colId, 'data-stage': stage.name, 'data-compact': compact}));
      // arrows into this stage
      var edges = [];
      stage.tasks.forEach(function (t) {
        t.inputs.forEach(function (inp) {
          if (inp.input !== undefined) {
            var src = inputs[inp.input];
            edges.push({from: 'i-' + inp.input, to: 't-' + t.id,
                        records: t.inputs.length === 1 ? t.records_in : null,
                        bytes: src ? src.bytes : null});
            return;
          }
          var s = tasksById[inp.task];
          if (!s) return;
          var outs = (s.outputs || []).filter(function (o) {
            return inp.label === 'all' || String(o.label) === String(inp.label);
          });
          if (!outs.length) {
            edges.push({from: 't-' + s.id, to: 't-' + t.id, records: null, bytes: null,
                        pending: true});
          }
          outs.forEach(function (o) {
            edges.push({from: partId(s.id, o.label), to: 't-' + t.id, records: o.records,
                        bytes: o.bytes});
          });
        });
      });
      if (compact || prevCompact || edges.length > 200) {
        if (edges.length) {
          arrows.push({from: prevId, to: colId, wide: true, records: total(edges, 'records'),
                       bytes: total(edges, 'bytes')});
        }
      } else {
        arrows = arrows.concat(edges);
      }
      prevCompact = compact;
      prevId = colId;
    });
    // results
    var results = data.results;
    var resultBody;
    if (!results.length) {
      resultBody = el('p', {'class': 'muted'}, data.status === 'active' ? 'not yet'
                      : data.status === 'dead' ? 'none: the job died' : 'none');
    } else if (results.length <= LIST) {
      resultBody = results.map(function (r, i) {
        var t = tasksById[r.task];
        var files = t ? (t.outputs || []) : [];
        return el('div', {'class': 'result', id: 'r-' + i,
                          'data-records': t ? t.records_out : null},
          el('div', {'class': 'name'}, t ? t.name : 'result ' + i),
          el('div', {'class': 'meta'}, t ? carried(t.records_out, t.bytes_out) : r.url),
          files.map(function (o) {
            return o.href ? el('a', {href: o.href, download: o.href.split('/').pop(),
                                     'class': 'download'}, 'download label ' + o.label) : null;
          }));
      });
      results.forEach(function (r, i) {
        if (r.task !== null && tasksById[r.task]) {
          var t = tasksById[r.task];
          arrows.push({from: 't-' + r.task, to: 'r-' + i, records: t.records_out,
                       bytes: t.bytes_out, skip: prevCompact});
        }
      });
      arrows = arrows.filter(function (a) { return !a.skip; });
    } else {
      var rtasks = results.map(function (r) { return tasksById[r.task]; }).filter(Boolean);
      resultBody = el('div', {'class': 'box', id: 'results-all'}, results.length + ' results',
                      el('div', {'class': 'meta'},
                         carried(total(rtasks, 'records_out'), total(rtasks, 'bytes_out'))));
      arrows.push({from: prevId, to: 'col-results', wide: true,
                   records: total(rtasks, 'records_out'), bytes: total(rtasks, 'bytes_out')});
    }
    cols.push(column('results', 'results (' + results.length + ')', resultBody,
                     {id: 'col-results'}));
    cols.forEach(function (c) { flow.appendChild(c); });
    lastArrows = arrows;
    drawArrows(arrows);
  }

  function total(items, key) {
    var sum = 0;
    for (var i = 0; i < items.length; i++) {
      var v = items[i][key];
      if (v === null || v === undefined) return null;
      sum += v;
    }
    return sum;
  }

  function drawArrows(arrows) {
    var flow = $('flow'), svg = $('arrows');
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    svg.setAttribute('width', flow.scrollWidth);
    svg.setAttribute('height', flow.scrollHeight);
    var base = flow.getBoundingClientRect();
    var defs = document.createElementNS(SVG, 'defs');
    var marker = document.createElementNS(SVG, 'marker');
    marker.setAttribute('id', 'head');
    marker.setAttribute('viewBox', '0 0 10 10');
    marker.setAttribute('refX', '9'); marker.setAttribute('refY', '5');
    marker.setAttribute('markerWidth', '9'); marker.setAttribute('markerHeight', '9');
    marker.setAttribute('orient', 'auto');
    marker.setAttribute('markerUnits', 'userSpaceOnUse');  // the same head on wide arrows
    var tip = document.createElementNS(SVG, 'path');
    tip.setAttribute('d', 'M0,0 L10,5 L0,10 z');
    marker.appendChild(tip);
    defs.appendChild(marker);
    svg.appendChild(defs);
    var labels = document.createElementNS(SVG, 'g');
    arrows.forEach(function (a) {
      var f = document.getElementById(a.from), t = document.getElementById(a.to);
      if (!f || !t) return;
      var fr = f.getBoundingClientRect(), tr = t.getBoundingClientRect();
      var x1 = fr.right - base.left + flow.scrollLeft, y1 = fr.top + fr.height / 2 - base.top;
      var x2 = tr.left - base.left + flow.scrollLeft - 2, y2 = tr.top + Math.min(tr.height / 2, 18) - base.top;
      if (a.wide) {
        y1 = fr.top + 40 - base.top; y2 = tr.top + 40 - base.top;
      }
      var dx = Math.max(30, (x2 - x1) / 2);
      var path = document.createElementNS(SVG, 'path');
      path.setAttribute('d', 'M' + x1 + ',' + y1 + ' C' + (x1 + dx) + ',' + y1 + ' ' +
                        (x2 - dx) + ',' + y2 + ' ' + x2 + ',' + y2);
      path.setAttribute('class', 'arrow' + (a.wide ? ' wide' : '') + (a.pending ? ' pending' : ''));
      path.setAttribute('marker-end', 'url(#head)');
      path.setAttribute('data-from', a.from);
      path.setAttribute('data-to', a.to);
      if (a.records !== null && a.records !== undefined) path.setAttribute('data-records', a.records);
      if (a.bytes !== null && a.bytes !== undefined) path.setAttribute('data-bytes', a.bytes);
      var title = document.createElementNS(SVG, 'title');
      title.textContent = a.from + ' \u2192 ' + a.to + ': ' + carried(a.records, a.bytes);
      path.appendChild(title);
      svg.appendChild(path);
      if (!a.pending && (a.records !== null || a.bytes !== null)) {
        var text = document.createElementNS(SVG, 'text');
        var lx = a.wide ? (x1 + x2) / 2 : x1 + Math.min(60, (x2 - x1) * 0.45);
        var ly = a.wide ? (y1 + y2) / 2 - 6 : y1 + (y2 - y1) * 0.12 - 3;
        text.setAttribute('x', lx); text.setAttribute('y', ly);
        text.setAttribute('class', 'arrowlabel');
        text.setAttribute('text-anchor', 'middle');
        text.textContent = carried(a.records, a.bytes);
        labels.appendChild(text);
      }
    });
    svg.appendChild(labels);
  }

  function select(id) {
    selected = id;
    Array.prototype.forEach.call(document.querySelectorAll('.selected'), function (n) {
      n.classList.remove('selected');
    });
    var node = document.getElementById('t-' + id);
    if (node) node.classList.add('selected');
    showDetail(true);
  }

  function showDetail(fetchEvents) {
    var t = tasksById[selected];
    var box = $('detail');
    if (!t) { box.hidden = true; return; }
    box.hidden = false;
    disco.clear(box);
    var rows = [['state', stateText(t)], ['host', t.host || '-'],
                ['duration', disco.seconds(t.duration) || '-'],
                ['records in', disco.count(t.records_in)],
                ['records out', disco.count(t.records_out)],
                ['bytes out', disco.bytes(t.bytes_out)],
                ['reads', t.inputs.map(function (i) {
                  return i.input !== undefined ? 'input ' + i.input
                    : (tasksById[i.task] ? tasksById[i.task].name : 'task ' + i.task) +
                      ' label ' + i.label;
                }).join(', ') || '-']];
    if (t.error) rows.push(['last error', t.error]);
    box.appendChild(el('div', {'class': 'detailhead'},
      el('h3', null, t.name),
      el('button', {type: 'button', 'class': 'small', onclick: function () {
        selected = null; box.hidden = true;
        Array.prototype.forEach.call(document.querySelectorAll('.selected'), function (n) {
          n.classList.remove('selected');
        });
      }}, 'close')));
    box.appendChild(el('table', {'class': 'fields'}, rows.map(function (r) {
      return el('tr', null, el('th', null, r[0]), el('td', null, r[1]));
    })));
    var outs = (t.outputs || []).filter(function (o) { return o.href; });
    box.appendChild(el('h4', null, 'Output'));
    if (!outs.length) {
      box.appendChild(el('p', {'class': 'muted'}, t.state === 'done' ? 'no output files'
                                                                    : 'none yet'));
    } else {
      box.appendChild(el('ul', {'class': 'urls'}, outs.map(function (o) {
        return el('li', null, el('a', {href: o.href, download: o.href.split('/').pop(),
                                       'class': 'download'},
                                 'label ' + o.label + ': ' + carried(o.records, o.bytes)));
      }), t.index && disco.dataPath(t.index) ?
        el('li', null, el('a', {href: disco.dataPath(t.index), 'class': 'muted',
                                download: disco.dataPath(t.index).split('/').pop()},
                          'index file')) : null));
    }
    box.appendChild(el('h4', null, 'Events'));
    var events = el('div', {'class': 'events', id: 'taskevents'});
    box.appendChild(events);
    if (!fetchEvents && box.__events) {
      fillEvents(events, box.__events);
      return;
    }
    var wanted = selected;
    disco.getJSON('/disco/ctrl/dataflow?name=' + encodeURIComponent(name) + '&task=' + wanted)
      .then(function (r) {
        if (selected !== wanted || !r.data) return;
        box.__events = r.data;
        fillEvents(document.getElementById('taskevents'), r.data);
      });
  }

  function fillEvents(node, events) {
    if (!node) return;
    disco.clear(node);
    events.forEach(function (e) {
      node.appendChild(el('div', {'class': 'event'}, el('span', {'class': 'ts'}, e[0]),
                          el('span', {'class': 'host'}, e[1]), el('span', {'class': 'msg'}, e[2])));
    });
  }

  function refresh() {
    return disco.getJSON('/disco/ctrl/dataflow?name=' + encodeURIComponent(name))
      .then(function (r) {
        if (r.status === 404) {
          return disco.getJSON('/disco/ctrl/jobinfo?name=' + encodeURIComponent(name))
            .then(function (info) {
              disco.message($('missing'), info.status === 200
                ? 'This master has no dataflow view (a real Disco master?): see the job page.'
                : 'No job named "' + name + '" on this master: it may have been cleaned or ' +
                  'purged, or the name is wrong.', 'error');
              $('flow').hidden = true;
              $('detail').hidden = true;
              return false;
            });
        }
        if (r.status !== 200) { disco.message($('missing'), 'dataflow: HTTP ' + r.status, 'error'); return true; }
        data = r.data;
        var st = $('jobstatus');
        st.className = 'status ' + data.status;
        st.textContent = data.status;
        var key = JSON.stringify([data.status, data.stages, data.results]);
        if (key !== lastKey) {
          lastKey = key;
          render();
          $('summary').textContent = data.events + ' events' +
            (data.finished ? ', took ' + disco.seconds(data.finished - data.start) : ', running for ' +
             disco.seconds(data.now - data.start));
          if (selected !== null) {
            var node = document.getElementById('t-' + selected);
            if (node) node.classList.add('selected');
            showDetail(true);
          }
        }
        document.body.setAttribute('data-status', data.status);
        return data.status === 'active';
      });
  }

  disco.header(name ? 'Dataflow ' + name : 'Dataflow');
  $('jobname').textContent = name;
  $('joblink').setAttribute('href', disco.jobPage(name));
  if (!name) { disco.message($('missing'), 'No job name given: open dataflow.html?name=JOB.', 'error'); return; }
  window.addEventListener('resize', function () { drawArrows(lastArrows); });
  // poll while the job runs; a big job's JSON is larger, so it is asked for less often
  (function loop() {
    refresh().then(function (again) {
      if (again === false) return;
      var tasks = data ? data.stages.reduce(function (n, s) { return n + s.tasks.length; }, 0)
                       : 0;
      setTimeout(loop, tasks > 2000 ? 3000 : tasks > 200 ? 1500 : 700);
    }, function () { setTimeout(loop, 3000); });
  })();
})();
