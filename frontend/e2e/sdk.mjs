// Directus's own JS SDK against Strata, unmodified: what a client developer meets.
//
//   node e2e/sdk.mjs            (builds and starts a Strata of its own on SQLite)
//
// 1. Realtime: a subscription consumed with the documented `for await` loop sees every
//    row of 50 rows created at once (the SDK takes one message per wait, so frames that
//    land in one socket read were lost to it).
// 2. REST: readItems with fields, sort, aggregate and groupBy answer as Directus does.
// Any failure exits non-zero.
import { createDirectus, rest, realtime, staticToken, readItems, aggregate } from '@directus/sdk';
import { WebSocket as NodeWebSocket } from 'ws';
import { startStrata } from './server.mjs';

// Node 22 has a WebSocket of its own; before it, the SDK's documented way is `ws`. Both
// hand every frame of one socket read to their listeners in a row, as browsers do.
const WebSocketImpl = globalThis.WebSocket ?? NodeWebSocket;

const password = 'Sdk-pass-123!';
const { base, port, stop } = await startStrata(password, 'strata-sdk-');

const fail = (msg) => {
  throw new Error(msg);
};

async function call(method, path, body, token) {
  const res = await fetch(base + path, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) fail(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

let code = 0;
try {
  const token = (await call('POST', '/api/auth/login', { email: 'admin@example.com', password })).data.access_token;
  await call('POST', '/api/tenants', { slug: 'sdk' }, token);
  await call('POST', '/api/t/sdk/tables', {
    name: 'posts',
    columns: [
      { name: 'title', type: 'string' },
      { name: 'views', type: 'integer' },
      { name: 'published', type: 'boolean' },
    ],
  }, token);

  // The tenant's API is its own base; the websocket is under it (the SDK's default is
  // /websocket at the host's root, so the url is given).
  const client = createDirectus(`${base}/api/t/sdk`, { globals: { WebSocket: WebSocketImpl } })
    .with(staticToken(token))
    .with(rest())
    .with(realtime({ url: `ws://127.0.0.1:${port}/api/t/sdk/websocket`, authMode: 'handshake' }));

  // 1. Every row of a burst reaches a for-await loop.
  await client.connect();
  const { subscription, unsubscribe } = await client.subscribe('posts', { event: 'create', query: { fields: ['id', 'title'] } });
  const seen = new Set();
  const total = 50;
  const consumed = (async () => {
    for await (const m of subscription) {
      if (m.event === 'init') continue;
      for (const row of m.data) seen.add(row.title);
      if (seen.size >= total) return;
    }
  })();
  // The subscription is confirmed by its init message before the burst starts.
  await new Promise((r) => setTimeout(r, 300));
  await Promise.all(
    Array.from({ length: total }, (_, i) =>
      call('POST', '/api/t/sdk/items/posts', { title: `p${i}`, views: i * 10, published: i % 2 === 0 }, token)),
  );
  const timeout = new Promise((r) => setTimeout(r, 10000, 'timeout'));
  if ((await Promise.race([consumed, timeout])) === 'timeout') {
    fail(`realtime: the SDK's for-await loop saw ${seen.size} of ${total} created rows`);
  }
  unsubscribe();
  client.disconnect();
  console.log(`realtime: the SDK saw all ${total} rows of a burst`);

  // 2. REST queries as the SDK writes them.
  const top = await client.request(readItems('posts', { fields: ['title', 'views'], sort: ['-views'], limit: 3 }));
  if (JSON.stringify(top) !== JSON.stringify([{ title: 'p49', views: 490 }, { title: 'p48', views: 480 }, { title: 'p47', views: 470 }])) {
    fail(`readItems: ${JSON.stringify(top)}`);
  }
  const sums = await client.request(aggregate('posts', { aggregate: { sum: 'views', count: '*' }, groupBy: ['published'] }));
  const byPublished = Object.fromEntries(sums.map((g) => [String(g.published), g]));
  if (Number(byPublished.true?.sum?.views) !== 6000 || Number(byPublished.false?.sum?.views) !== 6250 || Number(byPublished.true?.count) !== 25) {
    fail(`aggregate with groupBy: ${JSON.stringify(sums)}`);
  }
  console.log('rest: readItems and aggregate with groupBy answer as Directus does');
} catch (e) {
  console.error(e);
  code = 1;
} finally {
  stop();
}
process.exit(code);
