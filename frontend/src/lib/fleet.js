// Helpers of the fleet screen: tag lists, run statuses, what a run was asked to do.

// tagList reads "key=value" tags written one per line or separated by commas (a value
// may hold spaces, so spaces do not separate).
export function tagList(text) {
  return (text || '').split(/[,\n]/).map((t) => t.trim()).filter(Boolean);
}

// tagMap reads a tenant's tags as an object; a tag without "=" is an error.
export function tagMap(text) {
  const out = {};
  for (const t of tagList(text)) {
    const i = t.indexOf('=');
    if (i < 1) throw new Error(`"${t}" is not key=value`);
    out[t.slice(0, i).trim()] = t.slice(i + 1).trim();
  }
  return out;
}

// tagText writes a tenant's tags as the editor shows them.
export function tagText(tags) {
  return Object.entries(tags || {}).map(([k, v]) => `${k}=${v}`).join(', ');
}

// ended reports whether a run with status has ended.
export const ended = (status) => status === 'completed' || status === 'failed' || status === 'cancelled';

// settled reports whether a result is final (not waiting, not under way).
export const settled = (status) => status !== 'queued' && status !== 'running';

// countBy counts results by status, in a stable order.
const order = ['queued', 'running', 'planned', 'applied', 'skipped', 'pending_approval', 'failed', 'not_run'];
export function countBy(results) {
  const c = {};
  for (const r of results || []) c[r.status] = (c[r.status] || 0) + 1;
  return c;
}
export function countText(counts) {
  if (!counts) return '';
  const keys = Object.keys(counts).sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));
  return keys.map((k) => `${counts[k]} ${k.replaceAll('_', ' ')}`).join(' · ');
}

// describe says in a line what a run was asked to do.
export function describe(req) {
  if (!req) return '';
  const sets = [...(req.changesets || []), ...(req.changeset_tags || []).map((t) => `tag ${t}`)].join(', ');
  const tenants = req.all_tenants ? 'all tenants' : [...(req.tenants || []), ...(req.tenant_tags || []).map((t) => `tag ${t}`)].join(', ');
  const opts = [];
  if (req.no_deps) opts.push('no dependencies');
  if (req.canary) opts.push(`canary ${req.canary}`);
  if (req.max_failures != null) opts.push(`max failures ${req.max_failures}`);
  if (req.concurrency) opts.push(`concurrency ${req.concurrency}`);
  return `${sets || '—'} → ${tenants || '—'}${opts.length ? ` (${opts.join(', ')})` : ''}`;
}
