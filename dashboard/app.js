// The Signalbox dashboard: a plain browser ES module over the control plane's /api/v1. No
// framework and no build step. The token lives in sessionStorage, so it goes with the tab.
// Everything from the API reaches the page as text nodes (h() below), never as HTML, and with its
// control characters shown escaped (printable() below).

import { chart, METRICS } from './charts.js';

const API = '/api/v1';
const TOKEN_KEY = 'signalbox.token';
const KINDS = ['upstreams', 'routes', 'policies', 'certificates', 'consumers'];
const OP_LABEL = { add: 'added', change: 'changed', remove: 'removed' };
const VALIDATE_DELAY_MS = 300;
const REFRESH_MS = 5000;
const ROLES = ['viewer', 'editor', 'admin'];

const $ = (selector) => document.querySelector(selector);

/**
 * C0 and C1 controls but tab and line feed, DEL, line and paragraph separators, bidirectional marks,
 * overrides and isolates: what could make a version's message or author read as something else.
 * The same set the control plane refuses in new messages (src/api/audit-text.ts).
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** `text` with each control character shown as `\u{1b}`. */
const printable = (text) => text.replace(CONTROL, (c) => `\\u{${c.codePointAt(0).toString(16)}}`);

/** An element with attributes (on* are listeners) and children (strings become printable text nodes). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'value') el.value = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  el.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false).map((c) => (typeof c === 'string' ? printable(c) : c)));
  return el;
}

// ---- talking to the API ----------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super(body && typeof body === 'object' && body.error ? body.error : `HTTP ${status}`);
    this.status = status;
    this.details = (body && body.details) || [];
  }
}

const token = () => sessionStorage.getItem(TOKEN_KEY);

async function api(method, path, { body, headers = {} } = {}) {
  let res;
  try {
    res = await fetch(API + path, { method, body, headers: { authorization: `Bearer ${token()}`, ...headers } });
  } catch {
    throw new ApiError(0, { error: 'the control plane did not answer; is it still running?' });
  }
  const data = (res.headers.get('content-type') || '').includes('json') ? await res.json() : await res.text();
  if (res.status === 401) {
    logout(`The control plane refused this token (${data.error || 'HTTP 401'}). Log in with a valid token.`);
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return { data, etag: res.headers.get('etag') };
}

/** One sentence a user can act on; `conflict` says what a 409 means where it happened. */
function explain(err, { conflict = 'Not applied: someone changed the config first' } = {}) {
  if (!(err instanceof ApiError)) return String((err && err.message) || err);
  if (err.status === 403) return `Not allowed for this token (403): ${err.message}. Ask an admin for a token with a higher role.`;
  if (err.status === 409) return `${conflict} (409: ${err.message}).`;
  if (err.status === 0) return err.message;
  const details = err.details.map((d) => (d.path ? `${d.path}: ${d.message}` : d.message));
  return `${err.message} (HTTP ${err.status})${details.length ? `: ${details.join('; ')}` : ''}`;
}

const versionOfEtag = (etag) => (etag ? Number(etag.replace(/\D/g, '')) : 0);
const jsonHeaders = { 'content-type': 'application/json', 'x-signalbox-source': 'dashboard' };

// ---- shell: login, navigation, notices ---------------------------------------------------------

function showLogin(message = '') {
  $('#app').hidden = true;
  $('#logout').hidden = true;
  $('#live').textContent = '';
  $('#login').hidden = false;
  $('#login-error').textContent = message;
  $('#token').value = '';
  $('#token').focus();
}

// An edit in progress outlives a refused token (log in again and apply); not a deliberate log-out.
function logout(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  showLogin(message);
}

function showApp() {
  $('#login').hidden = true;
  $('#app').hidden = false;
  $('#logout').hidden = false;
}

function setLive(version) {
  $('#live').textContent = version ? `live version ${version}` : 'no config yet';
}

function showNotice(notice) {
  const box = $('#notice');
  box.hidden = !notice;
  box.className = `notice ${notice ? notice.kind : ''}`;
  box.textContent = notice ? notice.text : '';
}

const VIEWS = {
  routes: () => objectsView('routes'),
  upstreams: () => objectsView('upstreams'),
  policies: () => objectsView('policies'),
  certificates: () => objectsView('certificates'),
  consumers: () => objectsView('consumers'),
  editor: () => editorView(),
  history: (arg) => historyView(Number(arg) || null),
  fleet: () => fleetView(),
  gitops: () => gitopsView(),
  tokens: () => tokensView(),
};

let renders = 0;
let nextNotice = null;

/** Navigate, showing `notice` above the next view. */
function go(hash, notice = null) {
  nextNotice = notice;
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route() {
  if (!token()) return showLogin();
  showApp();
  const notice = nextNotice;
  nextNotice = null;
  const [name, arg] = location.hash.replace(/^#\/?/, '').split('/');
  const view = Object.hasOwn(VIEWS, name) ? name : 'routes';
  for (const a of document.querySelectorAll('nav a')) {
    if (a.getAttribute('href') === `#/${view}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  // A slow view that finishes after the user moved on must not replace the newer one.
  const ticket = ++renders;
  let el;
  try {
    el = await VIEWS[view](arg);
  } catch (err) {
    if (!token()) return;
    el = h('p', { class: 'error', role: 'alert' }, explain(err));
  }
  if (ticket !== renders) return;
  $('#view').replaceChildren(el);
  showNotice(notice);
  window.scrollTo(0, 0);
}

/** Calls `refresh` every 5 s while `el` is on the page and a token is held; it stops itself after. */
function poll(el, refresh) {
  let failed = false;
  const timer = setInterval(async () => {
    if (!el.isConnected || !token()) return clearInterval(timer);
    try {
      await refresh();
      if (failed) showNotice(null);
      failed = false;
    } catch (err) {
      if (!token()) return;
      failed = true;
      showNotice({ kind: 'error', text: `Could not refresh: ${explain(err)}` });
    }
  }, REFRESH_MS);
}

function confirmDialog(title, text, okLabel) {
  const dialog = $('#confirm');
  $('#confirm-title').textContent = title;
  $('#confirm-text').textContent = text;
  $('#confirm-ok').textContent = okLabel;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true }));
}

// ---- object tables -----------------------------------------------------------------------------

const muted = (text) => h('span', { class: 'muted' }, text);
const codes = (values) => values.map((v) => h('code', {}, v));

/** Whether a route sends traffic to an upstream: its `upstream`, or an arm of its `split`. */
const usesUpstream = (r, id) => r.upstream === id || (r.split || []).some((a) => a.upstream === id);

function usedBy(config, field, id) {
  const ids = config.routes.filter((r) => (field === 'upstream' ? usesUpstream(r, id) : (r.policies || []).includes(id))).map((r) => r.id);
  return ids.length ? codes(ids) : muted('no route');
}

/** A header or query condition as one line: `name: value`, `name present`, `name ~ /regex/`. */
function condition([name, m]) {
  if (typeof m === 'string') return `${name}: ${m}`;
  if (m.regex !== undefined) return `${name} ~ /${m.regex}/`;
  return m.present ? `${name} present` : `${name} absent`;
}

/** What a route does: its upstream, its split, or the answer the proxy gives itself. */
function action(r) {
  if (r.split) return r.split.map((a) => h('div', {}, h('code', {}, a.upstream), ` weight ${a.weight}`));
  if (r.redirect) return `redirect ${r.redirect.status} → ${r.redirect.location ?? r.redirect.scheme}`;
  if (r.respond) return `respond ${r.respond.status}`;
  return h('code', {}, r.upstream);
}

const COLUMNS = {
  routes: [
    ['ID', (r) => h('code', {}, r.id)],
    ['Hosts', (r) => (r.match.hosts ? codes(r.match.hosts) : muted('any'))],
    ['Paths', (r) => (r.match.pathRegex !== undefined ? codes([`~ /${r.match.pathRegex}/`]) : codes(r.match.paths))],
    ['Methods', (r) => (r.match.methods ? codes(r.match.methods) : muted('any'))],
    ['Headers', (r) => (r.match.headers ? codes(Object.entries(r.match.headers).map(condition)) : muted('—'))],
    ['Query', (r) => (r.match.query ? codes(Object.entries(r.match.query).map(condition)) : muted('—'))],
    ['Action', action],
    ['Policies', (r) => (r.policies && r.policies.length ? codes(r.policies) : muted('—'))],
  ],
  upstreams: [
    ['ID', (u) => h('code', {}, u.id)],
    ['Targets', (u) => u.targets.map((t) => h('div', {}, h('code', {}, t.url), t.weight ? ` weight ${t.weight}` : ''))],
    ['Connect timeout', (u) => `${u.connectTimeoutMs ?? 5000} ms`],
    ['Read timeout', (u) => `${u.readTimeoutMs ?? 60000} ms`],
    ['Used by', (u, config) => usedBy(config, 'upstream', u.id)],
  ],
  policies: [
    ['ID', (p) => h('code', {}, p.id)],
    ['Type', (p) => p.type],
    ['Settings', (p) => Object.entries(p).filter(([k]) => k !== 'id' && k !== 'type').map(([k, v]) => h('div', {}, `${k}: ${v}`))],
    ['Used by', (p, config) => usedBy(config, 'policies', p.id)],
  ],
  certificates: [
    ['ID', (c) => h('code', {}, c.id)],
    ['Server names (SNI)', (c) => codes(c.snis)],
    ['Expires', (c) => (c.notAfter ? c.notAfter.slice(0, 10) : muted('—'))],
    // The control plane never sends keys; their digest tells two keys apart.
    ['Key (SHA-256)', (c) => (c.keySha256 ? h('code', { title: c.keySha256 }, `${c.keySha256.slice(0, 12)}…`) : muted('—'))],
  ],
  // Secrets are held only as hashes; a count and the username are what a person scans for.
  consumers: [
    ['ID', (c) => h('code', {}, c.id)],
    ['Keys', (c) => String((c.keys || []).length)],
    ['Basic username', (c) => (c.basic ? h('code', {}, c.basic.username) : muted('—'))],
  ],
};

// ---- live traffic -------------------------------------------------------------------------------

/** The three charts of each route and proxy, in this order. */
const TRAFFIC_METRICS = [['rps', 'Requests/s'], ['errors', 'Errors'], ['p99', 'p99']];
const TRAFFIC_COLUMN = 'Traffic, 5 min';
/** The busiest routes the Routes page asks charts for; the others show a dash. */
const ROUTE_TRAFFIC_TOP = 50;

/** Where the numbers come from, and which proxies did not say. */
function trafficNote(data) {
  const missing = data.proxies.filter((p) => p.error);
  const counted = data.proxies.length - missing.length;
  return [
    `Live traffic over the last 5 minutes, in ${data.bucketMs / 1000} s buckets, from ${counted} ${counted === 1 ? 'proxy' : 'proxies'}; refreshed every ${REFRESH_MS / 1000} s. `,
    missing.length ? h('span', { class: 'warn' }, `Not counted: ${missing.map((p) => `${p.id} (${p.error})`).join('; ')}.`) : null,
  ];
}

/** One chart per metric of `series` (or none without numbers). */
function trafficCharts(series, about, size) {
  return series ? TRAFFIC_METRICS.map(([kind]) => chart(kind, series[METRICS[kind].field], { about, ...size })) : [];
}

/** A table cell with the three small charts stacked, or a dash saying `why` there are none. */
function trafficCell(series, about, why) {
  const td = h('td', { class: 'traffic' });
  fillTrafficCell(td, series, about, why);
  return td;
}

function fillTrafficCell(td, series, about, why) {
  td.replaceChildren(series ? h('div', { class: 'traffic-stack' }, trafficCharts(series, about, { width: 64, height: 16 })) : muted('—'));
  td.title = series ? '' : why;
}

/** The routes table's traffic column, filled in by `refresh` and every 5 s after. */
function routeTraffic(ids) {
  const cells = new Map(ids.map((id) => [id, trafficCell(null, '', 'not asked yet')]));
  const note = h('p', { id: 'traffic-note', class: 'muted' });
  const refresh = async () => {
    const { data } = await api('GET', `/traffic?top=${ROUTE_TRAFFIC_TOP}`);
    const byRoute = new Map(data.routes.map((r) => [r.route, r]));
    for (const [id, td] of cells) {
      fillTrafficCell(td, byRoute.get(id), `of route ${id}`, `no requests in the last 5 minutes, or not among the ${ROUTE_TRAFFIC_TOP} busiest routes`);
    }
    note.replaceChildren(...trafficNote(data).filter(Boolean));
  };
  return { cells, note, refresh };
}

async function objectsView(kind) {
  const { data: config, etag } = await api('GET', '/config');
  setLive(versionOfEtag(etag));
  const rows = config[kind] || [];
  const traffic = kind === 'routes' && rows.length ? routeTraffic(rows.map((r) => r.id)) : null;
  const columns = traffic ? [...COLUMNS[kind], [TRAFFIC_COLUMN, (r) => traffic.cells.get(r.id)]] : COLUMNS[kind];
  const search = h('input', { type: 'search', id: 'search', placeholder: `Search ${kind}`, 'aria-label': `Search ${kind}`, 'aria-controls': 'objects' });
  const count = h('span', { class: 'muted', 'aria-live': 'polite' });
  const trs = rows.map((row) => {
    const tr = h('tr', { 'data-id': row.id }, columns.map(([, cell]) => {
      const value = cell(row, config);
      return value && value.tagName === 'TD' ? value : h('td', {}, value);
    }));
    return { tr, text: tr.textContent.toLowerCase() };
  });
  const filter = () => {
    const terms = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const { tr, text } of trs) {
      tr.hidden = !terms.every((t) => text.includes(t));
      if (!tr.hidden) shown++;
    }
    count.textContent = terms.length ? `${shown} of ${rows.length} ${kind}` : `${rows.length} ${kind}`;
  };
  search.addEventListener('input', filter);
  filter();
  const el = h('section', { 'aria-labelledby': 'view-title' },
    h('h1', { id: 'view-title' }, kind[0].toUpperCase() + kind.slice(1)),
    h('div', { class: 'toolbar' }, search, count),
    traffic ? traffic.note : null,
    rows.length
      ? h('table', { id: 'objects' },
        h('thead', {}, h('tr', {}, columns.map(([name]) => h('th', { scope: 'col' }, name)))),
        h('tbody', {}, trs.map(({ tr }) => tr)))
      : h('p', { class: 'muted' }, `No ${kind} in the live config.`));
  if (traffic) {
    // The table shows without numbers rather than not at all.
    await traffic.refresh().catch((err) => traffic.note.replaceChildren(h('span', { class: 'error' }, `No traffic numbers: ${explain(err)}`)));
    poll(el, traffic.refresh);
  }
  return el;
}

// ---- diffs ---------------------------------------------------------------------------------------

/** Leaf fields of an object by path (`match.paths`, `targets[0].url`); lists of plain values stay whole. */
function flatten(value, path = '', out = new Map()) {
  const isObject = (v) => v !== null && typeof v === 'object';
  if (Array.isArray(value) && value.some(isObject)) value.forEach((v, i) => flatten(v, `${path}[${i}]`, out));
  else if (isObject(value) && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, path ? `${path}.${k}` : k, out);
  } else out.set(path, Array.isArray(value) ? `[${value.map((v) => JSON.stringify(v)).join(', ')}]` : JSON.stringify(value));
  return out;
}

function fieldChanges(before, after) {
  const a = before ? flatten(before) : new Map();
  const b = after ? flatten(after) : new Map();
  return [...new Set([...a.keys(), ...b.keys()])]
    .filter((path) => path !== 'id' && a.get(path) !== b.get(path))
    .map((path) => ({ path, before: a.get(path), after: b.get(path) }));
}

const LONG_VALUE = 160;
const shorten = (v) => (v.length > LONG_VALUE ? `${v.slice(0, LONG_VALUE)}… (${v.length} characters)` : v);

function renderChanges(changes) {
  if (!changes.length) return h('p', { class: 'muted' }, 'No changes.');
  return h('ul', { class: 'changes' }, changes.map((c) => h('li', { class: `object ${c.op}` },
    h('h3', {}, h('span', { class: `op ${c.op}` }, OP_LABEL[c.op]), ' ', h('code', {}, `${c.kind}/${c.id}`)),
    h('table', { class: 'fields' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Field'), h('th', { scope: 'col' }, 'Before'), h('th', { scope: 'col' }, 'After'))),
      h('tbody', {}, fieldChanges(c.before, c.after).map((f) => h('tr', {},
        h('td', {}, h('code', {}, f.path)),
        h('td', {}, f.before === undefined ? muted('—') : h('del', {}, shorten(f.before))),
        h('td', {}, f.after === undefined ? muted('—') : h('ins', {}, shorten(f.after))))))))));
}

const plural = (n, noun) => `${n} ${noun}${n === 1 ? '' : 's'}`;
const SINGULAR = { upstreams: 'upstream', routes: 'route', policies: 'policy', certificates: 'certificate', consumers: 'consumer' };
const countOf = (n, kind) => `${n} ${n === 1 ? SINGULAR[kind] : kind}`;

function localTime(iso) {
  const d = new Date(iso);
  const two = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

const describeChanges = (changes) => changes.map((c) => `${c.kind}/${c.id} ${OP_LABEL[c.op]}`).join(', ');

// ---- editor --------------------------------------------------------------------------------------

// The edit in progress survives switching views; `base` is the version it started from.
let draft = null;

async function loadDraft() {
  const { data, etag } = await api('GET', '/config', { headers: { accept: 'application/yaml' } });
  return { text: data, original: data, base: versionOfEtag(etag) };
}

async function editorView() {
  // An untouched draft follows the live config; an edited one keeps its base, so If-Match catches a
  // change made meanwhile.
  if (!draft || draft.text === draft.original) {
    draft = await loadDraft();
    setLive(draft.base);
  }
  const edit = draft;

  const area = h('textarea', { id: 'editor', spellcheck: 'false', wrap: 'off', autocapitalize: 'off', 'aria-label': 'Config (YAML)', 'aria-describedby': 'check' });
  area.value = edit.text;
  const gutter = h('pre', { class: 'gutter', 'aria-hidden': 'true' });
  const status = h('p', { id: 'check', role: 'status', class: 'muted' });
  const errors = h('ul', { class: 'errors', id: 'errors' });
  const applyButton = h('button', { id: 'apply', type: 'button', disabled: true }, 'Apply…');
  const reloadButton = h('button', { type: 'button', class: 'secondary' }, 'Discard and reload live config');
  const preview = h('section', { id: 'preview', class: 'preview', hidden: true, 'aria-labelledby': 'preview-title' });
  let errorLines = new Set();
  let checked = null;
  let seq = 0;
  let timer;

  let gutterDrawn = '';
  const renderGutter = () => {
    const count = area.value.split('\n').length;
    // Redrawn only when the line count or the problem lines change: a big config has many lines.
    const key = `${count}:${[...errorLines]}`;
    if (key !== gutterDrawn) {
      gutterDrawn = key;
      gutter.replaceChildren(...Array.from({ length: count }, (_, i) => h('span', { class: errorLines.has(i + 1) ? 'bad' : null }, `${i + 1}\n`)));
    }
    gutter.scrollTop = area.scrollTop;
  };
  const goToLine = (line) => {
    const lines = area.value.split('\n');
    const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    area.focus();
    area.setSelectionRange(start, start + (lines[line - 1] || '').length);
    // Chromium does not scroll a textarea to a selection set from script.
    area.scrollTop = Math.max(0, (line - 4) * parseFloat(getComputedStyle(area).lineHeight));
  };

  const showResult = (result) => {
    checked = result;
    if (result.valid) setLive(result.liveVersion);
    errorLines = new Set(result.valid ? [] : result.errors.map((e) => e.line).filter(Boolean));
    renderGutter();
    errors.replaceChildren(...(result.valid ? [] : result.errors.map((e) => h('li', {},
      e.line ? h('button', { type: 'button', class: 'link', onclick: () => goToLine(e.line) }, `line ${e.line}`) : null,
      e.line ? ': ' : '', h('code', {}, e.path), ` ${e.message}`))));
    if (!result.valid) {
      status.className = 'error';
      status.textContent = `${plural(result.errors.length, 'problem')}; nothing can be applied until all are fixed.`;
    } else if (result.liveVersion !== edit.base) {
      status.className = 'warn';
      status.textContent = `Valid, but the live config is now version ${result.liveVersion} and this edit started from version ${edit.base}: applying will be refused. Reload to start from the live version.`;
    } else if (!result.changes.length) {
      status.className = 'muted';
      status.textContent = `Valid. No changes against live version ${result.liveVersion}.`;
    } else {
      status.className = 'ok';
      status.textContent = `Valid. ${plural(result.changes.length, 'change')}: ${describeChanges(result.changes)}.`;
    }
    applyButton.disabled = !(result.valid && result.changes.length);
  };

  const check = async () => {
    const mine = ++seq;
    try {
      const { data } = await api('POST', '/config/validate?detail=1', { body: area.value, headers: { 'content-type': 'application/yaml' } });
      if (mine === seq) showResult(data);
    } catch (err) {
      if (mine !== seq) return;
      status.className = 'error';
      status.textContent = `Could not check: ${explain(err)}`;
    }
  };

  area.addEventListener('input', () => {
    edit.text = area.value;
    checked = null;
    applyButton.disabled = true;
    status.className = 'muted';
    status.textContent = 'Checking…';
    renderGutter();
    clearTimeout(timer);
    timer = setTimeout(check, VALIDATE_DELAY_MS);
  });
  area.addEventListener('scroll', () => { gutter.scrollTop = area.scrollTop; });

  const closePreview = () => {
    preview.hidden = true;
    area.readOnly = false;
    applyButton.disabled = !(checked && checked.valid && checked.changes.length);
  };

  const apply = async (message, result) => {
    const headers = { 'content-type': 'application/yaml', 'if-match': `"${edit.base}"`, 'x-signalbox-source': 'dashboard' };
    if (message) headers['x-signalbox-message'] = encodeURIComponent(message);
    try {
      const { data } = await api('PUT', '/config', { body: area.value, headers });
      draft = null;
      const v = data.version.version;
      go(`#/history/${v}`, { kind: 'ok', text: `Applied: version ${v} is live.` });
    } catch (err) {
      result.textContent = err.status === 409
        ? `${explain(err)} Your text is kept: copy your change, reload the live config and make it again.`
        : explain(err);
    }
  };

  // Apply shows the per-object diff first; the text is frozen while it is shown, so what was
  // reviewed is exactly what is written.
  applyButton.addEventListener('click', () => {
    if (!checked || !checked.valid) return;
    const message = h('input', { id: 'message', type: 'text', placeholder: 'what and why (optional)' });
    const result = h('p', { class: 'error', role: 'alert' });
    const confirmButton = h('button', { id: 'confirm-apply', type: 'button' }, `Apply on top of version ${edit.base}`);
    confirmButton.addEventListener('click', async () => {
      confirmButton.disabled = true;
      await apply(message.value.trim(), result);
      confirmButton.disabled = false;
    });
    preview.replaceChildren(
      h('h2', { id: 'preview-title' }, `Review: ${plural(checked.changes.length, 'change')} against version ${checked.liveVersion}`),
      renderChanges(checked.changes),
      h('label', { for: 'message' }, 'Message'), message,
      h('div', { class: 'actions' }, confirmButton, h('button', { type: 'button', class: 'secondary', onclick: closePreview }, 'Back to editing')),
      result);
    area.readOnly = true;
    applyButton.disabled = true;
    preview.hidden = false;
    confirmButton.focus();
  });

  reloadButton.addEventListener('click', async () => {
    if (edit.text !== edit.original && !(await confirmDialog('Discard your edit?', 'The editor will show the live config instead; your changes are lost.', 'Discard'))) return;
    draft = null;
    go('#/editor');
  });

  renderGutter();
  if (edit.text !== edit.original) check();
  else status.textContent = `Editing version ${edit.base}. Changes are checked as you type; nothing is written until you apply.`;
  return h('section', { 'aria-labelledby': 'view-title' },
    h('h1', { id: 'view-title' }, 'Edit config'),
    h('div', { class: 'editor' }, gutter, area),
    status, errors,
    h('div', { class: 'actions' }, applyButton, reloadButton),
    preview);
}

// ---- history ------------------------------------------------------------------------------------

async function versionConfig(n) {
  try {
    return (await api('GET', `/versions/${n}`)).data.config;
  } catch (err) {
    if (err.status === 404) return null;
    throw err;
  }
}

/** What version n changed, as the control plane diffs it; everything it holds when n - 1 is pruned. */
async function versionDiff(n) {
  const section = (title, ...body) => h('section', { id: 'version-diff', 'aria-labelledby': 'diff-title' }, h('h2', { id: 'diff-title' }, title), ...body);
  if (n > 1) {
    try {
      const { data } = await api('GET', `/versions/${n - 1}/diff/${n}`);
      return section(`Version ${n}: what changed since version ${n - 1}`, renderChanges(data.changes));
    } catch (err) {
      if (err.status !== 404) throw err;
    }
  }
  const config = await versionConfig(n);
  if (!config) return h('p', { class: 'error' }, `Version ${n} is not in the history.`);
  const everything = KINDS.flatMap((kind) => (config[kind] || []).map((obj) => ({ kind, id: obj.id, op: 'add', after: obj })));
  return n === 1
    ? section('Version 1: the first version', renderChanges(everything))
    : section(`Version ${n}`, h('p', { class: 'muted' }, `Version ${n - 1} is no longer kept; this shows everything version ${n} holds.`), renderChanges(everything));
}

async function rollback(n, live) {
  const ok = await confirmDialog(`Roll back to version ${n}?`,
    `This writes a new version equal to version ${n}. Version ${live} and everything before it stay in the history.`, 'Roll back');
  if (!ok) return;
  try {
    const { data } = await api('POST', '/rollback', { body: JSON.stringify({ version: n }), headers: { ...jsonHeaders, 'if-match': `"${live}"` } });
    const v = data.version.version;
    go(`#/history/${v}`, data.unchanged
      ? { kind: 'ok', text: `Version ${n} equals the live config; nothing was written.` }
      : { kind: 'ok', text: `Rolled back: version ${v} is live, equal to version ${n}.` });
  } catch (err) {
    showNotice({ kind: 'error', text: explain(err) });
  }
}

async function historyView(selected) {
  const { data } = await api('GET', '/versions');
  const versions = data.versions;
  const live = versions.length ? versions[0].version : 0;
  setLive(live);
  const shown = selected || live;
  const rows = versions.map((v) => h('tr', { 'aria-current': v.version === shown ? 'true' : null, 'data-version': v.version },
    h('td', {}, String(v.version), v.version === live ? h('span', { class: 'badge ok' }, 'live') : null),
    h('td', { class: 'nowrap', title: v.at }, v.at ? localTime(v.at) : ''),
    h('td', {}, v.source),
    h('td', {}, v.author),
    h('td', {}, v.message),
    h('td', { class: 'muted' }, ['routes', 'upstreams', 'policies', 'certificates', 'consumers'].filter((k) => v.counts[k] || (k !== 'certificates' && k !== 'consumers')).map((k) => countOf(v.counts[k], k)).join(', ')),
    h('td', { class: 'row-actions' },
      h('a', { href: `#/history/${v.version}`, 'aria-label': `Changes in version ${v.version}` }, 'Changes'),
      v.version === live ? null : h('button', { type: 'button', class: 'secondary', onclick: () => rollback(v.version, live) }, `Roll back to ${v.version}`))));
  return h('section', { 'aria-labelledby': 'view-title' },
    h('h1', { id: 'view-title' }, 'History'),
    versions.length
      ? h('table', { id: 'versions' },
        h('thead', {}, h('tr', {}, ['Version', 'Written', 'Source', 'Author', 'Message', 'Objects', ''].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, rows))
      : h('p', { class: 'muted' }, 'No version written yet.'),
    shown ? await versionDiff(shown) : null);
}

// ---- fleet --------------------------------------------------------------------------------------

/** The targets a proxy's active health checks hold out: upstream and URL, the first few named. */
function unhealthyTargets(p) {
  const count = p.unhealthyTargetCount || 0;
  if (count === 0) return muted('—');
  const named = (p.unhealthyTargets || []).map((t) => `${t.upstream} ${t.url}`);
  const more = count - named.length;
  return h('span', { class: 'error' }, named.join(', '), more > 0 ? ` and ${more} more` : '');
}

const ms = (n) => (n >= 1000 ? `${(n / 1000).toFixed(1)} s` : `${Math.round(n)} ms`);

function syncBadge(p) {
  if (p.inSync) return h('span', { class: 'badge ok' }, 'in sync');
  if (p.lagging) return h('span', { class: 'badge error', title: 'not on the live version 30 s after its commit' }, 'lagging');
  return h('span', { class: 'badge warn' }, 'out of sync');
}

/** Per recent version: how many proxies applied it, and how long the slowest took. */
function convergenceTable(versions) {
  const convergedIn = (v) => {
    if (v.pending > 0) return h('span', { class: 'badge warn' }, `not yet: ${v.pending} waiting`);
    if (v.maxPropagationMs === null) return h('span', { class: 'muted', title: 'applied only by proxies that read it at their start' }, '—');
    return ms(v.maxPropagationMs);
  };
  return h('table', { id: 'convergence' },
    h('thead', {}, h('tr', {}, ['Version', 'Committed', 'Applied by', 'Converged in', 'Last proxy'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, versions.map((v) => h('tr', { 'data-version': v.version },
      h('td', {}, versionLink(v.version)),
      h('td', { class: 'nowrap', title: v.committedAt ?? '' }, v.committedAt ? localTime(v.committedAt) : muted('unknown')),
      h('td', {}, `${v.applied} ${v.applied === 1 ? 'proxy' : 'proxies'}`),
      h('td', { class: 'nowrap' }, convergedIn(v)),
      h('td', {}, v.lastProxy ? [h('code', {}, v.lastProxy), muted(` at ${localTime(v.lastAppliedAt)}`)] : muted('—'))))));
}

/** The fleet's charts, larger, each with its name. */
function fleetCharts(traffic) {
  if (!traffic.ok) return h('p', { class: 'error' }, `No traffic numbers: ${traffic.error}`);
  return h('div', { class: 'fleet-charts', id: 'fleet-traffic' },
    trafficCharts(traffic.data.fleet, 'of the fleet', { width: 240, height: 48 }).map((cell, i) => h('figure', {}, h('figcaption', {}, TRAFFIC_METRICS[i][1]), cell)));
}

function fleetContent(data, traffic) {
  const inSync = data.proxies.filter((p) => p.inSync).length;
  const byProxy = new Map(traffic.ok ? traffic.data.proxies.map((p) => [p.id, p]) : []);
  return [
    h('p', {}, `Live version ${data.liveVersion}`, data.liveCommittedAt ? `, committed ${localTime(data.liveCommittedAt)}` : '',
      `. ${inSync} of ${data.proxies.length} ${data.proxies.length === 1 ? 'proxy' : 'proxies'} in sync`,
      data.lagging ? [', ', h('span', { class: 'error' }, `${data.lagging} lagging`), ` (not on it ${data.lagThresholdMs / 1000} s after its commit)`] : '',
      '. ', muted(`Updated ${new Date().toLocaleTimeString()}.`)),
    data.liveErrors && data.liveErrors.length
      ? h('div', { class: 'notice error' }, 'The config in etcd does not validate (written around the control plane): ', data.liveErrors.join('; '))
      : null,
    h('h2', {}, 'Traffic'),
    fleetCharts(traffic),
    traffic.ok ? h('p', { class: 'muted', id: 'traffic-note' }, ...trafficNote(traffic.data).filter(Boolean)) : null,
    h('h2', {}, 'Proxies'),
    data.proxies.length
      ? h('table', { id: 'proxies' },
        h('thead', {}, h('tr', {}, ['Proxy', 'Version', 'Sync', 'etcd', 'Routes', 'Propagation', 'Apply', TRAFFIC_COLUMN, 'Unhealthy targets', 'Last error']
          .map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, data.proxies.map((p) => {
          const counted = byProxy.get(p.id);
          const series = counted && !counted.error ? counted : null;
          return h('tr', { 'data-proxy': p.id },
            h('td', {}, h('code', {}, p.id)),
            h('td', {}, p.version == null ? muted('none') : String(p.version)),
            h('td', {}, syncBadge(p)),
            h('td', {}, h('span', { class: `badge ${p.etcd === 'connected' ? 'ok' : 'warn'}` }, p.etcd || 'unknown')),
            h('td', {}, p.routes == null ? '' : String(p.routes)),
            h('td', { class: 'nowrap', title: 'from the commit of the version it serves until it served it' },
              p.propagationMs == null ? muted('—') : ms(p.propagationMs)),
            h('td', { class: 'nowrap', title: 'its last apply: decode, validate, compile, swap' }, p.lastApplyMs == null ? muted('—') : ms(p.lastApplyMs)),
            trafficCell(series, `of proxy ${p.id}`, counted ? counted.error : 'not counted'),
            h('td', {}, unhealthyTargets(p)),
            h('td', {}, p.lastError ? h('span', { class: 'error' }, (p.lastError.errors || [JSON.stringify(p.lastError)]).join('; ')) : muted('—')));
        })))
      : h('p', { class: 'muted' }, 'No proxy has registered. Start one with signalbox proxy --etcd … and it appears here.'),
    data.convergence && data.convergence.length ? [
      h('h2', {}, 'Recent versions'),
      h('p', { class: 'muted' }, 'How long each version took from its commit until the slowest proxy served it (proxies that read it at their start do not count), and which proxy that was.'),
      convergenceTable(data.convergence),
    ] : null,
  ];
}

async function fleetView() {
  const el = h('section', { 'aria-labelledby': 'view-title' });
  const body = h('div');
  el.append(h('h1', { id: 'view-title' }, 'Fleet'), body);
  const refresh = async () => {
    const [{ data }, traffic] = await Promise.all([
      api('GET', '/proxies'),
      api('GET', '/traffic').then(({ data: t }) => ({ ok: true, data: t }), (err) => ({ ok: false, error: explain(err) })),
    ]);
    setLive(data.liveVersion);
    body.replaceChildren(...fleetContent(data, traffic).flat().filter(Boolean));
  };
  await refresh();
  poll(el, refresh);
  return el;
}

// ---- gitops -------------------------------------------------------------------------------------

const sentence = (text) => (text ? `${text[0].toUpperCase()}${text.slice(1)}${/[.!?]$/.test(text) ? '' : '.'}` : '');
const shortCommit = (commit) => h('code', { title: commit }, commit.slice(0, 12));
const versionLink = (n, text = String(n)) => h('a', { href: `#/history/${n}`, 'aria-label': `version ${n} in the history` }, text);
const MARK = { add: '+', change: '~', remove: '-' };

/** The agent's state in a few words, and what it means for the live config. */
const GITOPS_STATES = {
  synced: { kind: 'ok', say: (s) => [`The live config, version ${s.liveVersion}, equals the folder.`] },
  uncommitted: { kind: 'warn', say: (s) => [`${s.uncommitted.length === 1 ? '1 config file differs' : `${s.uncommitted.length} config files differ`} from the commit checked out; nothing is applied until committed.`] },
  invalid: { kind: 'error', say: (s) => [sentence(s.error && s.error.message), ' The next commit is tried again.'] },
  drift: {
    kind: 'warn',
    say: (s) => [`Version ${s.drift.version} was written outside git by ${s.drift.author} (source ${s.drift.source}). `,
      'It is left alone until it is committed to git too, undone by hand, or overwritten by a forced sync.'],
  },
  error: { kind: 'error', say: (s) => [sentence(s.error && s.error.message), ' The agent tries again.'] },
};

function syncRequestText(r) {
  return `request ${r.id}${r.force ? ' (forced)' : ''} by ${r.requestedBy} at ${localTime(r.requestedAt)}`;
}

function problemsOf(status) {
  const details = (status.error && status.error.details) || [];
  if (!details.length) return null;
  return [
    h('h2', { id: 'problems-title' }, plural(details.length, 'problem')),
    h('ul', { class: 'errors', id: 'gitops-problems', 'aria-labelledby': 'problems-title' }, details.map((d) => h('li', {},
      d.file ? [h('code', {}, d.line ? `${d.file}:${d.line}` : d.file), ': '] : null,
      d.path ? [h('code', {}, d.path), ': '] : null,
      d.message))),
  ];
}

function gitopsDetails(status) {
  if (status.state === 'uncommitted') {
    return [
      h('h2', { id: 'uncommitted-title' }, 'Uncommitted files'),
      h('p', { class: 'muted' }, 'Relative to the repository. Commit them (or undo them) and the agent syncs.'),
      h('ul', { id: 'gitops-uncommitted', 'aria-labelledby': 'uncommitted-title' }, status.uncommitted.map((f) => h('li', {}, h('code', {}, f)))),
    ];
  }
  if (status.state === 'drift' && status.drift) {
    const d = status.drift;
    const commit = status.commit ? ['commit ', shortCommit(status.commit)] : ['the folder'];
    return [
      h('h2', { id: 'drift-title' }, 'Drift'),
      h('p', {}, versionLink(d.version, `Version ${d.version}`), ` was written by ${d.author} via ${d.source}`, d.at ? ` at ${localTime(d.at)}` : '',
        '. Applying ', commit, ` would change ${plural(d.changes.length, 'object')}:`),
      h('ul', { class: 'marks', id: 'drift-changes', 'aria-labelledby': 'drift-title' }, d.changes.map((c) => h('li', {},
        h('span', { class: `mark ${c.op}`, 'aria-hidden': 'true' }, MARK[c.op]), ' ',
        h('code', {}, `${c.kind}/${c.id}`), ' ', muted(`would be ${OP_LABEL[c.op]}`)))),
    ];
  }
  return problemsOf(status);
}

function gitopsFacts(status, request) {
  const fact = (term, ...value) => [h('dt', {}, term), h('dd', {}, ...value)];
  const orNone = (n, none) => (n == null ? muted(none) : versionLink(n));
  return h('dl', { class: 'facts', id: 'gitops-facts' },
    status ? [
      fact('Folder', h('code', {}, status.dir)),
      fact('Commit', status.commit ? [shortCommit(status.commit), ' ', status.subject || ''] : muted('none: the folder is not in a git work tree')),
      fact('Last sync', h('span', { title: status.lastSyncAt }, localTime(status.lastSyncAt)), muted(` reported by ${status.reportedBy}`)),
      fact('Live version', orNone(status.liveVersion, 'not asked: the sync stopped before reaching the control plane')),
      fact('Last applied version', orNone(status.lastAppliedVersion, 'none yet')),
      fact('Changes made outside git', status.force ? 'overwritten (the agent runs with --force)' : 'reported as drift and left alone'),
    ] : null,
    fact('Last sync request', request ? syncRequestText(request) : muted('none')));
}

async function gitopsView() {
  const el = h('section', { 'aria-labelledby': 'view-title' });
  const state = h('div', { id: 'gitops-state', class: 'state', 'aria-live': 'polite', 'aria-atomic': 'true' });
  const checked = h('p', { class: 'muted' });
  const body = h('div');
  const result = h('p', { id: 'sync-result', role: 'status' });
  const syncButton = h('button', { type: 'button' }, 'Sync now');
  const forceButton = h('button', { type: 'button', class: 'secondary' }, 'Sync and overwrite drift…');
  let shown = null;
  let last = null;

  const refresh = async () => {
    const { data } = await api('GET', '/gitops');
    last = data;
    checked.textContent = `Checked ${new Date().toLocaleTimeString()}; refreshed every ${REFRESH_MS / 1000} s.`;
    // Redrawn only when something changed, so the live region speaks only of changes and focus stays.
    const key = JSON.stringify(data);
    if (key === shown) return;
    shown = key;
    const { status, syncRequest } = data;
    const about = status && GITOPS_STATES[status.state];
    state.className = `state ${about ? about.kind : ''}`;
    state.replaceChildren(...(status
      ? [h('span', { class: `badge ${about.kind}` }, status.state), h('span', {}, ...about.say(status))]
      : [h('span', {}, 'No GitOps agent has reported yet. Start one with ', h('code', {}, 'signalbox gitops --dir PATH'),
        ' and its state appears here.')]));
    body.replaceChildren(gitopsFacts(status, syncRequest), ...[status ? gitopsDetails(status) : null].flat().filter(Boolean));
  };

  const sync = async (force) => {
    if (force) {
      const drift = last && last.status && last.status.state === 'drift' ? last.status.drift : null;
      const ok = await confirmDialog('Sync and overwrite drift?',
        `${drift ? `Version ${drift.version}, written by ${drift.author} via ${drift.source}, is overwritten: ${plural(drift.changes.length, 'object')} change. `
          : 'Whatever was changed outside git by the time the agent syncs is overwritten. '}` +
        'The agent applies the folder once; its history keeps every version, so this can be rolled back.', 'Sync and overwrite');
      if (!ok) return;
    }
    syncButton.disabled = forceButton.disabled = true;
    result.className = 'muted';
    result.textContent = 'Requesting a sync…';
    let request;
    try {
      request = (await api('POST', `/gitops/sync${force ? '?force=true' : ''}`)).data;
    } catch (err) {
      result.className = 'error';
      result.textContent = `No sync requested: ${explain(err)}`;
      return;
    } finally {
      syncButton.disabled = forceButton.disabled = false;
    }
    try {
      await refresh();
    } catch (err) {
      showNotice({ kind: 'error', text: `Could not refresh: ${explain(err)}` });
    }
    result.className = 'ok';
    result.textContent = `Sync request ${request.id} recorded${request.force ? ' (forced: overwrites drift)' : ''}. ` +
      (last && last.status ? 'The agent syncs when it sees it; this page shows its next report.' : 'No GitOps agent has reported yet to act on it.');
  };
  syncButton.addEventListener('click', () => sync(false));
  forceButton.addEventListener('click', () => sync(true));

  await refresh();
  poll(el, refresh);
  el.append(h('h1', { id: 'view-title' }, 'GitOps'), state, h('div', { class: 'actions' }, syncButton, forceButton), result, checked, body);
  return el;
}

// ---- tokens -------------------------------------------------------------------------------------

const ROLE_TEXT = { viewer: 'viewer: reads', editor: 'editor: also writes the config', admin: 'admin: also manages tokens' };
const DAY_SECONDS = 86_400;
/** [seconds, label]; 0 is never. */
const TOKEN_TTLS = [[0, 'never'], [DAY_SECONDS, 'after 1 day'], [30 * DAY_SECONDS, 'after 30 days'], [90 * DAY_SECONDS, 'after 90 days'], [365 * DAY_SECONDS, 'after 1 year']];

async function tokensView() {
  const list = h('div');
  const result = h('p', { id: 'tokens-result', role: 'status' });
  const fresh = h('section', { id: 'new-token', class: 'secret', hidden: true, 'aria-labelledby': 'new-token-title' });
  const say = (kind, text) => {
    result.className = kind;
    result.textContent = text;
  };

  const remove = async (name) => {
    const ok = await confirmDialog(`Delete token ${name}?`,
      `Every request with it is refused (401) from now on, by every control-plane replica. Its versions keep ${name} as their author.`, 'Delete');
    if (!ok) return;
    try {
      await api('DELETE', `/tokens/${encodeURIComponent(name)}`);
      say('ok', `Deleted token ${name}: it is refused from now on.`);
      await refresh();
    } catch (err) {
      say('error', `Not deleted: ${explain(err)}`);
    }
  };

  const refresh = async () => {
    const { data } = await api('GET', '/tokens');
    list.replaceChildren(data.tokens.length
      ? h('table', { id: 'tokens' },
        h('thead', {}, h('tr', {}, ['Name', 'Role', 'Created', 'Created by', 'Expires', 'Last used', ''].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, data.tokens.map((t) => h('tr', { 'data-token': t.name },
          h('td', {}, h('code', {}, t.name)),
          h('td', {}, t.role),
          h('td', { class: 'nowrap', title: t.createdAt }, t.createdAt ? localTime(t.createdAt) : muted('unknown')),
          h('td', {}, t.createdBy),
          h('td', { class: 'nowrap', title: t.expiresAt ?? '' }, t.expiresAt ? localTime(t.expiresAt) : muted('never')),
          h('td', { class: 'nowrap', title: t.lastUsedAt ?? '' }, t.lastUsedAt ? localTime(t.lastUsedAt) : muted('not yet')),
          h('td', { class: 'row-actions' },
            h('button', { type: 'button', class: 'secondary', 'aria-label': `Delete token ${t.name}`, onclick: () => remove(t.name) }, 'Delete'))))))
      : h('p', { class: 'muted' }, 'No tokens yet besides the bootstrap admin.'));
  };

  const showSecret = (created) => {
    const secret = h('input', { id: 'new-token-secret', type: 'text', readonly: true, value: created.token, spellcheck: 'false', 'aria-describedby': 'new-token-once' });
    const copied = h('span', { role: 'status', class: 'muted' });
    const copy = async () => {
      secret.select();
      try {
        // The Clipboard API needs a secure context (https or localhost); elsewhere, the old way.
        if (window.navigator.clipboard) await window.navigator.clipboard.writeText(created.token);
        else if (!document.execCommand('copy')) throw new Error('refused');
        copied.className = 'ok';
        copied.textContent = 'Copied.';
      } catch {
        copied.className = 'error';
        copied.textContent = 'The browser did not allow copying; the secret is selected: copy it with the keyboard.';
      }
    };
    fresh.replaceChildren(
      h('h2', { id: 'new-token-title' }, `Token ${created.name} created (${created.role})`),
      h('p', { id: 'new-token-once', class: 'warn' }, h('strong', {}, 'Shown only once: '),
        'copy the secret now. The control plane keeps only its SHA-256 and cannot show it again; a lost secret means a new token.'),
      h('label', { for: 'new-token-secret' }, 'Secret'),
      h('div', { class: 'toolbar' }, secret, h('button', { type: 'button', onclick: copy }, 'Copy'), copied),
      h('button', { type: 'button', class: 'secondary', onclick: () => { fresh.hidden = true; fresh.replaceChildren(); } }, 'Done: hide the secret'));
    fresh.hidden = false;
    secret.focus();
    secret.select();
  };

  const name = h('input', { id: 'new-token-name', name: 'name', type: 'text', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'new-token-name-hint' });
  const role = h('select', { id: 'new-token-role', name: 'role' }, ROLES.map((r) => h('option', { value: r }, ROLE_TEXT[r])));
  const ttl = h('select', { id: 'new-token-ttl', name: 'ttl' }, TOKEN_TTLS.map(([seconds, text]) => h('option', { value: String(seconds) }, text)));
  const createButton = h('button', { type: 'submit' }, 'Create token');
  const form = h('form', { class: 'create' },
    h('h2', { id: 'create-title' }, 'New token'),
    h('div', { class: 'fieldset' },
      h('div', {}, h('label', { for: 'new-token-name' }, 'Name (optional)'), name,
        h('p', { id: 'new-token-name-hint', class: 'muted' }, 'Lowercase letters, digits, ".", "_" and "-"; it is the author of the token’s writes. Empty: role and a random suffix.')),
      h('div', {}, h('label', { for: 'new-token-role' }, 'Role'), role),
      h('div', {}, h('label', { for: 'new-token-ttl' }, 'Expires'), ttl),
      h('div', {}, createButton)));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    createButton.disabled = true;
    try {
      const body = { role: role.value, ...(name.value.trim() ? { name: name.value.trim() } : {}), ...(ttl.value !== '0' ? { ttlSeconds: Number(ttl.value) } : {}) };
      const { data } = await api('POST', '/tokens', { body: JSON.stringify(body), headers: jsonHeaders });
      say('ok', `Created token ${data.name} with role ${data.role}.`);
      name.value = '';
      showSecret(data);
      await refresh();
    } catch (err) {
      say('error', `Not created: ${explain(err, { conflict: 'choose another name' })}`);
    } finally {
      createButton.disabled = false;
    }
  });

  await refresh();
  return h('section', { 'aria-labelledby': 'view-title' },
    h('h1', { id: 'view-title' }, 'Tokens'),
    h('p', { class: 'muted' }, 'A viewer reads, an editor also writes the config, an admin also manages tokens. The bootstrap admin token (',
      h('code', {}, '--admin-token-file'), ') is not listed and cannot be deleted here.'),
    form, result, fresh, list);
}

// ---- start ---------------------------------------------------------------------------------------

$('#login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $('#token').value.trim());
  try {
    await api('GET', '/versions');
  } catch (err) {
    if (token()) logout(explain(err));
    return;
  }
  route();
});
$('#logout').addEventListener('click', () => {
  draft = null;
  logout('Logged out.');
});
window.addEventListener('hashchange', () => route());
route();
