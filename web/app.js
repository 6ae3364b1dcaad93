// iotd dashboard (issue 10; docs/architecture.md §16). Plain JS module, no framework:
// REST for the first picture, the WebSocket stream (/api/v1/stream) for everything after.
// Every request goes to the host that served the page. The admin key lives in
// sessionStorage only (gone when the tab closes).
const $ = (id) => document.getElementById(id);
const KEY = 'iotd.adminKey';
const LIVE_POINTS = 300;        // points kept per live chart
const STALE_MS = 5 * 60 * 1000; // "last seen" older than this shows as stale

const state = {
  latest: new Map(),   // device_id -> {last_seen_at, metrics: {name: {value, timestamp}}}
  devices: new Map(),  // device_id -> registry row
  alerts: new Map(),   // alert id -> alert
  live: new Map(),     // metric -> {data: [[t], [v]], plot, series devices}
  liveDevice: '',      // the device the live charts follow ('' = the first one seen)
};

// ---- HTTP -------------------------------------------------------------------------------
function adminKey() { return sessionStorage.getItem(KEY) || ''; }

async function api(method, path, body) {
  const headers = {};
  if (adminKey()) headers['X-API-Key'] = adminKey();
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!res.ok) {
    const msg = json && json.error ? `${json.error.code}: ${json.error.message}` : `HTTP ${res.status}`;
    throw new Error(msg);
  }
  return json;
}

// ---- formatting -------------------------------------------------------------------------
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}
const fmtNum = (v) => (typeof v === 'number' ? (Math.abs(v) >= 1000 ? v.toFixed(0) : +v.toFixed(2)) : String(v));
function ago(ts) {
  if (!ts) return 'never';
  const s = Math.max(0, (Date.now() - Date.parse(ts)) / 1000);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}
function note(id, text, isError = false) {
  const p = $(id);
  p.textContent = text;
  p.classList.toggle('error', isError);
}

// ---- devices and latest values ----------------------------------------------------------
function deviceIds() {
  return [...new Set([...state.latest.keys(), ...state.devices.keys()])].sort();
}

function renderDevices() {
  const tbody = $('devices').tBodies[0];
  tbody.replaceChildren();
  for (const id of deviceIds()) {
    const l = state.latest.get(id) || { metrics: {} };
    const d = state.devices.get(id);
    const seen = l.last_seen_at || (d && d.last_seen_at);
    const fresh = seen && Date.now() - Date.parse(seen) < STALE_MS;
    const values = el('div', { class: 'values' });
    for (const [m, v] of Object.entries(l.metrics || {}).sort()) {
      values.append(el('span', { class: 'value', 'data-device': id, 'data-metric': m },
        el('b', {}, m), ' ', fmtNum(v.value)));
    }
    const name = d && d.name ? el('small', {}, ` ${d.name}`) : null;
    const status = d && d.status !== 'active' ? el('small', { class: 'tag' }, d.status) : null;
    tbody.append(el('tr', { 'data-device': id },
      el('td', {}, el('code', {}, id), name, status),
      el('td', {}, el('span', { class: `dot ${fresh ? 'on' : 'off'}` }), ' ', ago(seen)),
      el('td', {}, values),
      el('td', {}, el('button', { class: 'small', onclick: () => followDevice(id) }, 'chart'),
        state.devices.has(id) && adminKey() ? el('button', { class: 'small', onclick: () => editDevice(id) }, 'edit') : null)));
  }
  for (const sel of [$('h-device'), $('c-device')]) {
    const cur = sel.value;
    sel.replaceChildren(...deviceIds().map((id) => el('option', { value: id }, id)));
    if (cur && deviceIds().includes(cur)) sel.value = cur;
  }
}

async function loadDevices() {
  const [latest, devices] = await Promise.allSettled([
    api('GET', '/api/v1/readings/latest'), api('GET', '/api/v1/devices?limit=1000')]);
  if (latest.status === 'fulfilled') {
    state.latest.clear();
    for (const d of latest.value.data || []) state.latest.set(d.device_id, d);
  }
  if (devices.status === 'fulfilled') {
    state.devices.clear();
    for (const d of devices.value.data || []) state.devices.set(d.device_id, d);
  }
  if (!state.liveDevice && deviceIds().length) state.liveDevice = deviceIds()[0];
  $('live-device').textContent = state.liveDevice;
  renderDevices();
}

// ---- alerts -----------------------------------------------------------------------------
function renderAlerts() {
  const ul = $('alerts');
  const active = [...state.alerts.values()].sort((a, b) => b.id - a.id);
  $('alert-count').textContent = String(active.length);
  $('alert-count').classList.toggle('hot', active.some((a) => !a.acknowledged));
  if (!active.length) { ul.replaceChildren(el('li', { class: 'empty' }, 'No active alerts')); return; }
  ul.replaceChildren(...active.map((a) => {
    const ack = a.acknowledged
      ? el('span', { class: 'tag' }, 'acknowledged')
      : el('button', { class: 'ack', 'data-alert': String(a.id), onclick: () => acknowledge(a.id) }, 'Acknowledge');
    return el('li', { class: `alert ${a.severity}`, 'data-alert': String(a.id) },
      el('span', { class: 'sev' }, a.severity),
      el('span', { class: 'msg' }, el('code', {}, a.device_id), ' ', a.message || a.metric || ''),
      el('span', { class: 'when' }, ago(a.raised_at || a.created_at || a.timestamp)), ack);
  }));
}

async function loadAlerts() {
  const r = await api('GET', '/api/v1/alerts?state=active&limit=200');
  state.alerts.clear();
  for (const a of r.data || []) state.alerts.set(a.id, a);
  renderAlerts();
}

async function acknowledge(id) {
  if (!adminKey()) { alert('Enter the admin key first (top right).'); $('adminkey').focus(); return; }
  try {
    await api('POST', `/api/v1/alerts/${id}/ack`);
    const a = state.alerts.get(id);
    if (a) a.acknowledged = true;
    renderAlerts();
  } catch (e) { alert(`Acknowledge failed: ${e.message}`); }
}

// ---- charts -----------------------------------------------------------------------------
function chartWidth(node) { return Math.max(240, node.clientWidth || 300); }

// Live charts are small and many: no legend (the title names the metric). The history chart
// keeps uPlot's legend, which shows the value under the cursor.
function makePlot(node, title, data, legend = false) {
  return new uPlot({
    title, width: chartWidth(node), height: 180,
    legend: { show: legend },
    scales: { x: { time: true } },
    series: [{}, { label: title, stroke: '#2f7dd1', width: 1.5, points: { show: false } }],
    axes: [{}, { size: 50 }],
  }, data, node);
}

function liveChart(metric) {
  let c = state.live.get(metric);
  if (!c) {
    const node = el('div', { class: 'chart', 'data-metric': metric });
    $('charts').append(node);
    c = { node, data: [[], []], plot: null };
    c.plot = makePlot(node, metric, c.data);
    state.live.set(metric, c);
  }
  return c;
}

function followDevice(id) {
  state.liveDevice = id;
  $('live-device').textContent = id;
  for (const c of state.live.values()) c.plot.destroy();
  state.live.clear();
  $('charts').replaceChildren();
  $('h-device').value = id;
  // Seed the charts from the last hour so they are not empty until the next reading.
  api('GET', `/api/v1/readings?device_id=${encodeURIComponent(id)}&from=-1h&limit=${LIVE_POINTS}`)
    .then((r) => { for (const row of (r.data || []).reverse()) addLive(row, false); redrawLive(); })
    .catch(() => {});
}

function addLive(row, redraw = true) {
  if (!state.liveDevice) { state.liveDevice = row.device_id; $('live-device').textContent = row.device_id; }
  if (row.device_id !== state.liveDevice) return;
  const t = Date.parse(row.timestamp) / 1000;
  for (const [m, v] of Object.entries(row.metrics || {})) {
    if (typeof v !== 'number') continue;
    const c = liveChart(m);
    const [xs, ys] = c.data;
    if (xs.length && t < xs[xs.length - 1]) continue;  // older than what the chart shows
    xs.push(t); ys.push(v);
    if (xs.length > LIVE_POINTS) { xs.shift(); ys.shift(); }
    c.dirty = true;
  }
  if (redraw) redrawLive();
}

let redrawQueued = false;
function redrawLive() {
  if (redrawQueued) return;
  redrawQueued = true;
  requestAnimationFrame(() => {
    redrawQueued = false;
    for (const c of state.live.values()) if (c.dirty) { c.plot.setData(c.data); c.dirty = false; }
  });
}

let historyPlot = null;
async function showHistory(ev) {
  if (ev) ev.preventDefault();
  const device = $('h-device').value, metric = $('h-metric').value.trim(), from = $('h-range').value;
  if (!device || !metric) { note('history-note', 'Choose a device and a metric.', true); return; }
  const xs = [], ys = [];
  let before = null, pages = 0;
  try {
    do {  // newest first, paged with "next"; at most 10 pages of 1000
      const q = new URLSearchParams({ device_id: device, metric, from, limit: '1000' });
      if (before) q.set('before', before);
      const r = await api('GET', `/api/v1/readings?${q}`);
      for (const row of r.data || []) {
        const v = row.metrics && row.metrics[metric];
        if (typeof v === 'number') { xs.push(Date.parse(row.timestamp) / 1000); ys.push(v); }
      }
      before = r.next;
    } while (before && ++pages < 10);
  } catch (e) { note('history-note', e.message, true); return; }
  xs.reverse(); ys.reverse();
  if (historyPlot) historyPlot.destroy();
  historyPlot = makePlot($('history-chart'), `${device} · ${metric}`, [xs, ys], true);
  note('history-note', xs.length ? `${xs.length} readings` : 'No readings in this range.');
}

// ---- the live stream --------------------------------------------------------------------
let backoff = 500;
function connect() {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${proto}//${location.host}/api/v1/stream?alerts=true`);
  const badge = $('conn');
  ws.onopen = () => {
    backoff = 500;
    badge.textContent = 'live'; badge.className = 'badge on';
    // Catch up on what happened while disconnected.
    loadDevices().catch(() => {});
    loadAlerts().catch(() => {});
  };
  ws.onmessage = (ev) => {
    let f;
    try { f = JSON.parse(ev.data); } catch { return; }
    if (f.type === 'reading') onReading(f);
    else if (f.type === 'alert') onAlert(f);
  };
  ws.onclose = () => {
    badge.textContent = `reconnecting in ${Math.round(backoff / 1000) || 1} s`; badge.className = 'badge off';
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 15000);  // back-off, capped
  };
}

function onReading(f) {
  const cur = state.latest.get(f.device_id) || { device_id: f.device_id, metrics: {} };
  for (const [m, v] of Object.entries(f.metrics || {})) {
    const old = cur.metrics[m];
    if (!old || !old.timestamp || Date.parse(old.timestamp) <= Date.parse(f.timestamp)) cur.metrics[m] = { value: v, timestamp: f.timestamp };
  }
  cur.last_seen_at = f.received_at || f.timestamp;
  state.latest.set(f.device_id, cur);
  scheduleDevices();
  addLive(f);
}

function onAlert(f) {
  if (f.event === 'cleared' || f.state === 'cleared') state.alerts.delete(f.id);
  else state.alerts.set(f.id, f);
  renderAlerts();
}

let devicesQueued = false;
function scheduleDevices() {  // many readings per second render once per frame
  if (devicesQueued) return;
  devicesQueued = true;
  requestAnimationFrame(() => { devicesQueued = false; renderDevices(); });
}

// ---- admin: key, devices, commands ------------------------------------------------------
function renderKey() {
  const has = !!adminKey();
  $('adminkey').hidden = has; $('keysave').hidden = has; $('keyclear').hidden = !has;
  $('admin').hidden = !has;
  renderDevices();
}

function deviceBody() {
  const body = {};
  for (const f of ['name', 'type', 'location', 'status']) {
    const v = $(`d-${f}`).value.trim();
    if (v) body[f] = v;
  }
  return body;
}

async function createDevice(ev) {
  ev.preventDefault();
  const id = $('d-id').value.trim();
  try {
    const d = await api('POST', '/api/v1/devices', { device_id: id, ...deviceBody() });
    const p = $('device-result');
    p.classList.remove('error');
    p.replaceChildren(`Created ${d.device_id}. Its key, shown this once: `, el('code', { class: 'key' }, d.api_key));
    await loadDevices();
  } catch (e) { note('device-result', e.message, true); }
}

function editDevice(id) {
  const d = state.devices.get(id);
  if (!d) return;
  $('d-id').value = id;
  for (const f of ['name', 'type', 'location', 'status']) $(`d-${f}`).value = d[f] || '';
  $('admin').scrollIntoView({ behavior: 'smooth' });
}

async function saveDevice() {
  const id = $('d-id').value.trim();
  if (!id) { note('device-result', 'Enter the device id (or press "edit" in the list).', true); return; }
  try {
    await api('PATCH', `/api/v1/devices/${encodeURIComponent(id)}`, deviceBody());
    note('device-result', `Saved ${id}.`);
    await loadDevices();
  } catch (e) { note('device-result', e.message, true); }
}

async function sendCommand(ev) {
  ev.preventDefault();
  const id = $('c-device').value;
  const body = { command: $('c-command').value.trim() };
  const raw = $('c-params').value.trim();
  if (raw) {
    try { body.parameters = JSON.parse(raw); } catch { note('command-result', 'Parameters must be JSON.', true); return; }
  }
  try {
    const c = await api('POST', `/api/v1/devices/${encodeURIComponent(id)}/commands`, body);
    note('command-result', `Command ${c.command_id} is ${c.state}.`);
  } catch (e) { note('command-result', e.message, true); }
}

// ---- start ------------------------------------------------------------------------------
$('keyform').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const k = $('adminkey').value.trim();
  if (k) sessionStorage.setItem(KEY, k);
  $('adminkey').value = '';
  renderKey();
});
$('keyclear').addEventListener('click', () => { sessionStorage.removeItem(KEY); renderKey(); });
$('history-form').addEventListener('submit', showHistory);
$('device-form').addEventListener('submit', createDevice);
$('d-save').addEventListener('click', saveDevice);
$('command-form').addEventListener('submit', sendCommand);
window.addEventListener('resize', () => {
  for (const c of state.live.values()) c.plot.setSize({ width: chartWidth(c.node), height: 180 });
  if (historyPlot) historyPlot.setSize({ width: chartWidth($('history-chart')), height: 180 });
});
setInterval(renderDevices, 10000);  // keeps "last seen" ages current

renderKey();
loadDevices().then(() => { if (state.liveDevice) followDevice(state.liveDevice); }).catch(() => {});
loadAlerts().catch(() => {});
connect();
