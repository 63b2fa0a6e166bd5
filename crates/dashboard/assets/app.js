// The dashboard's entry module: the API-key form and the hash router (#/jobs, #/backtest/<id>,
// ...). Pages come from pages.js; a page may register timers through `ctx.every`, which the
// router stops when the page is left, so polling never outlives its page.

import { get, apiKey, setApiKey } from './api.js';
import { notice } from './dom.js';
import * as pages from './pages.js';

const routes = [
  [/^\/?$/, pages.jobs],
  [/^\/jobs$/, pages.jobs],
  [/^\/backtest\/([0-9a-f-]+)$/, pages.backtest],
  [/^\/hyperopt\/([0-9a-f-]+)$/, pages.hyperopt],
  [/^\/submit$/, pages.submit],
  [/^\/data$/, pages.data],
  [/^\/registry$/, pages.registry],
  [/^\/registry\/([^/]+)$/, pages.model],
  [/^\/trading$/, pages.trading],
];

let leave = [];
const auth = { required: false };

function keyState() {
  const state = document.getElementById('key-state');
  const form = document.getElementById('key-form');
  form.hidden = !auth.required;
  if (!auth.required) state.textContent = '';
  else state.textContent = apiKey() ? 'Key set: actions enabled' : 'Read-only: enter an API key to act';
}

/** Shows the key form and focuses it (a state-changing call answered 401). */
export function askForKey() {
  auth.required = true;
  keyState();
  document.getElementById('key-input').focus();
}

let generation = 0;

async function render() {
  for (const stop of leave) stop();
  leave = [];
  // Each render fills its own container: a page still loading when the user moves on writes
  // into a detached element and its timers never start, so two pages never mix.
  const mine = ++generation;
  const view = document.createElement('div');
  document.getElementById('view').replaceChildren(view);
  const [path, search] = location.hash.replace(/^#/, '').split('?');
  const params = new URLSearchParams(search || '');
  for (const a of document.querySelectorAll('header nav a')) {
    const here = path.startsWith(a.getAttribute('href').slice(1)) || (path === '' && a.getAttribute('href') === '#/jobs');
    if (here) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const ctx = {
    auth,
    askForKey,
    every(ms, fn) {
      if (mine !== generation) return () => {};
      const t = setInterval(fn, ms);
      const stop = () => clearInterval(t);
      leave.push(stop);
      return stop;
    },
    onLeave(fn) {
      leave.push(fn);
    },
  };
  for (const [re, page] of routes) {
    const m = path.match(re);
    if (!m) continue;
    try {
      await page(view, { id: m[1] && decodeURIComponent(m[1]), params }, ctx);
    } catch (e) {
      view.append(notice('error', e.message));
    }
    return;
  }
  view.replaceChildren(notice('error', `No page at #${path}.`));
}

document.getElementById('key-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = document.getElementById('key-input');
  setApiKey(input.value.trim());
  input.value = '';
  keyState();
});

window.addEventListener('hashchange', () => {
  render();
  document.getElementById('view').focus({ preventScroll: true });
});

get('/auth')
  .then((a) => {
    auth.required = !!a.keys_required;
  })
  .catch(() => {})
  .finally(() => {
    keyState();
    render();
  });
