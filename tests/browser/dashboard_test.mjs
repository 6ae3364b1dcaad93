// Browser test of the dashboard (issue 10, ctest Dashboard.Browser): the real iotd binary and
// a real mosquitto on free loopback ports, Debian's chromium driven by playwright-core
// (web/package.json). It loads /, publishes over MQTT and sees the value on the page, raises
// an alert (temperature above the default 0–50 rule) and acknowledges it with the admin key
// through the button, creates, edits and commands a device through the forms, checks that every request the page made went to iotd, saves a
// screenshot (docs/dashboard.png), then restarts iotd and sees the page reconnect.
//
//   node tests/browser/dashboard_test.mjs --iotd build/release/iotd [--screenshot docs/dashboard.png]
//        [--phone-screenshot phone.png]
//
// Exit 0: passed; 1: failed; 77: chromium is missing (a skip; under CI=true a failure).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const source = path.resolve(here, '../..');
const require = createRequire(path.join(source, 'web', 'package.json'));
const CHROMIUM = process.env.IOTD_CHROMIUM || '/usr/bin/chromium';
const ADMIN_KEY = 'dashboard-test-admin-key-0123456789';

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
}
const iotdBinary = path.resolve(arg('--iotd', path.join(source, 'build/release/iotd')));
const screenshot = arg('--screenshot', '');
const phoneShot = arg('--phone-screenshot', '');  // optional: the page at 390 px

if (!fs.existsSync(CHROMIUM)) {
  const ci = process.env.CI === 'true';
  console.error(`${CHROMIUM} is missing: install Debian's chromium (scripts/install-deps.sh)`);
  process.exit(ci ? 1 : 77);
}
const { chromium } = require('playwright-core');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iotd-dashboard-'));
const children = new Set();  // processes this test started, killed by PID at the end

function log(msg) { console.log(`[${new Date().toISOString().slice(11, 23)}] ${msg}`); }

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

function start(name, cmd, args, env = {}) {
  const out = fs.openSync(path.join(tmp, `${name}.log`), 'a');
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', out, out] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

async function stop(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  process.kill(child.pid, 'SIGTERM');
  const t = setTimeout(() => { try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } }, 10000);
  await exited;
  clearTimeout(t);
}

async function until(what, fn, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try { if ((last = await fn())) return last; } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

function assert(cond, msg) { if (!cond) throw new Error(`assertion failed: ${msg}`); }

// One mosquitto_pub per topic: every line is a QoS 1 message.
function publish(mqttPort, topic, payloads) {
  const r = spawnSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mqttPort), '-q', '1', '-t', topic, '-l'],
    { input: payloads.map((p) => JSON.stringify(p)).join('\n') + '\n', encoding: 'utf8', timeout: 30000 });
  if (r.status !== 0) throw new Error(`mosquitto_pub failed: ${r.stderr || r.error}`);
}

async function main() {
  const mqttPort = await freePort();
  const httpPort = await freePort();
  const base = `http://127.0.0.1:${httpPort}`;

  // mosquitto: the shipped config with the listener and data dir rewritten, as the
  // integration tests do (tests/support/services.cpp).
  fs.mkdirSync(path.join(tmp, 'mqtt'));
  let conf = fs.readFileSync(path.join(source, 'docker/mosquitto.conf'), 'utf8')
    .replace(/^listener .*$/m, `listener ${mqttPort} 127.0.0.1`)
    .replace(/^persistence_location .*$/m, `persistence_location ${path.join(tmp, 'mqtt')}/`);
  if (process.getuid && process.getuid() === 0) conf += 'user root\n';
  fs.writeFileSync(path.join(tmp, 'mosquitto.conf'), conf);
  start('mosquitto', 'mosquitto', ['-c', path.join(tmp, 'mosquitto.conf')]);
  await until('mosquitto', () => new Promise((resolve) => {
    const s = net.connect(mqttPort, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  }));

  const iotdEnv = {
    IOTD_HTTP_LISTEN: `127.0.0.1:${httpPort}`,
    IOTD_DATABASE_URL: `sqlite:///${path.join(tmp, 'iotd.db')}`,
    IOTD_JOURNAL_DIR: path.join(tmp, 'journal'),
    IOTD_MQTT_URL: `tcp://127.0.0.1:${mqttPort}`,
    IOTD_MQTT_CLIENT_ID: `iotd-dashboard-test-${httpPort}`,
    IOTD_ADMIN_KEY: ADMIN_KEY,
    IOTD_COMMIT_DELAY: '0',
    IOTD_IO_THREADS: '2',
  };
  const startIotd = async () => {
    const child = start('iotd', iotdBinary, [], iotdEnv);
    await until('iotd health', async () => (await fetch(`${base}/api/v1/health/live`)).ok);
    return child;
  };
  let iotd = await startIotd();
  log(`iotd on ${base}, mosquitto on ${mqttPort}`);

  // An hour of history for three devices, so the charts and the screenshot have something.
  const now = Math.floor(Date.now() / 1000);
  const devices = ['boiler-room', 'cold-store', 'roof-unit'];
  devices.forEach((id, d) => {
    const rows = [];
    for (let i = 60; i >= 1; i--) {
      const t = now - i * 60;
      rows.push({ device_id: id, timestamp: t, msg_id: `seed-${id}-${i}`,
        temperature: +(21 + d * 4 + 3 * Math.sin(i / 9 + d)).toFixed(2),
        humidity: +(45 + 10 * Math.cos(i / 13 + d)).toFixed(1),
        voltage: +(229 + 4 * Math.sin(i / 5)).toFixed(1) });
    }
    publish(mqttPort, `sensors/${id}/data`, rows);
  });
  await until('seeded readings', async () => {
    const r = await (await fetch(`${base}/api/v1/readings/latest`)).json();
    return (r.data || []).length === devices.length;
  });

  const profile = fs.mkdtempSync(path.join(tmp, 'chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = context.pages()[0] || await context.newPage();
    const requests = [];
    context.on('request', (r) => requests.push(r.url()));
    page.on('websocket', (ws) => requests.push(ws.url()));
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });

    await page.goto(`${base}/`);
    await page.waitForSelector('#conn.on', { timeout: 15000 });
    await page.waitForSelector('tr[data-device="boiler-room"]');
    log('page loaded, stream live');

    // A value published over MQTT appears on the page.
    publish(mqttPort, 'sensors/boiler-room/data',
      [{ device_id: 'boiler-room', timestamp: Math.floor(Date.now() / 1000), msg_id: 'live-1', temperature: 23.47 }]);
    const cell = page.locator('.value[data-device="boiler-room"][data-metric="temperature"]');
    await until('the published value on the page', async () => (await cell.textContent()).includes('23.47'));
    log('published value shown');

    // An alert: temperature above the default rule's max of 50.
    publish(mqttPort, 'sensors/cold-store/data',
      [{ device_id: 'cold-store', timestamp: Math.floor(Date.now() / 1000), msg_id: 'hot-1', temperature: 57.3 }]);
    const ackButton = page.locator('li.alert button.ack');
    await ackButton.first().waitFor({ timeout: 15000 });
    const alertId = Number(await ackButton.first().getAttribute('data-alert'));
    assert(alertId > 0, 'alert id on the button');
    log(`alert ${alertId} shown`);

    // The admin key, entered once; kept in sessionStorage only.
    await page.fill('#adminkey', ADMIN_KEY);
    await page.click('#keysave');
    assert(await page.evaluate(() => sessionStorage.getItem('iotd.adminKey')) === ADMIN_KEY, 'key in sessionStorage');
    assert(await page.evaluate(() => localStorage.length) === 0, 'nothing in localStorage');
    await page.locator(`button.ack[data-alert="${alertId}"]`).click();
    await page.locator(`li.alert[data-alert="${alertId}"] .tag`).filter({ hasText: 'acknowledged' }).waitFor();
    const stored = await (await fetch(`${base}/api/v1/alerts?state=active`)).json();
    const a = stored.data.find((x) => x.id === alertId);
    assert(a && a.acknowledged === true, `alert ${alertId} acknowledged in the database: ${JSON.stringify(a)}`);
    log('alert acknowledged through the button');

    // A second alert left unacknowledged: the screenshot shows the button too.
    publish(mqttPort, 'sensors/roof-unit/data',
      [{ device_id: 'roof-unit', timestamp: Math.floor(Date.now() / 1000), msg_id: 'wet-1', humidity: 93.5 }]);
    await page.locator('li.alert button.ack').first().waitFor({ timeout: 15000 });

    // History for a device and metric.
    await page.selectOption('#h-device', 'roof-unit');
    await page.fill('#h-metric', 'temperature');
    await page.click('#history-form button[type=submit]');
    await until('history', async () => /^\d+ readings$/.test(await page.textContent('#history-note')));
    log(`history: ${await page.textContent('#history-note')}`);

    // The live chart of the followed device holds the seeded hour plus the new value.
    await page.waitForSelector('#charts .chart[data-metric="temperature"] canvas');

    if (screenshot) {
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.screenshot({ path: path.resolve(screenshot), fullPage: true });
      log(`screenshot: ${screenshot}`);
    }

    // Admin forms: create a device (its key shown once), edit it, send it a command.
    const adminGet = async (p) => (await fetch(`${base}${p}`, { headers: { 'X-API-Key': ADMIN_KEY } })).json();
    await page.fill('#d-id', 'pump-7');
    await page.fill('#d-name', 'Feed pump');
    await page.click('#d-create');
    const key = await page.locator('#device-result code.key').textContent({ timeout: 15000 });
    assert(/^[0-9a-f]{64}$/.test(key), `device key shown once: ${key}`);
    await page.waitForSelector('tr[data-device="pump-7"]');
    await page.fill('#d-name', 'Feed pump 2');
    await page.selectOption('#d-status', 'maintenance');
    await page.click('#d-save');
    await until('the edit stored', async () => {
      const d = await adminGet('/api/v1/devices/pump-7');
      return d.name === 'Feed pump 2' && d.status === 'maintenance';
    });
    await page.selectOption('#c-device', 'pump-7');
    await page.fill('#c-command', 'restart');
    await page.fill('#c-params', '{"delay_seconds": 5}');
    await page.click('#command-form button[type=submit]');
    await until('the command answer', async () => /^Command \S+ is (pending|sent)\.$/.test(await page.textContent('#command-result')));
    const cmds = await adminGet('/api/v1/devices/pump-7/commands');
    assert(cmds.data && cmds.data.length === 1 && cmds.data[0].command === 'restart'
      && cmds.data[0].parameters.delay_seconds === 5, `command stored: ${JSON.stringify(cmds)}`);
    log('device created, edited, command sent');

    // Phone width: nothing wider than the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert(overflow <= 0, `page ${overflow} px wider than a 390 px screen`);
    if (phoneShot) await page.screenshot({ path: path.resolve(phoneShot), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });

    // iotd restarts: the page reconnects by itself and follows the stream again.
    await stop(iotd);
    await page.waitForSelector('#conn.off', { timeout: 15000 });
    iotd = await startIotd();
    await page.waitForSelector('#conn.on', { timeout: 30000 });
    publish(mqttPort, 'sensors/roof-unit/data',
      [{ device_id: 'roof-unit', timestamp: Math.floor(Date.now() / 1000), msg_id: 'after-restart', humidity: 61.25 }]);
    const hum = page.locator('.value[data-device="roof-unit"][data-metric="humidity"]');
    await until('a value after the restart', async () => (await hum.textContent()).includes('61.25'));
    log('reconnected after the restart');

    // Every request went to iotd: the page, its assets, the REST calls and the stream.
    const off = requests.filter((u) => !u.startsWith(`${base}/`) && !u.startsWith(`ws://127.0.0.1:${httpPort}/`)
      && !u.startsWith('data:'));
    assert(off.length === 0, `requests off the iotd host: ${off.join(', ')}`);
    for (const p of ['/dashboard/app.js', '/dashboard/uPlot.min.js', '/api/v1/readings/latest', '/api/v1/stream'])
      assert(requests.some((u) => new URL(u).pathname === p), `the page requested ${p}`);
    assert(pageErrors.length === 0, `page errors: ${pageErrors.join('; ')}`);
    log(`${requests.length} requests, all to ${base}`);
  } finally {
    await context.close();
  }
}

let failed = false;
try {
  await main();
  console.log('PASS');
} catch (e) {
  failed = true;
  console.error(`FAIL: ${e.stack || e}`);
  for (const f of ['iotd.log', 'mosquitto.log']) {
    const p = path.join(tmp, f);
    if (fs.existsSync(p)) console.error(`--- ${f} (last 40 lines)\n${fs.readFileSync(p, 'utf8').split('\n').slice(-40).join('\n')}`);
  }
} finally {
  for (const c of [...children]) await stop(c);
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
