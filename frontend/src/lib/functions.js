// What the Functions screen knows of functions: how a trigger reads, and the source a
// new function of each kind starts from.

// trigger says what a function answers or watches: "GET /fn/orders/:id",
// "before create on posts", "*/5 * * * *".
export function trigger(f) {
  if (f.kind === 'endpoint') return `${f.method || 'ANY'} /fn/${f.path || ''}`;
  if (f.kind === 'hook') return `${f.phase} ${f.event} on ${f.table}`;
  if (f.kind === 'schedule') return f.cron || '';
  return '';
}

export const kinds = ['endpoint', 'hook', 'schedule'];
export const methods = ['GET', 'POST', 'PATCH', 'PUT', 'DELETE', 'ANY'];
export const events = ['create', 'update', 'delete'];
export const phases = ['before', 'after'];

// templates are the sources new functions start from, per kind.
export const templates = {
  endpoint: `export default async function (ctx) {
  // ctx.request: method, path, params (the path's :names), query, headers, body.
  ctx.log('called with', ctx.request.params);
  return { hello: ctx.user ? ctx.user.id : 'anonymous' };
}
`,
  hook: `export default async function (ctx) {
  // ctx.event: table, event, keys, payload, previous. A before hook may change
  // ctx.event.payload, or refuse the write: ctx.reject(400, 'INVALID', 'why').
  const { table, event, keys } = ctx.event;
  ctx.log(event, 'on', table, keys);
}
`,
  schedule: `export default async function (ctx) {
  // Runs on its cron schedule (UTC), as its run_as role.
  ctx.log('tick at', new Date().toISOString());
}
`,
};
