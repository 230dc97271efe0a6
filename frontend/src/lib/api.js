// The API client: the session (tokens in localStorage), requests with the token, a
// refresh when the access token expires, and errors in the contract's shape.

const KEY = 'strata.session';

export class ApiError extends Error {
  constructor(status, body) {
    const e = body?.errors?.[0] ?? {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.extensions?.code || 'ERROR';
    this.field = e.extensions?.field;
    this.details = e.extensions || {};
  }
}

// subject is the id the session's access token names (its "sub" claim).
export function subject() {
  try {
    const payload = session()?.access?.split('.')[1] ?? '';
    return JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))).sub || '';
  } catch {
    return '';
  }
}

export function session() {
  try {
    return JSON.parse(localStorage.getItem(KEY)) || null;
  } catch {
    return null;
  }
}

function save(s) {
  if (s) localStorage.setItem(KEY, JSON.stringify(s));
  else localStorage.removeItem(KEY);
  window.dispatchEvent(new Event('strata-session'));
}

// base is where a session's auth routes live: the platform, or one tenant.
function authBase(s) {
  return s?.tenant ? `/api/t/${s.tenant}` : '/api';
}

// login signs in: the platform admin (tenant empty) or a tenant user, with otp when the
// account has two-factor on (without it, a 401 INVALID_OTP asks for the code).
export async function login(email, password, tenant, otp) {
  const body = { email, password };
  if (otp) body.otp = otp;
  const data = await anonymous('POST', `${tenant ? `/api/t/${tenant}` : '/api'}/auth/login`, body);
  if (!tenant) return save({ email, tenant: '', access: data.data.access_token, refresh: data.data.refresh_token, admin: true });
  await begin(tenant, data.data, email);
}

// begin stores a tenant session from its tokens (a sign-in, a provider's): /users/me
// says who it is, which app they get (admin_access), and whether the tenant holds them
// to setting up two-factor first (tfa_setup_required).
export async function begin(tenant, tokens, email = '') {
  const s = { email, tenant, access: tokens.access_token, refresh: tokens.refresh_token, admin: false, tfaSetup: false };
  const r = await fetch(`/api/t/${tenant}/users/me`, { headers: { Authorization: `Bearer ${s.access}` } });
  if (r.ok) {
    const me = (await r.json()).data || {};
    s.email = me.email || email;
    s.admin = me.admin_access === true;
    s.tfaSetup = me.tfa_setup_required === true;
  }
  save(s);
}

// renew refreshes the session's tokens and reads /users/me again: after two-factor is
// turned on, a token that served only to set it up is replaced by a full one.
export async function renew() {
  await refresh();
  const s = session();
  await begin(s.tenant, { access_token: s.access, refresh_token: s.refresh }, s.email);
  return session();
}

// anonymous calls the API without a token (sign-in, password reset, invites): the
// answer's body, null for a 204, or an ApiError.
export async function anonymous(method, path, body) {
  const r = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status === 204) return null;
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

// flash is a message for the next screen (the sign-in form after a password is set).
let flashed = '';
export function flash(message) {
  if (message === undefined) {
    const m = flashed;
    flashed = '';
    return m;
  }
  flashed = message;
}

// providerReturn reads what a provider's sign-in handed back in the address
// (?tenant={slug}#access_token=… | #otp_ticket=…&provider=… | #error=…) and takes it
// out of the address at once, so tokens are not left in the history. Null when the
// address holds none of it.
export function providerReturn() {
  if (!location.hash || location.hash.startsWith('#/')) return null;
  const f = new URLSearchParams(location.hash.slice(1));
  const tenant = new URLSearchParams(location.search).get('tenant') || '';
  let back = null;
  if (f.get('access_token')) back = { kind: 'tokens', tenant, tokens: { access_token: f.get('access_token'), refresh_token: f.get('refresh_token'), expires: Number(f.get('expires')) || 0 } };
  else if (f.get('otp_ticket')) back = { kind: 'otp', tenant, ticket: f.get('otp_ticket'), provider: f.get('provider') || '' };
  else if (f.get('error')) back = { kind: 'error', tenant, code: f.get('error'), message: f.get('error_description') || f.get('error') };
  if (back) history.replaceState(null, '', `${location.pathname}${tenant ? `#/t/${encodeURIComponent(tenant)}` : '#/'}`);
  return back;
}

// providerURL is where a provider button sends the browser: Strata's start of that
// provider's sign-in, which comes back to this page with the tenant named.
export function providerURL(tenant, name) {
  const back = `${location.origin}/?tenant=${encodeURIComponent(tenant)}`;
  return `/api/t/${encodeURIComponent(tenant)}/auth/login/${encodeURIComponent(name)}?redirect=${encodeURIComponent(back)}`;
}

// home is where a session starts: the platform's tenant list, or its own tenant.
export function home(s = session()) {
  if (!s?.tenant) return '#/';
  if (s.tfaSetup) return `#/t/${encodeURIComponent(s.tenant)}/account`;
  return `#/t/${encodeURIComponent(s.tenant)}/${s.admin ? 'tables' : 'data'}`;
}

// permissions reads what the caller may do in a tenant (GET /permissions/me): per table
// and action, {access: none|partial|full, fields, presets}.
export async function permissions(tenant) {
  return (await request('GET', `/api/t/${tenant}/permissions/me`)).data || {};
}

// can reports whether perms allow action on table (and on field, when it is given).
export function can(perms, table, action, field) {
  const p = perms?.[table]?.[action];
  if (!p || p.access === 'none') return false;
  return field === undefined || field === 'id' || !p.fields || p.fields.includes('*') || p.fields.includes(field);
}

export async function logout() {
  const s = session();
  if (s?.refresh) {
    await fetch(`${authBase(s)}/auth/logout`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: s.refresh }),
    }).catch(() => {});
  }
  save(null);
}

let refreshing = null;

async function refresh() {
  const s = session();
  if (!s?.refresh) throw new ApiError(401, { errors: [{ message: 'signed out', extensions: { code: 'INVALID_CREDENTIALS' } }] });
  refreshing ??= fetch(`${authBase(s)}/auth/refresh`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ refresh_token: s.refresh }),
  })
    .then(async (r) => {
      const body = await r.json().catch(() => ({}));
      if (!r.ok) {
        save(null);
        throw new ApiError(r.status, body);
      }
      save({ ...s, access: body.data.access_token, refresh: body.data.refresh_token });
    })
    .finally(() => (refreshing = null));
  return refreshing;
}

// request calls the API. A 401 with an expired token refreshes once and retries.
export async function request(method, path, body, headers = {}) {
  return send(method, path, body === undefined ? undefined : JSON.stringify(body), 'application/json', headers);
}

// send is request with a body already encoded as type (a YAML changeset file, say).
export async function send(method, path, text, type, headers = {}) {
  for (let attempt = 0; ; attempt++) {
    const s = session();
    const h = { ...headers };
    if (text !== undefined) h['Content-Type'] = type;
    if (s?.access) h.Authorization = `Bearer ${s.access}`;
    const r = await fetch(path, { method, headers: h, body: text });
    if (r.status === 204) return null;
    const raw = await r.text();
    let data = {};
    try {
      data = raw ? JSON.parse(raw) : {};
    } catch {
      data = { raw };
    }
    if (r.ok) return data;
    const err = new ApiError(r.status, data);
    if (r.status === 401 && err.code === 'TOKEN_EXPIRED' && attempt === 0) {
      await refresh();
      continue;
    }
    if (r.status === 401 && attempt > 0) save(null);
    // The tenant requires two-factor of admins and this one has none yet: the account
    // screen sets it up (App sends the admin there).
    if (r.status === 403 && err.code === 'TFA_REQUIRED' && s?.tenant && !s.tfaSetup) save({ ...s, tfaSetup: true });
    throw err;
  }
}

// refusal is an error as a form shows it: the field it names, and its message without
// the field's name in front (it is shown next to that field).
export function refusal(e, field = e.field) {
  const prefix = `${field}: `;
  return { field: field || '', message: field && e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message };
}

// confirmed runs a destructive request: the first answer is the 422 challenge, which
// ask() shows to the user; on yes the request is sent again with the hash and token.
export async function confirmed(method, path, body, ask) {
  try {
    return await request(method, path, body);
  } catch (e) {
    if (!(e instanceof ApiError) || e.code !== 'SCHEMA_CONFIRM_REQUIRED') throw e;
    if (!(await ask(e.details))) return undefined;
    return request(method, path, body, {
      'X-Schema-Confirm-Hash': e.details.requiredConfirmHash,
      'X-Schema-Confirm-Token': e.details.confirmToken,
    });
  }
}

// stream posts and reads server-sent events (replay progress), calling on(event, data).
export async function stream(path, body, on) {
  const s = session();
  const r = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream', Authorization: `Bearer ${s?.access}` },
    body: JSON.stringify(body),
  });
  await events(r, on);
}

// follow reads a GET event stream (a fleet run's progress), calling on(event, data),
// until the server ends it or signal aborts it. EventSource cannot send the token, so
// this is fetch; an expired token is refreshed once.
export async function follow(path, on, signal) {
  for (let attempt = 0; ; attempt++) {
    const r = await fetch(path, { headers: { Accept: 'text/event-stream', Authorization: `Bearer ${session()?.access}` }, signal });
    if (r.status === 401 && attempt === 0) {
      const body = await r.json().catch(() => ({}));
      if (new ApiError(r.status, body).code === 'TOKEN_EXPIRED') {
        await refresh();
        continue;
      }
      throw new ApiError(r.status, body);
    }
    return events(r, on);
  }
}

// events reads an answer as server-sent events; an answer that is not a stream is an
// error, or the whole result at once.
async function events(r, on) {
  if (!(r.headers.get('Content-Type') || '').startsWith('text/event-stream')) {
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new ApiError(r.status, data);
    on('result', data);
    return;
  }
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const chunk = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const ev = /^event: (.*)$/m.exec(chunk)?.[1];
      const data = /^data: (.*)$/m.exec(chunk)?.[1];
      if (ev) on(ev, data ? JSON.parse(data) : null);
    }
  }
}

// socket opens a tenant's realtime websocket as the session's caller.
export function socket(tenant) {
  const s = session();
  const proto = location.protocol === 'https:' ? 'wss' : 'ws';
  const q = s?.access ? `?access_token=${encodeURIComponent(s.access)}` : '';
  return new WebSocket(`${proto}://${location.host}/api/t/${tenant}/websocket${q}`);
}
