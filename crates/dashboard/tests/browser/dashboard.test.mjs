// Browser test of the dashboard: a real `tradai up` on ephemeral ports over the sample data,
// driven by headless Chromium (Debian's package) through playwright-core. It submits a backtest
// from the form (first with a bad field, whose message must appear by the field), watches the
// job complete, opens the result (equity chart and trades), promotes a registered strategy
// version, sees a trading node's heartbeat and validation report, watches a live node (against a
// local stand-in for the venue) show its open trades and stop from the switch, and saves a screenshot of every page under
// target/dashboard-screenshots/. Exits non-zero on the first failed check.
//
// Environment: TRADAI_BIN (the `tradai` binary), CHROMIUM (default /usr/bin/chromium).

import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const bin = process.env.TRADAI_BIN || join(repo, 'target/debug/tradai');
const shots = join(repo, 'target/dashboard-screenshots');
mkdirSync(shots, { recursive: true });
const tmp = mkdtempSync(join(tmpdir(), 'tradai-dashboard-'));
const data = join(tmp, 'data');

function tradai(...args) {
  return execFileSync(bin, ['--data-dir', data, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

// page.waitForFunction evaluates its predicate with `new Function` inside the page, which the
// dashboard's content security policy forbids (as it should); poll from here instead.
async function until(page, fn, arg, what, timeout = 30_000) {
  const end = Date.now() + timeout;
  while (Date.now() < end) {
    if (await page.evaluate(fn, arg)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('timed out waiting for ' + what);
}

function check(ok, what) {
  if (!ok) throw new Error('check failed: ' + what);
  console.log('ok -', what);
}

async function startUp() {
  const child = spawn(bin, ['--data-dir', data, 'up', '--backend-port', '0', '--data-collection-port', '0', '--strategy-service-port', '0'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const backend = await new Promise((res, rej) => {
    child.once('exit', (code) => rej(new Error('tradai up exited with ' + code)));
    lines.on('line', (l) => l.startsWith('backend-api: ') && res(l.slice('backend-api: '.length).trim()));
  });
  return { child, backend };
}

// Sample data, two versions of a registered strategy, one finished dry-run node.
const samples = join(repo, 'sample-data/binance');
tradai('--quiet', 'data', 'import', 'freqtrade', samples, '--exchange', 'binance', '--markets', join(samples, 'markets.json'));
tradai('models', 'register', 'EmaCross', '--description', 'first');
tradai('models', 'register', 'EmaCross', '--description', 'second');
tradai('--quiet', 'trade', '--replay', '-s', 'EmaCross', '-p', 'ETH/BTC', '-i', '5m', '--bot-id', 'dash-dry');

// A live dry-run node needs a venue: a local stand-in for Binance spot's three market-data
// routes, answering closed 5m candles of a smooth synthetic SOL/USDT series up to now.
const TF = 300_000;
function candle(ts) {
  const c = 100 * (1 + 0.03 * Math.sin(ts / TF / 9));
  const o = 100 * (1 + 0.03 * Math.sin((ts - TF) / TF / 9));
  return [ts, o.toFixed(4), (Math.max(o, c) * 1.001).toFixed(4), (Math.min(o, c) * 0.999).toFixed(4), c.toFixed(4), '10.0', ts + TF - 1, '0', 1, '0', '0', '0'];
}
const venue = createServer((req, res) => {
  const u = new URL(req.url, 'http://x');
  const send = (body) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };
  if (u.pathname === '/api/v3/time') return send({ serverTime: Date.now() });
  if (u.pathname === '/api/v3/exchangeInfo') {
    return send({ symbols: [{ symbol: 'SOLUSDT', status: 'TRADING', baseAsset: 'SOL', quoteAsset: 'USDT', filters: [
      { filterType: 'PRICE_FILTER', tickSize: '0.00010000' },
      { filterType: 'LOT_SIZE', stepSize: '0.00100000', minQty: '0.00100000', maxQty: '9000.00000000' },
      { filterType: 'NOTIONAL', minNotional: '1.00000000' }] }] });
  }
  if (u.pathname === '/api/v3/klines') {
    const now = Date.now();
    const start = Number(u.searchParams.get('startTime') || 0), end = Number(u.searchParams.get('endTime') || now);
    const limit = Number(u.searchParams.get('limit') || 500);
    const rows = [];
    for (let ts = Math.max(Math.ceil(start / TF) * TF, Math.floor(now / TF) * TF - 2000 * TF); ts <= end && ts + TF <= now && rows.length < limit; ts += TF) rows.push(candle(ts));
    return send(rows);
  }
  res.writeHead(404); res.end('{}');
});
await new Promise((r) => venue.listen(0, '127.0.0.1', r));
const live = spawn(bin, ['--data-dir', data, 'trade', '-s', 'EmaCross', '-p', 'SOL/USDT', '-i', '5m', '--bot-id', 'dash-live', '--api-port', '0'],
  { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TRADAI_BINANCE_SPOT_URL: `http://127.0.0.1:${venue.address().port}` } });
const liveApi = await new Promise((res, rej) => {
  live.once('exit', (code) => rej(new Error('the live node exited with ' + code)));
  createInterface({ input: live.stderr }).on('line', (l) => { console.log('   node:', l); if (l.includes('node API on ')) res(l.split('node API on ')[1].trim()); });
});

const up = await startUp();
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
let failed = false;
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // The browser logs every 4xx answer; the bad submission's 422 and the keyless 401 are expected.
  page.on('console', (m) => m.type() === 'error' && !/status of (422|401)/.test(m.text()) && errors.push(m.text()));
  page.on('dialog', (d) => d.accept());
  const open = (hash) => page.goto(up.backend + '/' + hash);

  // Submit: a bad fee first (the API's message must show by the field), then a good run.
  await open('#/submit');
  await page.waitForSelector('#submit-form #f-strategy option[value="EmaCross"]', { state: 'attached' });
  await page.selectOption('#f-strategy', 'EmaCross');
  await page.fill('#f-pairs', 'ETH/BTC, LTC/BTC');
  await page.fill('#f-timeframe', '5m');
  await page.fill('#f-fee', '-1');
  await page.click('#submit-form button[type=submit]');
  await until(page, () => document.getElementById('f-fee-err').textContent.length > 0, null, 'the fee message');
  check((await page.getAttribute('#f-fee', 'aria-invalid')) === 'true', 'a bad fee is marked invalid by its field');
  console.log('   fee message:', await page.textContent('#f-fee-err'));
  await page.screenshot({ path: join(shots, 'submit.png'), fullPage: true });
  await page.fill('#f-fee', '0.001');
  await page.click('#submit-form button[type=submit]');
  await page.waitForURL(/#\/backtest\/[0-9a-f-]+$/);
  const id = page.url().split('/').pop();
  check(true, 'the form submitted backtest ' + id);

  // Watch it complete: the result page polls until the chart and trades appear.
  await page.waitForSelector('#equity-chart', { timeout: 120_000 });
  await until(page, () => { const i = document.getElementById('equity-chart'); return i && i.complete && i.naturalWidth > 0; }, null, 'the equity chart');
  check(true, 'the equity chart loaded');
  await page.waitForSelector('#trades-table tbody tr td.num');
  const rows = await page.$$eval('#trades-table tbody tr', (r) => r.length);
  check(rows > 0 && rows <= 25, `the trades table shows a page of trades (${rows})`);
  check((await page.$$eval('#per-pair tbody tr', (r) => r.length)) >= 2, 'the per-pair table has rows');
  // Sort by profit (descending first) and check the order.
  await page.click('#trades-table thead button:text("Profit %")');
  await page.waitForSelector('#trades-table th[aria-sort="descending"]');
  const profits = await page.$$eval('#trades-table tbody tr td:nth-child(6)', (c) => c.map((x) => parseFloat(x.textContent)));
  check(profits.every((p, i) => i === 0 || profits[i - 1] >= p), 'sorting by profit orders the trades');
  await page.screenshot({ path: join(shots, 'backtest.png'), fullPage: true });

  // Hyperopt from the form: progress, then loss chart and best parameters; one click
  // backtests the best config.
  await open('#/submit?type=hyperopt');
  await page.waitForSelector('#submit-form #f-strategy option[value="EmaCross"]', { state: 'attached' });
  await page.selectOption('#f-strategy', 'EmaCross');
  await page.fill('#f-pairs', 'ETH/BTC, LTC/BTC');
  await page.fill('#f-timeframe', '5m');
  await page.fill('#f-epochs', '12');
  await page.fill('#f-spaces', 'buy, stoploss');
  await page.click('#submit-form button[type=submit]');
  await page.waitForURL(/#\/hyperopt\/[0-9a-f-]+$/);
  await page.waitForSelector('#loss-chart', { timeout: 180_000 });
  await until(page, () => { const i = document.getElementById('loss-chart'); return i.complete && i.naturalWidth > 0; }, null, 'the loss chart');
  check((await page.$$eval('#best-params tbody tr', (r) => r.length)) >= 2, 'the hyperopt result shows the best parameters and the loss chart');
  await page.screenshot({ path: join(shots, 'hyperopt.png'), fullPage: true });
  await page.click('#backtest-config');
  await page.waitForURL(/#\/backtest\/[0-9a-f-]+$/);
  const hid = page.url().split('/').pop();
  await page.waitForSelector('#equity-chart', { timeout: 120_000 });
  check(true, '"backtest this config" ran a backtest of the best parameters');

  // Jobs: the job is listed as COMPLETED.
  await open('#/jobs');
  await page.waitForSelector(`#jobs-table tr[data-job="${id}"][data-status="COMPLETED"]`);
  check(true, 'the jobs page lists the backtest as COMPLETED');
  await page.screenshot({ path: join(shots, 'jobs.png'), fullPage: true });

  // A long hyperopt run: its progress moves on the Jobs page (filtered to hyperopt) without a
  // reload, and the page's cancel button stops it.
  const long = await (await fetch(up.backend + '/api/v1/hyperopt', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ strategy: 'EmaCross', pairs: ['ETH/BTC', 'LTC/BTC'], timeframe: '5m', epochs: 5000, spaces: ['buy', 'stoploss'], jobs: 1 }),
  })).json();
  await open('#/jobs?type=hyperopt');
  const row = `#jobs-table tr[data-job="${long.job_id}"]`;
  await page.waitForSelector(`${row}[data-status="RUNNING"]`, { timeout: 60_000 });
  const progress = () => page.$eval(`${row} .progress span`, (e) => e.textContent);
  const before = await progress();
  await until(page, ([sel, was]) => { const e = document.querySelector(sel + ' .progress span'); return e && e.textContent !== was; }, [row, before], 'the progress to move', 60_000);
  check(true, `live progress without a reload (${before} → ${await progress()})`);
  const types = await page.$$eval('#jobs-table tbody tr td:nth-child(2)', (c) => [...new Set(c.map((x) => x.textContent))]);
  check(types.length === 1 && types[0] === 'hyperopt', 'the type filter shows hyperopt runs only');
  await page.click(`${row} button`);
  await page.waitForSelector(`${row}[data-status="CANCELLED"]`, { timeout: 30_000 });
  check(true, 'the cancel button stops the running job');

  // Registry: promote v2 (the dialog is accepted) and see it in Production.
  await open('#/registry');
  await page.waitForSelector('#models a:text("EmaCross")');
  await page.screenshot({ path: join(shots, 'registry.png'), fullPage: true });
  await open('#/registry/EmaCross');
  await page.click('button[data-promote="2"]');
  await until(page, () => [...document.querySelectorAll('#versions tbody tr')].some((r) => r.textContent.startsWith('v2') && r.textContent.includes('Production')), null, 'v2 in Production');
  check(true, 'promoting v2 puts it in Production');
  // The backtest submitted above is a tracked run of the strategy (once the outbox delivered it).
  let runs = 0;
  for (let i = 0; i < 30 && !runs; i++) {
    if (i) {
      await new Promise((r) => setTimeout(r, 1000));
      await page.reload();
    }
    await page.waitForSelector('#runs tbody tr');
    runs = await page.$$eval('#runs tbody tr code', (c) => c.length);
  }
  check(runs >= 1, `the strategy's tracked runs are listed (${runs})`);
  await page.screenshot({ path: join(shots, 'registry-model.png'), fullPage: true });

  // Trading: the dry-run node with its last heartbeat.
  await open('#/trading');
  await page.waitForSelector('#nodes tbody tr td:text("dash-dry")');
  const beat = await page.$eval('#nodes tbody tr', (r) => r.children[4].textContent);
  check(/\d{4}-\d\d-\d\d \d\d:\d\d/.test(beat), 'the trading node shows its last heartbeat: ' + beat);
  await page.waitForSelector('#checks-dash-dry tbody tr');
  check((await page.textContent('#report-dash-dry')).match(/PASSED|FAILED/) !== null, 'the finished node shows its validation report');
  check((await page.$$eval('#checks-dash-dry tbody tr', (r) => r.length)) >= 3, 'the report lists its checks with severities');
  // The live node: its API address, open trades and profit through backend-api, and the stop switch.
  await page.waitForSelector('#nodes tbody tr td:text("dash-live")');
  await page.waitForSelector('#open-dash-live');
  check((await page.textContent('#nodes')).includes(liveApi), 'the live node lists its API address ' + liveApi);
  check((await page.textContent('#live-dash-live')).includes('RUNNING'), 'the live node takes entries before the stop');
  await page.screenshot({ path: join(shots, 'trading.png'), fullPage: true });
  await page.check('#close-all-dash-live');
  await page.click('#stop-dash-live');
  await until(page, () => document.getElementById('live-dash-live').textContent.includes('STOPPED'), null, 'the live node stopped');
  check(true, 'pressing stop (confirmed, close_all) turns the node\'s entries to stopped');
  await page.screenshot({ path: join(shots, 'trading-stopped.png'), fullPage: true });

  // Data: the sample series with first/last candle and freshness.
  await open('#/data');
  await page.waitForSelector('#series tbody tr td:text("ETH/BTC")');
  check((await page.$$eval('#series tbody tr', (r) => r.length)) >= 10, 'the data page lists the sample series');
  await page.screenshot({ path: join(shots, 'data.png'), fullPage: true });

  // API keys: once one exists the page is read-only until a key is given; a refused action
  // points to the key field, and with the key it goes through.
  const key = tradai('keys', 'create', '--name', 'browser-test').trim();
  await open('#/registry/EmaCross');
  // The services re-read the key table every 2 s: reload until the page is told keys exist.
  for (let i = 0; i < 20 && !(await page.$('#key-form:not([hidden])')); i++) {
    await new Promise((r) => setTimeout(r, 500));
    await page.reload();
    await page.waitForSelector('#versions');
  }
  await page.waitForSelector('#key-form:not([hidden])');
  check((await page.textContent('#key-state')).includes('Read-only'), 'with API keys the dashboard says it is read-only');
  await page.waitForSelector('button[data-promote="1"]');
  await page.click('button[data-promote="1"]');
  await page.waitForSelector('.notice.error');
  check(await page.evaluate(() => document.activeElement.id === 'key-input'), 'a refused action (401) moves the focus to the key field');
  await page.fill('#key-input', key);
  await page.press('#key-input', 'Enter');
  check((await page.textContent('#key-state')).includes('Key set'), 'the key is taken');
  check(await page.evaluate(() => sessionStorage.getItem('tradai.apiKey') !== null), 'the key is kept in sessionStorage');
  await page.click('button[data-promote="1"]');
  await until(page, () => [...document.querySelectorAll('#versions tbody tr')].some((r) => r.textContent.startsWith('v1') && r.textContent.includes('Production')), null, 'v1 in Production');
  check(true, 'with the key, promoting v1 goes through');
  await page.click('#rollback');
  await until(page, () => [...document.querySelectorAll('#versions tbody tr')].some((r) => r.textContent.startsWith('v2') && r.textContent.includes('Production')), null, 'v2 back in Production');
  check(true, 'rolling back restores v2');
  await page.screenshot({ path: join(shots, 'registry-key.png'), fullPage: true });

  // Side by side, and a phone-sized viewport of the result.
  await open(`#/backtest/${id}?compare=${hid}`);
  await page.waitForSelector('.side-by-side .run:nth-child(2) .metrics');
  check((await page.$$('.side-by-side .run')).length === 2, 'two runs side by side');
  await page.screenshot({ path: join(shots, 'compare.png'), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await open(`#/backtest/${id}`);
  await page.waitForSelector('#equity-chart');
  await page.screenshot({ path: join(shots, 'backtest-phone.png'), fullPage: true });

  check(errors.length === 0, 'no script errors on any page' + (errors.length ? ': ' + errors.join(' | ') : ''));
} catch (e) {
  failed = true;
  console.error('not ok -', e.message);
} finally {
  await browser.close();
  up.child.kill('SIGTERM');
  live.kill('SIGKILL');
  venue.close();
  rmSync(tmp, { recursive: true, force: true });
}
console.log(failed ? 'dashboard browser test FAILED' : `dashboard browser test passed; screenshots in ${shots}`);
process.exit(failed ? 1 : 0);
