// The ctx a function receives, built in the worker's engine for each run. `host` is
// reachable only from here: call(name, argsJSON) asks the node and returns its JSON
// answer (or throws the refusal); log(level, message) keeps a line.
(function (host, input) {
  'use strict';
  const stringify = JSON.stringify, parse = JSON.parse;
  const responseTag = Symbol('response'), rejectTag = Symbol('reject');
  const call = (name, args) => {
    const out = host.call(name, stringify(args));
    return out === undefined ? undefined : parse(out);
  };
  const later = (name, args) => new Promise((resolve, reject) => {
    try { resolve(call(name, args)); } catch (e) { reject(e); }
  });
  const text = (v) => {
    if (typeof v === 'string') return v;
    if (v instanceof Error) return String(v);
    try { const s = stringify(v); return s === undefined ? String(v) : s; } catch (e) { return String(v); }
  };
  const logger = (level) => (...args) => { host.log(level, args.map(text).join(' ')); };
  const items = (table) => {
    if (typeof table !== 'string') throw new TypeError('ctx.items(table): table must be a string');
    return Object.freeze({
      readMany: (query) => later('items', { table, op: 'readMany', query: query || {} }),
      readOne: (id, query) => later('items', { table, op: 'readOne', id: String(id), query: query || {} }),
      createOne: (data) => later('items', { table, op: 'createOne', data }),
      updateOne: (id, data) => later('items', { table, op: 'updateOne', id: String(id), data }),
      deleteOne: (id) => later('items', { table, op: 'deleteOne', id: String(id) }),
    });
  };
  const fetch = (url, init) => later('fetch', { url: String(url), method: (init && init.method) || 'GET', headers: (init && init.headers) || {}, body: init && init.body !== undefined ? (typeof init.body === 'string' ? init.body : stringify(init.body)) : undefined })
    .then((r) => Object.freeze({
      status: r.status, ok: r.status >= 200 && r.status < 300, url: r.url,
      headers: Object.freeze({ get: (name) => r.headers[String(name).toLowerCase()] ?? null }),
      text: async () => r.body,
      json: async () => parse(r.body),
    }));
  const files = Object.freeze({
    readMany: (query) => later('files', { op: 'readMany', query: query || {} }),
    readOne: (id, query) => later('files', { op: 'readOne', id: String(id), query: query || {} }),
    text: (id) => later('files', { op: 'text', id: String(id) }),
    base64: (id) => later('files', { op: 'base64', id: String(id) }),
    upload: (file) => later('files', { op: 'upload', filename: String((file && file.filename) || 'file'), content: String((file && file.content) || ''),
      encoding: (file && file.encoding) || 'utf8', fields: (file && file.fields) || {} }),
    deleteOne: (id) => later('files', { op: 'deleteOne', id: String(id) }),
  });
  const ctx = {
    request: input.request,
    event: input.event,
    user: input.user || null,
    tenant: input.tenant,
    input: input.input,
    env: Object.freeze(Object.assign({}, input.env || {})),
    log: logger('log'), warn: logger('warn'), error: logger('error'),
    items, fetch, files,
    response: (status, body, headers) => ({ [responseTag]: true, status, body, headers }),
    reject: (status, code, message) => {
      const e = new Error(message === undefined ? String(code) : String(message));
      e[rejectTag] = true; e.status = status; e.code = code;
      throw e;
    },
  };
  return {
    ctx,
    // finish turns what the function returned into the outcome's JSON.
    finish: (v) => {
      const out = {};
      if (v && v[responseTag]) out.response = { status: v.status, headers: v.headers, body: v.body === undefined ? null : v.body };
      else out.output = v === undefined ? null : v;
      if (input.trigger === 'hook' && ctx.event) out.payload = ctx.event.payload;
      return stringify(out);
    },
    // describe names a thrown value: its message, and the refusal ctx.reject chose.
    describe: (e) => {
      const out = { message: e instanceof Error ? String(e.message) : text(e) };
      if (e && e[rejectTag]) out.reject = { status: Number(e.status), code: String(e.code), message: String(e.message) };
      return stringify(out);
    },
  };
})
