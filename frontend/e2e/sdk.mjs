// Directus's own JS SDK against Strata, unmodified: what a client developer meets.
//
//   node e2e/sdk.mjs            (builds and starts a Strata of its own on SQLite)
//
// 1. Realtime: a subscription consumed with the documented `for await` loop sees every
//    row of 50 rows created at once (the SDK takes one message per wait, so frames that
//    land in one socket read were lost to it).
// 2. REST: readItems with fields, sort, aggregate and groupBy answer as Directus does.
// 3. Files: uploadFiles, readFiles, readAssetRaw (with a transformation) and deleteFile.
// 4. Resumable uploads: tus-js-client uploads in chunks to /files/tus, is stopped after
//    its first chunk, and resumes from where the server says.
// Any failure exits non-zero.
import {
  createDirectus, rest, realtime, staticToken, readItems, aggregate, uploadFiles, readFiles, readAssetRaw, deleteFile,
} from '@directus/sdk';
import { WebSocket as NodeWebSocket } from 'ws';
import * as tus from 'tus-js-client';
import { randomBytes } from 'node:crypto';
import { startStrata } from './server.mjs';
import { PNG_40x30 } from './fixtures.mjs';

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

  // 3. Files, as the SDK's docs upload them: a FormData with the fields before the file.
  const picture = Buffer.from(PNG_40x30, 'base64');
  const form = new FormData();
  form.append('title', 'A picture');
  form.append('file', new Blob([picture], { type: 'image/png' }), 'picture.png');
  const uploaded = await client.request(uploadFiles(form));
  if (uploaded?.title !== 'A picture' || uploaded.type !== 'image/png' || uploaded.width !== 40 || uploaded.height !== 30 || uploaded.filesize !== picture.length) {
    fail(`uploadFiles: ${JSON.stringify(uploaded)}`);
  }
  const listed = await client.request(readFiles({ fields: ['id', 'filename_download'], filter: { type: { _starts_with: 'image/' } } }));
  if (listed.length !== 1 || listed[0].id !== uploaded.id || listed[0].filename_download !== 'picture.png') {
    fail(`readFiles: ${JSON.stringify(listed)}`);
  }
  const bytesOf = async (stream) => Buffer.from(await new Response(stream).arrayBuffer());
  const original = await bytesOf(await client.request(readAssetRaw(uploaded.id)));
  if (!original.equals(picture)) fail(`readAssetRaw: ${original.length} bytes, not the ${picture.length} uploaded`);
  const thumb = await bytesOf(await client.request(readAssetRaw(uploaded.id, { width: 20, height: 10, fit: 'cover', format: 'png' })));
  // A PNG's width and height are the big-endian words at bytes 16 and 20.
  if (thumb.readUInt32BE(16) !== 20 || thumb.readUInt32BE(20) !== 10) {
    fail(`readAssetRaw with a transformation: ${thumb.readUInt32BE(16)}×${thumb.readUInt32BE(20)}, want 20×10`);
  }
  await client.request(deleteFile(uploaded.id));
  if ((await client.request(readFiles({ fields: ['id'] }))).length !== 0) fail('deleteFile: the file is still listed');
  console.log('files: uploadFiles, readFiles, readAssetRaw with a transformation and deleteFile work unmodified');

  // 4. A resumable upload, stopped after its first chunk and resumed by a new client.
  // Binary bytes: the SDK reads text/plain answers as text before readAssetRaw sees them.
  const big = randomBytes(300 * 1024);
  const options = {
    endpoint: `${base}/api/t/sdk/files/tus`,
    chunkSize: 64 * 1024,
    metadata: { filename: 'resumed.bin', title: 'Resumed' },
    headers: { authorization: `Bearer ${token}` },
    retryDelays: null,
  };
  const firstURL = await new Promise((resolve, reject) => {
    const up = new tus.Upload(big, {
      ...options,
      onError: reject,
      onChunkComplete: (_chunk, sent) => {
        if (sent >= 64 * 1024) up.abort().then(() => resolve(up.url), reject);
      },
    });
    up.start();
  });
  let fileID = '';
  let resumedFrom = -1;
  await new Promise((resolve, reject) => {
    const up = new tus.Upload(big, {
      ...options,
      uploadUrl: firstURL,
      onError: reject,
      onSuccess: resolve,
      onAfterResponse: (req, res) => {
        if (req.getMethod() === 'HEAD') resumedFrom = Number(res.getHeader('Upload-Offset'));
        fileID = res.getHeader('Strata-File-Id') || fileID;
      },
    });
    up.start();
  });
  if (resumedFrom < 64 * 1024 || resumedFrom >= big.length) fail(`tus: resumed from ${resumedFrom}`);
  if (!fileID) fail('tus: the completing answer named no file');
  const resumed = await bytesOf(await client.request(readAssetRaw(fileID)));
  if (!resumed.equals(big)) fail(`tus: the file has ${resumed.length} bytes, not the ${big.length} sent`);
  console.log(`tus: tus-js-client stopped after its first chunk and resumed from byte ${resumedFrom}; the file is whole`);
} catch (e) {
  console.error(e);
  code = 1;
} finally {
  stop();
}
process.exit(code);
