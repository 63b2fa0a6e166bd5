// The dashboard's one door to the services: every call goes to /api/v1 on the serving origin.
// The API key (when the services have keys) lives in sessionStorage only, so it is gone with
// the tab, and it is sent on state-changing calls only: reads need none, as in the API.

const KEY_SLOT = 'tradai.apiKey';

/** An answer that was not 2xx: `status`, the API's `code`, `message` and `field` (if any). */
export class ApiError extends Error {
  constructor(status, body) {
    const detail = (body && body.error) || {};
    super(detail.message || `HTTP ${status}`);
    this.status = status;
    this.code = detail.code || 'http_' + status;
    this.field = detail.field || null;
  }
}

export function apiKey() {
  return sessionStorage.getItem(KEY_SLOT) || '';
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_SLOT, key);
  else sessionStorage.removeItem(KEY_SLOT);
}

async function answer(resp) {
  const type = resp.headers.get('content-type') || '';
  const body = type.includes('json') ? await resp.json().catch(() => null) : await resp.text();
  if (!resp.ok) throw new ApiError(resp.status, typeof body === 'object' ? body : null);
  return body;
}

/** GET a path under /api/v1 (query given as an object; empty values left out). */
export async function get(path, query) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') qs.set(k, v);
  }
  const url = '/api/v1' + path + (qs.toString() ? '?' + qs : '');
  return answer(await fetch(url, { headers: { Accept: 'application/json' } }));
}

/** POST JSON to a path under /api/v1, with the API key when one is set. */
export async function post(path, body) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  const key = apiKey();
  if (key) headers.Authorization = 'Bearer ' + key;
  const resp = await fetch('/api/v1' + path, { method: 'POST', headers, body: JSON.stringify(body ?? {}) });
  return answer(resp);
}
