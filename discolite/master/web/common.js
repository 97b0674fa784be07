/* Helpers shared by discolite's pages (plain JavaScript, no library).
 *
 * Everything that comes from the master (job names, events, URLs, tags) is put
 * into the page as text nodes or attribute values, never as HTML: see el(). */
'use strict';

var disco = (function () {
  /* el('a', {href: '/x', 'class': 'c'}, 'text', child, ...): strings become text nodes. */
  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) return;
        if (key === 'onclick' || key === 'oninput' || key === 'onchange') {
          node.addEventListener(key.slice(2), value);
        } else if (key === 'href') {
          node.setAttribute('href', safeHref(value));
        } else {
          node.setAttribute(key, String(value));
        }
      });
    }
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  function append(node, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(node, c); }); return; }
    node.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }

  /* Only links into this master (a path) or to one of our pages; anything else is dropped. */
  function safeHref(value) {
    value = String(value);
    if (/^\/(?!\/)/.test(value) || /^[a-z]+\.html(\?|#|$)/.test(value)) return value;
    return '#';
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  function $(id) { return document.getElementById(id); }

  function param(name) { return new URLSearchParams(window.location.search).get(name); }

  /* GET a JSON endpoint: resolves to {status, data} (data is null unless 200 and JSON). */
  function getJSON(path) {
    return fetch(path, {cache: 'no-store'}).then(function (r) {
      if (r.status !== 200) return {status: r.status, data: null};
      return r.json().then(function (data) { return {status: 200, data: data}; },
                           function () { return {status: r.status, data: null}; });
    });
  }

  function postJSON(path, value) {
    return fetch(path, {method: 'POST', body: JSON.stringify(value),
                        headers: {'Content-Type': 'application/json'}})
      .then(function (r) {
        return r.text().then(function (text) {
          if (r.status !== 200) throw new Error('HTTP ' + r.status + ': ' + text);
          return text;
        });
      });
  }

  /* disco://HOST/disco/... and dir://HOST/disco/... of this master as a download path. */
  function dataPath(url) {
    var m = /^(?:disco|dir):\/\/[^\/]+(\/disco\/.+)$/.exec(String(url));
    return m ? m[1] : null;
  }

  function jobPage(name) { return 'job.html?name=' + encodeURIComponent(name); }
  function dataflowPage(name) { return 'dataflow.html?name=' + encodeURIComponent(name); }

  function bytes(n) {
    if (n === null || n === undefined) return '?';
    if (n < 1024) return n + ' B';
    var units = ['KiB', 'MiB', 'GiB', 'TiB'], i = -1;
    do { n /= 1024; i++; } while (n >= 1024 && i < units.length - 1);
    return (n < 10 ? n.toFixed(1) : Math.round(n)) + ' ' + units[i];
  }

  function count(n) {
    if (n === null || n === undefined) return '?';
    return Number(n).toLocaleString('en-US');
  }

  function seconds(s) {
    if (s === null || s === undefined) return '';
    if (s < 1) return Math.round(s * 1000) + ' ms';
    if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + ' s';
    var m = Math.floor(s / 60);
    if (m < 60) return m + ' min ' + Math.round(s - m * 60) + ' s';
    return Math.floor(m / 60) + ' h ' + (m % 60) + ' min';
  }

  function time(secs) {
    var d = new Date(secs * 1000);
    function p(x) { return (x < 10 ? '0' : '') + x; }
    return d.getFullYear() + '/' + p(d.getMonth() + 1) + '/' + p(d.getDate()) + ' ' +
      p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
  }

  function header(title, active) {
    var links = [['index.html', 'Status'], ['config.html', 'Configuration']];
    var nav = el('nav', null, el('a', {href: 'index.html', 'class': 'brand'}, 'discolite'),
                 links.map(function (l) {
                   return el('a', {href: l[0], 'class': l[0] === active ? 'active' : null},
                             l[1]);
                 }));
    document.body.insertBefore(el('header', null, nav), document.body.firstChild);
    if (title) document.title = title + ' - discolite';
  }

  function message(node, text, kind) {
    clear(node).appendChild(el('p', {'class': 'message ' + (kind || '')}, text));
  }

  /* Call fn now and every `ms` while it resolves to true (stops on false). */
  function poll(fn, ms) {
    function tick() {
      Promise.resolve().then(fn).then(function (again) {
        if (again !== false) setTimeout(tick, ms);
      }, function (e) {
        if (window.console) console.error(e);
        setTimeout(tick, ms * 4);
      });
    }
    tick();
  }

  return {el: el, clear: clear, $: $, param: param, getJSON: getJSON, postJSON: postJSON,
          dataPath: dataPath, jobPage: jobPage, dataflowPage: dataflowPage, bytes: bytes,
          count: count, seconds: seconds, time: time, header: header, message: message,
          poll: poll};
})();
