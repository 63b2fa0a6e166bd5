// DOM building from elements and text nodes only (never markup strings): every value from the API
// becomes a text node, so a strategy or pair name can never inject markup (and the page needs no
// inline script or style).

/** h('a', {href: '#/x', class: 'y'}, 'text', child, [more]) → an element. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** A table: `columns` are [header, row => cell, {num: true}] triples. */
export function table(caption, columns, rows, opts = {}) {
  const head = h('tr', {}, columns.map(([title, , o]) => h('th', { scope: 'col', class: o && o.num ? 'num' : null }, title)));
  const body = rows.map((r) => h('tr', {}, columns.map(([, cell, o]) => h('td', { class: o && o.num ? 'num' : null }, cell(r)))));
  if (!rows.length) body.push(h('tr', {}, h('td', { colspan: columns.length, class: 'empty' }, opts.empty || 'Nothing yet.')));
  return h('div', { class: 'table-wrap' }, h('table', { id: opts.id }, h('caption', {}, caption), h('thead', {}, head), h('tbody', {}, body)));
}

export function num(x, digits = 2) {
  return typeof x === 'number' && Number.isFinite(x) ? x.toFixed(digits) : '—';
}

export function pct(x, digits = 2) {
  return typeof x === 'number' && Number.isFinite(x) ? (x * 100).toFixed(digits) + ' %' : '—';
}

/** Seconds as `1h 02m 03s`. */
export function duration(secs) {
  if (typeof secs !== 'number' || !Number.isFinite(secs) || secs < 0) return '—';
  const s = Math.round(secs);
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  return (hh ? hh + 'h ' : '') + (hh || mm ? String(mm).padStart(2, '0') + 'm ' : '') + String(ss).padStart(2, '0') + 's';
}

/** An ISO timestamp shortened to `YYYY-MM-DD HH:MM:SS` (UTC). */
export function when(iso) {
  return iso ? String(iso).replace('T', ' ').replace(/(\.\d+)?(Z|\+00:00)$/, '') : '—';
}

/** A status badge whose class follows the status (colours in style.css). */
export function badge(text) {
  return h('span', { class: 'badge b-' + String(text).toLowerCase() }, text);
}

/** A message region for errors and confirmations, read out by screen readers. */
export function notice(kind, text) {
  return h('p', { class: 'notice ' + kind, role: kind === 'error' ? 'alert' : 'status' }, text);
}
