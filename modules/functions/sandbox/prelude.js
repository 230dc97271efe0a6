// The ctx a function receives, built in the worker's engine. The outer function runs
// once per engine; `begin` makes each run's ctx. `host` is reachable only from here:
// call(run, name, argsJSON) asks the node and returns its JSON answer (or throws the
// refusal; a run that has ended refuses), log(run, level, message) keeps a line.
(function (host) {
  'use strict';
  const stringify = JSON.stringify, parse = JSON.parse, freeze = Object.freeze, assign = Object.assign;
  const responseTag = Symbol('response'), rejectTag = Symbol('reject');
  const call = (run, name, args) => {
    const out = host.call(run, name, stringify(args));
    return out === undefined ? undefined : parse(out);
  };
  const later = (run, name, args) => new Promise((resolve, reject) => {
    try { resolve(call(run, name, args)); } catch (e) { reject(e); }
  });
  const text = (v) => {
    if (typeof v === 'string') return v;
    if (v instanceof Error) return String(v);
    try { const s = stringify(v); return s === undefined ? String(v) : s; } catch (e) { return String(v); }
  };
  const items = (run, table) => {
    if (typeof table !== 'string') throw new TypeError('ctx.items(table): table must be a string');
    return freeze({
      readMany: (query) => later(run, 'items', { table, op: 'readMany', query: query || {} }),
      readOne: (id, query) => later(run, 'items', { table, op: 'readOne', id: String(id), query: query || {} }),
      createOne: (data) => later(run, 'items', { table, op: 'createOne', data }),
      updateOne: (id, data) => later(run, 'items', { table, op: 'updateOne', id: String(id), data }),
      deleteOne: (id) => later(run, 'items', { table, op: 'deleteOne', id: String(id) }),
    });
  };
  const files = (run) => freeze({
    readMany: (query) => later(run, 'files', { op: 'readMany', query: query || {} }),
    readOne: (id, query) => later(run, 'files', { op: 'readOne', id: String(id), query: query || {} }),
    text: (id) => later(run, 'files', { op: 'text', id: String(id) }),
    base64: (id) => later(run, 'files', { op: 'base64', id: String(id) }),
    upload: (file) => later(run, 'files', { op: 'upload', filename: String((file && file.filename) || 'file'), content: String((file && file.content) || ''),
      encoding: (file && file.encoding) || 'utf8', fields: (file && file.fields) || {} }),
    deleteOne: (id) => later(run, 'files', { op: 'deleteOne', id: String(id) }),
  });
  const fetch = (run, url, init) => later(run, 'fetch', { url: String(url), method: (init && init.method) || 'GET', headers: (init && init.headers) || {}, body: init && init.body !== undefined ? (typeof init.body === 'string' ? init.body : stringify(init.body)) : undefined })
    .then((r) => freeze({
      status: r.status, ok: r.status >= 200 && r.status < 300, url: r.url,
      headers: freeze({ get: (name) => r.headers[String(name).toLowerCase()] ?? null }),
      text: async () => r.body,
      json: async () => parse(r.body),
    }));
  const response = (status, body, headers) => ({ [responseTag]: true, status, body, headers });
  const reject = (status, code, message) => {
    const e = new Error(message === undefined ? String(code) : String(message));
    e[rejectTag] = true; e.status = status; e.code = code;
    throw e;
  };
  // A run's ctx is a small object over one prototype per engine: the functions on it
  // are made when read (destructuring works), so a run that uses few costs little.
  const runTag = Symbol('run');
  const logger = (level) => function () {
    const run = this[runTag];
    return (...args) => host.log(run, level, args.map(text).join(' '));
  };
  const proto = Object.create(Object.prototype, {
    log: { get: logger('log') },
    warn: { get: logger('warn') },
    error: { get: logger('error') },
    items: { get() { const run = this[runTag]; return (table) => items(run, table); } },
    fetch: { get() { const run = this[runTag]; return (url, init) => fetch(run, url, init); } },
    files: { get() { return files(this[runTag]); } },
    response: { value: response },
    reject: { value: reject },
  });
  const noEnv = freeze({});
  return {
    // begin makes one run's ctx from its input.
    begin: (run, input) => {
      const ctx = Object.create(proto);
      Object.defineProperty(ctx, runTag, { value: run });
      ctx.request = input.request ?? null;
      ctx.event = input.event ?? null;
      ctx.user = input.user || null;
      ctx.tenant = input.tenant;
      ctx.input = input.input;
      ctx.env = input.env ? freeze(input.env) : noEnv;
      return ctx;
    },
    // finish turns what the function returned into the outcome's JSON.
    finish: (ctx, trigger, v) => {
      const out = {};
      if (v && v[responseTag]) out.response = { status: v.status, headers: v.headers, body: v.body === undefined ? null : v.body };
      else out.output = v === undefined ? null : v;
      if (trigger === 'hook' && ctx.event) out.payload = ctx.event.payload;
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
