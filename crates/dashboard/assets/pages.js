// The dashboard's pages. Each is `async (view, {id, params}, ctx)`: it fills `view` from
// /api/v1 and polls through `ctx.every` where the data moves. Regions that change while a job
// runs (progress bars, charts, tables) have fixed sizes in style.css, so nothing jumps.

import { get, post, ApiError } from './api.js';
import { h, table, num, pct, duration, when, badge, notice } from './dom.js';

const FINAL = ['COMPLETED', 'FAILED', 'CANCELLED'];

/** Runs a state-changing call and reports it in `out`; a 401 asks for the API key. */
async function act(ctx, out, fn, done) {
  out.replaceChildren();
  try {
    const r = await fn();
    if (done) out.append(notice('ok', done(r)));
    return r;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) ctx.askForKey();
    out.append(notice('error', e.message));
    return null;
  }
}

function secondsBetween(a, b) {
  return a ? ((b ? Date.parse(b) : Date.now()) - Date.parse(a)) / 1000 : NaN;
}

function resultLink(job) {
  const short = job.job_id.slice(0, 8);
  if (job.job_type === 'backtest') return h('a', { href: '#/backtest/' + job.job_id }, short);
  if (job.job_type === 'hyperopt') return h('a', { href: '#/hyperopt/' + job.job_id }, short);
  return h('code', {}, short);
}

function progressCell(job) {
  const p = Math.max(0, Math.min(1, job.progress || 0));
  const d = job.progress_detail || {};
  let text = Math.round(p * 100) + ' %';
  if (d.epochs_total) text = `${d.epochs_done}/${d.epochs_total} epochs`;
  else if (d.pairs_total) text = `${d.pairs_done}/${d.pairs_total} pairs`;
  return h('span', { class: 'progress' }, h('progress', { max: 1, value: p, 'aria-label': 'progress ' + text }), h('span', {}, text));
}

// ---------------------------------------------------------------- Jobs

export async function jobs(view, { params }, ctx) {
  const type = params.get('type') || '';
  const status = params.get('status') || '';
  const select = (name, label, options, value) =>
    h('label', {}, label + ' ',
      h('select', { name, onchange: (ev) => {
        const q = new URLSearchParams(params);
        if (ev.target.value) q.set(name, ev.target.value);
        else q.delete(name);
        location.hash = '#/jobs?' + q;
      } }, options.map(([v, t]) => h('option', { value: v, selected: v === value }, t))));
  const out = h('div', { class: 'messages', 'aria-live': 'polite' });
  const body = h('tbody', {});
  const total = h('span', { class: 'muted' });
  view.append(
    h('h1', {}, 'Jobs'),
    h('form', { class: 'filters', onsubmit: (e) => e.preventDefault() },
      select('type', 'Type', [['', 'all'], ['backtest', 'backtest'], ['hyperopt', 'hyperopt'], ['sync', 'sync']], type),
      select('status', 'Status', [['', 'all'], ...['PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'].map((s) => [s, s])], status),
      total),
    out,
    h('div', { class: 'table-wrap' },
      h('table', { id: 'jobs-table', class: 'jobs' },
        h('caption', {}, 'Every job, newest first (refreshed every 2 s)'),
        h('thead', {}, h('tr', {}, ['Job', 'Type', 'Label', 'Status', 'Progress', 'Duration', 'Accepted', ''].map((t) => h('th', { scope: 'col' }, t)))),
        body)),
  );
  const load = async () => {
    const page = await get('/jobs', { type, status, limit: 50 });
    total.textContent = `${page.total} job(s)`;
    body.replaceChildren(...page.items.map((j) => h('tr', { 'data-job': j.job_id, 'data-status': j.status },
      h('td', {}, resultLink(j)),
      h('td', {}, j.job_type),
      h('td', {}, j.label || ''),
      h('td', {}, badge(j.status)),
      h('td', {}, progressCell(j)),
      h('td', { class: 'num' }, duration(secondsBetween(j.started_at, j.finished_at))),
      h('td', {}, when(j.created_at)),
      h('td', {}, FINAL.includes(j.status) ? '' : h('button', { type: 'button', class: 'small',
        onclick: () => confirm(`Cancel job ${j.job_id.slice(0, 8)}?`) &&
          act(ctx, out, () => post(`/jobs/${j.job_id}/cancel`), () => 'Cancel requested.').then(load) }, 'Cancel')))));
    if (!page.items.length) body.append(h('tr', {}, h('td', { colspan: 8, class: 'empty' }, 'No jobs match.')));
  };
  await load();
  ctx.every(2000, () => load().catch(() => {}));
}

// ---------------------------------------------------------------- Backtest result

const SUMMARY = [
  ['Trades', (s) => s.total_trades],
  ['Win rate', (s) => pct(s.winrate)],
  ['Total profit', (s) => `${num(s.profit_total_abs, 3)} ${s.stake_currency} (${pct(s.profit_total)})`],
  ['Final balance', (s) => `${num(s.final_balance, 3)} ${s.stake_currency}`],
  ['Max drawdown', (s) => `${pct(s.max_relative_drawdown)} (${num(s.max_drawdown_abs, 3)})`],
  ['Profit factor', (s) => num(s.profit_factor)],
  ['Sharpe', (s) => num(s.sharpe)],
  ['Sortino', (s) => num(s.sortino)],
  ['Calmar', (s) => num(s.calmar)],
  ['CAGR', (s) => pct(s.cagr)],
  ['Expectancy', (s) => num(s.expectancy, 4)],
  ['Avg holding', (s) => duration(s.holding_avg_s)],
  ['Market change', (s) => pct(s.market_change)],
  ['Window', (s) => `${s.backtest_start} → ${s.backtest_end}`],
  ['Timeframe', (s) => s.timeframe],
];

function metricsList(s, id) {
  // Each term and value in its own <div> (valid in a <dl>), so the grid never splits a pair.
  return h('dl', { class: 'metrics', id }, SUMMARY.map(([k, f]) => h('div', {}, h('dt', {}, k), h('dd', {}, String(f(s))))));
}

function tradeTable(id, ctx) {
  const state = { sort: 'close_timestamp', desc: false, offset: 0, limit: 25 };
  const cols = [
    ['pair', 'Pair'], ['open_date', 'Opened'], ['close_date', 'Closed'], ['open_rate', 'Open rate', 1],
    ['close_rate', 'Close rate', 1], ['profit_ratio', 'Profit %', 1], ['profit_abs', 'Profit', 1],
    ['exit_reason', 'Exit reason'], ['trade_duration', 'Minutes', 1],
  ];
  const sortKey = { open_date: 'open_timestamp', close_date: 'close_timestamp' };
  const head = h('tr', {});
  const body = h('tbody', {});
  const info = h('span', { class: 'muted', role: 'status' });
  const prev = h('button', { type: 'button', onclick: () => { state.offset = Math.max(0, state.offset - state.limit); load(); } }, '← Previous');
  const next = h('button', { type: 'button', onclick: () => { state.offset += state.limit; load(); } }, 'Next →');
  const load = async () => {
    const p = await get(`/backtests/${id}/trade-table`, state);
    head.replaceChildren(...cols.map(([k, t, n]) => {
      const key = sortKey[k] || k;
      const on = state.sort === key;
      return h('th', { scope: 'col', class: n ? 'num' : null, 'aria-sort': on ? (state.desc ? 'descending' : 'ascending') : 'none' },
        h('button', { type: 'button', class: 'sort', onclick: () => {
          state.desc = on ? !state.desc : key.startsWith('profit');
          state.sort = key;
          state.offset = 0;
          load();
        } }, t + (on ? (state.desc ? ' ▼' : ' ▲') : '')));
    }));
    const cell = (t, k) => {
      if (k === 'profit_ratio') return pct(t[k]);
      if (k.endsWith('_date')) return when(t[k]);
      if (typeof t[k] === 'number') return num(t[k], k === 'trade_duration' ? 0 : 5);
      return t[k] ?? '';
    };
    body.replaceChildren(...p.trades.map((t) => h('tr', {}, cols.map(([k, , n]) => h('td', { class: n ? 'num' : null }, cell(t, k))))));
    if (!p.trades.length) body.append(h('tr', {}, h('td', { colspan: cols.length, class: 'empty' }, 'No trades.')));
    const last = Math.min(p.total, p.offset + p.trades.length);
    info.textContent = p.total ? `Trades ${p.offset + 1}–${last} of ${p.total}` : '0 trades';
    prev.disabled = p.offset === 0;
    next.disabled = last >= p.total;
  };
  const el = h('section', { 'aria-labelledby': 'trades-h' },
    h('h2', { id: 'trades-h' }, 'Trades'),
    h('div', { class: 'table-wrap' }, h('table', { id: 'trades-table', class: 'trades' }, h('thead', {}, head), body)),
    h('div', { class: 'pager' }, prev, info, next));
  return { el, load };
}

async function backtestColumn(id, ctx, compact) {
  const col = h('section', { class: 'run', 'aria-label': 'backtest ' + id.slice(0, 8) });
  const head = h('div', { class: 'run-head' });
  const body = h('div', {});
  col.append(head, body);
  let shown = false;
  const load = async () => {
    const job = await get('/jobs/' + id);
    head.replaceChildren(
      h('h2', {}, `${job.label || 'Backtest'} `, h('code', {}, id.slice(0, 8))), badge(job.status), ' ', progressCell(job));
    if (job.status === 'FAILED') body.replaceChildren(notice('error', (job.error && job.error.message) || 'The backtest failed.'));
    if (job.status !== 'COMPLETED' || shown) return FINAL.includes(job.status);
    shown = true;
    const s = job.result.summary;
    const parts = [
      metricsList(s, compact ? null : 'summary'),
      h('figure', { class: 'chart' },
        h('img', { id: compact ? null : 'equity-chart', src: `/api/v1/backtests/${id}/equity`, width: 1000, height: 600,
          alt: `Equity and drawdown of backtest ${id.slice(0, 8)}` }),
        h('figcaption', {}, 'Balance over the run (top) and drawdown below the running peak (bottom).')),
      h('p', {}, h('a', { href: `/api/v1/backtests/${id}/export`, download: `backtest-${id}.json`, class: 'button' }, 'Download the export (JSON)'),
        ' ', h('a', { href: `/api/v1/backtests/${id}/report`, class: 'button' }, 'Text report')),
      table('Per pair', [
        ['Pair', (r) => r.key], ['Trades', (r) => r.trades, { num: 1 }], ['Avg profit', (r) => pct(r.profit_mean), { num: 1 }],
        ['Total profit', (r) => num(r.profit_total_abs, 4), { num: 1 }], ['Wins', (r) => r.wins, { num: 1 }],
      ], s.results_per_pair || [], { id: compact ? null : 'per-pair' }),
      table('Per exit reason', [
        ['Exit reason', (r) => r.key], ['Trades', (r) => r.trades, { num: 1 }], ['Total profit', (r) => num(r.profit_total_abs, 4), { num: 1 }],
        ['Wins', (r) => r.wins, { num: 1 }], ['Draws', (r) => r.draws, { num: 1 }], ['Losses', (r) => r.losses, { num: 1 }],
      ], s.exit_reason_summary || [], { id: compact ? null : 'per-exit' }),
    ];
    body.replaceChildren(...parts);
    if (!compact) {
      const t = tradeTable(id, ctx);
      body.append(t.el);
      await t.load();
    }
    return true;
  };
  return { col, load };
}

export async function backtest(view, { id, params }, ctx) {
  const other = params.get('compare');
  const list = await get('/backtests', { status: 'COMPLETED', limit: 50 }).catch(() => ({ items: [] }));
  const picker = h('select', { id: 'compare', name: 'compare' },
    h('option', { value: '' }, 'nothing'),
    list.items.filter((b) => b.job_id !== id).map((b) =>
      h('option', { value: b.job_id, selected: b.job_id === other }, `${b.strategy || ''} ${b.job_id.slice(0, 8)} (${when(b.finished_at)})`)));
  view.append(
    h('h1', {}, 'Backtest result'),
    h('form', { class: 'filters', onsubmit: (e) => e.preventDefault() },
      h('label', { for: 'compare' }, 'Side by side with '), picker,
      h('button', { type: 'button', onclick: () => { location.hash = `#/backtest/${id}` + (picker.value ? '?compare=' + picker.value : ''); } }, 'Compare')));
  const cols = [await backtestColumn(id, ctx, !!other)];
  if (other) cols.push(await backtestColumn(other, ctx, true));
  view.append(h('div', { class: other ? 'side-by-side' : '' }, cols.map((c) => c.col)));
  const done = await Promise.all(cols.map((c) => c.load()));
  if (!done.every(Boolean)) {
    const stop = ctx.every(1000, async () => {
      const d = await Promise.all(cols.map((c) => c.load().catch(() => false)));
      if (d.every(Boolean)) stop();
    });
  }
}

// ---------------------------------------------------------------- Hyperopt result

function keyValues(caption, obj, id) {
  const rows = Object.entries(obj || {});
  return table(caption, [['Name', (r) => r[0]], ['Value', (r) => (typeof r[1] === 'object' ? JSON.stringify(r[1]) : typeof r[1] === 'number' ? num(r[1], 5) : String(r[1])), { num: 1 }]],
    rows, { id });
}

export async function hyperopt(view, { id }, ctx) {
  const head = h('div', { class: 'run-head' });
  const body = h('div', {});
  const out = h('div', { class: 'messages', 'aria-live': 'polite' });
  view.append(h('h1', {}, 'Hyperopt result'), head, out, body);
  let shown = false;
  const load = async () => {
    const job = await get('/hyperopt/' + id);
    head.replaceChildren(h('h2', {}, `${job.label || ''} `, h('code', {}, id.slice(0, 8))), badge(job.status), ' ', progressCell(job),
      job.progress_detail && job.progress_detail.best_loss != null ? h('span', { class: 'muted' }, ' best loss ' + num(job.progress_detail.best_loss, 5)) : '');
    if (job.status === 'FAILED') body.replaceChildren(notice('error', (job.error && job.error.message) || 'The run failed.'));
    if (job.status !== 'COMPLETED' || shown) return FINAL.includes(job.status);
    shown = true;
    const r = job.result;
    const oos = r.out_of_sample;
    body.replaceChildren(
      h('p', {}, `Best loss ${num(r.best_loss, 6)} after ${r.epochs} epochs (${r.loss} loss, ${r.sampler} sampler, seed ${r.seed}).`),
      h('p', {}, h('button', { type: 'button', id: 'backtest-config', onclick: () => act(ctx, out, () => post(`/hyperopt/${id}/backtest`), (a) => {
        location.hash = '#/backtest/' + a.job_id;
        return 'Backtest submitted.';
      }) }, 'Backtest this config'), ' ',
      h('a', { class: 'button', href: `/api/v1/hyperopt/${id}/config`, download: `best-config-${id}.json` }, 'Download the best config')),
      keyValues('Best parameters', r.best_params, 'best-params'),
      oos
        ? table(`In sample (${oos.in_sample_window}) and out of sample (${oos.out_of_sample_window})`,
          [['Metric', (r) => r[0]], ['In sample', (r) => num(r[1], 4), { num: 1 }], ['Out of sample', (r) => num(r[2], 4), { num: 1 }]],
          [['loss', oos.in_sample_loss, oos.out_of_sample_loss], ...Object.keys(oos.in_sample).map((k) => [k, oos.in_sample[k], oos.out_of_sample[k]])],
          { id: 'oos' })
        : keyValues('In-sample metrics of the best epoch', r.in_sample, 'in-sample'),
      h('figure', { class: 'chart' },
        h('img', { id: 'loss-chart', src: `/api/v1/hyperopt/${id}/loss`, width: 900, height: 360, alt: 'Loss of every epoch and the best loss so far' }),
        h('figcaption', {}, 'Loss per epoch (dots) and the best loss so far (line); lower is better.')),
      h('figure', { class: 'chart heat' },
        h('img', { id: 'heatmap', src: `/api/v1/hyperopt/${id}/heatmap`, alt: 'Heat map of the two most important parameters' }),
        h('figcaption', {}, 'Best loss over the two most important parameters (needs two searched parameters).')),
      table('Importance (η² of loss ranks)', [['Parameter', (x) => x.name], ['η²', (x) => num(x.importance, 3), { num: 1 }]], r.importance || []),
    );
    return true;
  };
  if (!(await load())) {
    const stop = ctx.every(1000, async () => {
      if (await load().catch(() => false)) stop();
    });
  }
}

// ---------------------------------------------------------------- Submit

// The submit form's fields: [name, label, input type, default], then `true` for the ones only
// a hyperopt run has (a hyperopt run takes every backtest field too).
const SUBMIT_FIELDS = [
  ['strategy', 'Strategy', 'select'],
  ['strategy_version', 'Registered version (production, a number or an alias; optional)', 'text', ''],
  ['pairs', 'Pairs (comma-separated)', 'text', 'ETH/BTC'],
  ['timeframe', 'Timeframe (empty: the strategy\'s)', 'text', ''],
  ['timerange', 'Time range (YYYYMMDD-YYYYMMDD)', 'text', ''],
  ['start_date', 'Or first day (YYYY-MM-DD)', 'text', ''],
  ['end_date', 'And last day, exclusive', 'text', ''],
  ['exchange', 'Exchange', 'text', 'binance'],
  ['stake_amount', 'Stake amount (number or unlimited)', 'text', 'unlimited'],
  ['dry_run_wallet', 'Starting wallet', 'number', '1000'],
  ['max_open_trades', 'Max open trades (-1: unlimited)', 'number', '3'],
  ['fee', 'Fee per side', 'number', '0.001'],
  ['trading_mode', 'Trading mode', 'choice', ['spot', 'futures']],
  ['leverage', 'Leverage (futures)', 'number', ''],
  ['experiment_name', 'Experiment (tracking)', 'text', ''],
  ['ensure_data', 'Download missing candles first', 'checkbox'],
  ['epochs', 'Epochs (empty: 100)', 'number', '', true],
  ['spaces', 'Spaces (comma-separated; empty: buy)', 'text', '', true],
  ['loss', 'Loss function (empty: sharpe)', 'text', '', true],
  ['sampler', 'Sampler', 'choice', ['tpe', 'random', 'grid'], true],
  ['seed', 'Seed', 'number', '0', true],
  ['oos_timerange', 'Out-of-sample range (optional)', 'text', '', true],
  ['split', 'Or in-sample share, e.g. 0.7', 'number', '', true],
  ['walk_forward', 'Walk-forward folds', 'number', '', true],
  ['jobs', 'Parallel evaluations', 'number', '', true],
  ['top', 'Top epochs kept', 'number', '', true],
];

export async function submit(view, { params }, ctx) {
  const kind = params.get('type') === 'hyperopt' ? 'hyperopt' : 'backtest';
  const strategies = await get('/strategies').catch(() => ({ strategies: [] }));
  const out = h('div', { class: 'messages', 'aria-live': 'polite' });
  const field = ([name, label, type, dflt]) => {
    const id = 'f-' + name;
    let input;
    if (type === 'select') {
      input = h('select', { id, name }, strategies.strategies.map((s) => h('option', { value: s.name }, s.name)));
    } else if (type === 'checkbox') {
      input = h('input', { id, name, type: 'checkbox', 'aria-describedby': id + '-err' });
      return h('div', { class: 'field check' }, h('label', { for: id }, input, ' ', label), h('p', { id: id + '-err', class: 'field-error' }));
    } else if (type === 'choice') {
      input = h('select', { id, name }, dflt.map((v) => h('option', { value: v }, v)));
    } else {
      input = h('input', { id, name, type: type === 'number' ? 'text' : 'text', inputmode: type === 'number' ? 'decimal' : null, value: dflt });
    }
    input.setAttribute('aria-describedby', id + '-err');
    return h('div', { class: 'field' }, h('label', { for: id }, label), input, h('p', { id: id + '-err', class: 'field-error' }));
  };
  const fields = SUBMIT_FIELDS.filter((f) => kind === 'hyperopt' || !f[4]);
  const form = h('form', { id: 'submit-form', class: 'grid-form', novalidate: true }, fields.map(field),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, kind === 'hyperopt' ? 'Start hyperopt' : 'Run backtest')));
  view.append(
    h('h1', {}, kind === 'hyperopt' ? 'Submit a hyperopt run' : 'Submit a backtest'),
    h('p', {}, kind === 'hyperopt' ? h('a', { href: '#/submit' }, 'Submit a backtest instead') : h('a', { href: '#/submit?type=hyperopt' }, 'Submit a hyperopt run instead')),
    form, out);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    for (const e of form.querySelectorAll('.field-error')) e.textContent = '';
    for (const e of form.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
    const body = {};
    for (const [name, , type] of fields) {
      if (type === 'checkbox') {
        if (form.elements[name].checked) body[name] = true;
        continue;
      }
      const v = form.elements[name].value.trim();
      if (v === '') continue;
      if (name === 'pairs' || name === 'spaces') body[name] = v.split(',').map((x) => x.trim()).filter(Boolean);
      else if (type === 'number') body[name] = Number.isNaN(Number(v)) ? v : Number(v);
      else if ((name === 'stake_amount' || name === 'strategy_version') && !Number.isNaN(Number(v))) body[name] = Number(v);
      else body[name] = v;
    }
    out.replaceChildren();
    try {
      const r = await post(kind === 'hyperopt' ? '/hyperopt' : '/backtests', body);
      location.hash = `#/${kind}/${r.job_id}`;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) ctx.askForKey();
      // The API names the field at fault (`pairs[1]`, `stake_amount`): its message goes by it.
      const name = e.field ? e.field.replace(/\[\d+\]$/, '') : null;
      const input = name && form.elements[name];
      if (input) {
        input.setAttribute('aria-invalid', 'true');
        document.getElementById('f-' + name + '-err').textContent = e.message;
        input.focus();
      } else {
        out.append(notice('error', e.message));
      }
    }
  });
}

// ---------------------------------------------------------------- Data

export async function data(view, { params }, ctx) {
  const timeframe = params.get('timeframe') || '';
  const out = h('div', { class: 'messages', 'aria-live': 'polite' });
  const d = await get('/data/series', { timeframe });
  view.append(
    h('h1', {}, 'Data'),
    h('p', { class: 'muted' }, `Stored candle series; stale when the last candle is older than ${d.stale_threshold_hours} h.`),
    table('Stored series', [
      ['Exchange', (s) => s.exchange], ['Market', (s) => s.market], ['Pair', (s) => s.symbol], ['Timeframe', (s) => s.timeframe],
      ['First candle', (s) => when(s.first)], ['Last candle', (s) => when(s.last)], ['Candles', (s) => s.row_count, { num: 1 }],
      ['Gaps', (s) => (s.gaps == null ? '—' : `${s.gaps} (${s.missing_candles} candles)`), { num: 1 }],
      ['Age', (s) => (s.age_hours == null ? '—' : num(s.age_hours, 1) + ' h'), { num: 1 }],
      ['Freshness', (s) => (s.corrupt && s.corrupt.length ? badge('CORRUPT') : s.stale ? badge('STALE') : badge('FRESH'))],
    ], d.series, { id: 'series', empty: 'No stored series: import or sync candles first.' }),
  );
  const form = h('form', { id: 'sync-form', class: 'grid-form' },
    h('div', { class: 'field' }, h('label', { for: 's-exchange' }, 'Exchange'),
      h('select', { id: 's-exchange', name: 'exchange' }, h('option', { value: 'binance' }, 'binance'), h('option', { value: 'bybit' }, 'bybit'))),
    h('div', { class: 'field' }, h('label', { for: 's-pairs' }, 'Pairs (comma-separated)'), h('input', { id: 's-pairs', name: 'pairs', value: 'BTC/USDT' })),
    h('div', { class: 'field' }, h('label', { for: 's-timeframe' }, 'Timeframe'), h('input', { id: 's-timeframe', name: 'timeframe', value: '1h' })),
    h('div', { class: 'field' }, h('label', { for: 's-start' }, 'Start (YYYY-MM-DD)'), h('input', { id: 's-start', name: 'start', value: '' })),
    h('div', { class: 'field' }, h('label', { for: 's-end' }, 'End (optional)'), h('input', { id: 's-end', name: 'end', value: '' })),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Start a sync')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = form.elements;
    const body = { exchange: f.exchange.value, pairs: f.pairs.value.split(',').map((x) => x.trim()).filter(Boolean), timeframe: f.timeframe.value.trim(), start: f.start.value.trim() };
    if (f.end.value.trim()) body.end = f.end.value.trim();
    act(ctx, out, () => post('/data/sync', body), (r) => `Sync ${r.job_id.slice(0, 8)} accepted: follow it on the Jobs page.`);
  });
  view.append(h('section', { 'aria-labelledby': 'sync-h' }, h('h2', { id: 'sync-h' }, 'Sync from an exchange'), form, out));
}

// ---------------------------------------------------------------- Registry

export async function registry(view) {
  const r = await get('/models');
  view.append(
    h('h1', {}, 'Registry'),
    table('Registered strategies and models', [
      ['Name', (m) => h('a', { href: '#/registry/' + encodeURIComponent(m.name) }, m.name)],
      ['Kind', (m) => m.kind || ''],
      ['Versions', (m) => m.versions, { num: 1 }],
      ['Production', (m) => (m.production_version == null ? '—' : 'v' + m.production_version), { num: 1 }],
      ['Aliases', (m) => Object.entries(m.aliases || {}).map(([a, v]) => `${a} → v${v}`).join(', ')],
      ['Updated', (m) => when(m.last_updated)],
    ], r.models, { id: 'models', empty: 'Nothing registered yet (`tradai models register`).' }));
}

export async function model(view, { id }, ctx) {
  const out = h('div', { class: 'messages', 'aria-live': 'polite' });
  const holder = h('div', {});
  view.append(h('p', {}, h('a', { href: '#/registry' }, '← Registry')), h('h1', {}, id), out, holder);
  const load = async () => {
    const m = await get('/models/' + encodeURIComponent(id));
    const promote = (v) => confirm(`Promote ${id} v${v.version} to Production? The current Production version is archived.`) &&
      act(ctx, out, () => post(`/models/${encodeURIComponent(id)}/promote`, { version: v.version }), (r) => `v${r.version} is now in Production.`).then(load);
    const rollback = () => confirm(`Roll ${id} back to its previous Production version?`) &&
      act(ctx, out, () => post(`/models/${encodeURIComponent(id)}/rollback`), (r) => `Rolled back: v${r.version} is in Production.`).then(load);
    holder.replaceChildren(
      m.model.description ? h('p', {}, m.model.description) : '',
      table('Versions', [
        ['Version', (v) => 'v' + v.version, { num: 1 }],
        ['Stage', (v) => badge(v.current_stage)],
        ['Aliases', (v) => (v.aliases || []).join(', ')],
        ['Created', (v) => when(v.created)],
        ['Run', (v) => (v.run_id ? h('code', {}, v.run_id.slice(0, 12)) : '—')],
        ['Description', (v) => v.description || ''],
        ['', (v) => (v.current_stage === 'Production' ? '' : h('button', { type: 'button', class: 'small', 'data-promote': v.version, onclick: () => promote(v) }, `Promote v${v.version}`))],
      ], m.versions, { id: 'versions' }),
      h('p', {}, h('button', { type: 'button', id: 'rollback', disabled: m.history.length < 2, onclick: rollback }, 'Roll back Production')),
      table('Production history (newest first)', [['Version', (e) => 'v' + e.version, { num: 1 }], ['Since', (e) => when(e.since)]], m.history, { id: 'history' }),
      table('Tracked runs', [
        ['Run', (r) => h('code', {}, r.run_id.slice(0, 12))], ['Name', (r) => r.run_name || ''], ['Status', (r) => r.status || ''],
        ['Started', (r) => when(r.start_time)], ['Profit', (r) => pct(r.metrics.profit_total), { num: 1 }],
        ['Trades', (r) => r.metrics.total_trades ?? '—', { num: 1 }],
      ], m.runs, { id: 'runs', empty: 'No tracked runs of this strategy.' }),
    );
  };
  await load();
}

// ---------------------------------------------------------------- Trading

export async function trading(view, _args, ctx) {
  const holder = h('div', {});
  const details = h('div', { id: 'node-details' });
  view.append(h('h1', {}, 'Trading'),
    h('p', { class: 'muted' }, 'Dry-run and live nodes; a running node is stale after 3 missed heartbeats (refreshed every 5 s). ' +
      'Open trades, profit and the stop switch come from a node\'s own REST API while it serves one; the validation report from its recorded state.'),
    holder, details);
  // One section per node, built once so the stop form keeps its state across refreshes;
  // only the regions inside it are replaced.
  const sections = new Map();
  const section = (n) => {
    if (sections.has(n.bot_id)) return sections.get(n.bot_id);
    const id = n.bot_id.replace(/[^A-Za-z0-9_-]/g, '_');
    const live = h('div', { class: 'node-live', id: 'live-' + id });
    const report = h('div', { class: 'node-report', id: 'report-' + id });
    const out = h('div', { class: 'messages', 'aria-live': 'polite' });
    const closeAll = h('input', { type: 'checkbox', id: 'close-all-' + id });
    const stopButton = h('button', { type: 'button', id: 'stop-' + id, onclick: () => stop(n.bot_id, closeAll.checked, out) }, `Stop ${n.bot_id}`);
    const controls = h('div', { class: 'filters', id: 'controls-' + id }, stopButton,
      h('label', { for: 'close-all-' + id }, closeAll, ' also exit every open trade (close_all)'));
    const s = { el: h('section', { class: 'node', 'aria-label': 'Node ' + n.bot_id }, h('h2', {}, 'Node ', h('code', {}, n.bot_id)), live, controls, out, report),
      live, report, controls };
    details.append(s.el);
    sections.set(n.bot_id, s);
    return s;
  };
  const stop = async (bot, closeAll, out) => {
    const what = closeAll ? 'stop new entries and exit every open trade at the next candle' : 'stop new entries (open trades exit by the rules)';
    if (!confirm(`Stop node ${bot}: ${what}?`)) return;
    await act(ctx, out, () => post(`/trading/${encodeURIComponent(bot)}/stop`, { close_all: closeAll }), (r) => `${bot}: ${r.result}.`);
    await load();
  };
  const showLive = async (n, s) => {
    s.controls.hidden = !n.api_url;
    if (!n.api_url) {
      s.live.replaceChildren(h('p', { class: 'muted' }, `${n.bot_id} serves no REST API now (${n.status}${n.replay ? ', replay' : ''}): no live trades or stop switch.`));
      return;
    }
    try {
      const r = await get(`/trading/${encodeURIComponent(n.bot_id)}/status`);
      const st = r.status, p = r.profit;
      s.live.replaceChildren(
        h('p', { class: 'node-state' }, 'Entries: ', badge(st.entries_stopped ? 'STOPPED' : 'RUNNING'), ' · API ', h('code', {}, r.api_url),
          ' · last candle ', when(st.last_candle)),
        h('dl', { class: 'metrics' },
          h('div', {}, h('dt', {}, 'Open profit'), h('dd', { class: 'open-profit' }, num(p.profit_open_abs, 6) + ' ' + p.stake_currency)),
          h('div', {}, h('dt', {}, 'Closed profit'), h('dd', {}, num(p.profit_closed_abs, 6) + ' ' + p.stake_currency)),
          h('div', {}, h('dt', {}, 'Total profit'), h('dd', {}, num(p.profit_all_abs, 6) + ' ' + p.stake_currency)),
          h('div', {}, h('dt', {}, 'Closed trades (won / lost)'), h('dd', {}, `${p.closed_trade_count} (${p.winning_trades} / ${p.losing_trades})`))),
        table('Open trades of ' + n.bot_id, [
          ['Trade', (t) => t.trade_id], ['Side', (t) => (t.is_short ? 'short' : 'long')], ['Opened', (t) => when(t.open_date)],
          ['Open rate', (t) => num(t.open_rate, 8), { num: 1 }], ['Current rate', (t) => num(t.current_rate, 8), { num: 1 }],
          ['Amount', (t) => num(t.amount, 6), { num: 1 }], ['Stake', (t) => num(t.stake_amount, 6), { num: 1 }],
          ['Profit %', (t) => pct(t.current_profit), { num: 1 }], ['Profit', (t) => num(t.current_profit_abs, 6), { num: 1 }],
        ], st.open_trades, { id: 'open-' + n.bot_id.replace(/[^A-Za-z0-9_-]/g, '_'), empty: 'No open trades.' }));
    } catch (e) {
      s.live.replaceChildren(notice('error', e.message));
    }
  };
  const showReport = async (n, s) => {
    try {
      const r = await get(`/trading/${encodeURIComponent(n.bot_id)}/report`);
      s.report.replaceChildren(
        h('p', {}, 'Dry-run validation report: ', badge(r.overall_passed ? 'PASSED' : 'FAILED'),
          r.failed_checks.length ? ' · checks not passed: ' + r.failed_checks.join(', ') : ''),
        table('Validation checks of ' + n.bot_id, [
          ['Check', (c) => c.name], ['Severity', (c) => c.severity], ['Result', (c) => badge(c.passed ? 'PASSED' : 'FAILED')],
          ['Value', (c) => num(c.value), { num: 1 }], ['Threshold', (c) => num(c.threshold), { num: 1 }], ['Message', (c) => c.message],
        ], r.checks, { id: 'checks-' + n.bot_id.replace(/[^A-Za-z0-9_-]/g, '_') }));
    } catch (e) {
      s.report.replaceChildren(notice('error', e.message));
    }
  };
  const load = async () => {
    const t = await get('/trading');
    holder.replaceChildren(table('Trading nodes', [
      ['Bot', (n) => n.bot_id], ['Mode', (n) => n.mode], ['Strategy', (n) => n.strategy],
      ['State', (n) => badge(n.status)],
      ['Last heartbeat', (n) => [when(n.last_heartbeat), n.stale ? [' ', badge('STALE')] : '']],
      ['Last candle', (n) => when(n.last_candle)],
      ['Open trades', (n) => n.open_trades, { num: 1 }], ['Closed trades', (n) => n.closed_trades, { num: 1 }],
      ['Profit', (n) => num(n.closed_profit, 4), { num: 1 }],
      ['API', (n) => (n.api_url ? h('code', {}, n.api_url) : '—')],
    ], t.nodes, { id: 'nodes', empty: 'No trading node has run yet (`tradai trade --mode dry-run ...`).' }));
    await Promise.all(t.nodes.map((n) => {
      const s = section(n);
      return Promise.all([showLive(n, s), showReport(n, s)]);
    }));
  };
  await load();
  ctx.every(5000, () => load().catch(() => {}));
}
