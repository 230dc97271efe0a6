// Webhooks in the UI, as part of run.mjs: a receiver of the walk's own (a node HTTP
// server on 127.0.0.1) that records what it is posted; the allowed hosts set (a bad one
// refused at its field), a webhook refused for a host not allowed, then made for
// posts' creates with a header, its secret shown once; an item created posts one
// delivery whose signature is the HMAC of its body under that secret, seen delivered
// with 200 in the deliveries panel; a 500 seen pending; a 410 seen dead, retried and
// delivered; the webhook deleted through the confirm dialog. The server runs with
// STRATA_WEBHOOKS_PRIVATE=true, so a webhook may post to the loopback host it names.
import http from 'node:http';
import { createHmac } from 'node:crypto';
import { join } from 'node:path';

// startReceiver listens on a free port of 127.0.0.1 and records each request
// ({method, headers, body}); answer is the status it gives, which the walk changes.
export async function startReceiver() {
  const r = { posts: [], answer: 200 };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      r.posts.push({ method: req.method, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(r.answer, { 'Content-Type': 'text/plain' }).end(r.answer < 300 ? 'ok' : 'no');
    });
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  r.port = server.address().port;
  r.close = () => server.close();
  return r;
}

// until retries check (which may act: a refresh) until it is true, or fails after ms.
async function until(what, check, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

// webhookSteps runs after the main walk has made tenant acme with its posts table;
// page is the platform admin's.
export async function webhookSteps({ page, base, shots, step, audit, allowed }) {
  // An item is written through the API as the admin; an expired token is refreshed as
  // the UI would.
  const acme = async (method, path, body, retried) => {
    const s = await page.evaluate(() => JSON.parse(localStorage.getItem('strata.session')));
    const r = await fetch(`${base}/api/t/acme${path}`, { method, headers: { authorization: `Bearer ${s.access}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
    if (r.status === 401 && !retried) {
      const t = await fetch(`${base}/api/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: s.refresh }) });
      if (!t.ok) throw new Error(`refresh: ${t.status} ${await t.text()}`);
      const d = (await t.json()).data;
      await page.evaluate((n) => localStorage.setItem('strata.session', JSON.stringify(n)), { ...s, access: d.access_token, refresh: d.refresh_token });
      return acme(method, path, body, true);
    }
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
    return r.status === 204 ? null : r.json();
  };
  const receiver = await startReceiver();
  try {
    const host = `127.0.0.1:${receiver.port}`;
    step('webhooks: allowed hosts, a webhook with its secret shown once');
    await page.getByRole('navigation', { name: 'Tenant' }).getByRole('link', { name: 'Webhooks' }).click();
    await page.getByRole('heading', { name: 'Webhooks', exact: true, level: 1 }).waitFor();
    await page.getByRole('table', { name: 'Webhooks' }).getByText('No webhooks yet.').waitFor();
    // A host the API refuses is shown at the field.
    const hosts = page.getByLabel(/^Hosts webhooks may post to/);
    await hosts.fill('not a host');
    allowed.push(/status of 400/);
    await page.getByRole('button', { name: 'Save hosts' }).click();
    await page.locator('#webhook-hosts-error').getByText(/"not a host" is not a host/).waitFor();
    allowed.pop();
    if ((await hosts.getAttribute('aria-invalid')) !== 'true') throw new Error('the refused hosts are not marked');
    await hosts.fill(host);
    await page.getByRole('button', { name: 'Save hosts' }).click();
    await page.getByRole('form', { name: 'Allowed hosts' }).getByRole('status').getByText('Saved.').waitFor();
    if ((await hosts.getAttribute('aria-invalid')) === 'true') throw new Error('the saved hosts are still marked');

    // A URL whose host is not allowed: the 403 at the URL field.
    const form = page.getByRole('form', { name: 'Add a webhook' });
    await form.getByLabel('Name', { exact: true }).fill('posts to receiver');
    await form.getByLabel('URL').fill(`http://127.0.0.2:${receiver.port}/hook`);
    await form.getByLabel('posts', { exact: true }).check();
    await form.getByLabel('update', { exact: true }).uncheck();
    await form.getByLabel('delete', { exact: true }).uncheck();
    await form.getByRole('button', { name: '+ Header' }).click();
    await form.getByLabel('Header 1 name').fill('X-Env');
    await form.getByLabel('Header 1 value').fill('e2e');
    allowed.push(/status of 403/);
    await form.getByRole('button', { name: 'Add webhook' }).click();
    await page.locator('#webhook-url-error').getByText(/webhooks may not post to 127\.0\.0\.2:\d+/).waitFor();
    allowed.pop();
    if ((await form.getByLabel('URL').getAttribute('aria-invalid')) !== 'true') throw new Error('the refused URL is not marked');
    await form.getByLabel('URL').fill(`http://${host}/hook`);
    await form.getByRole('button', { name: 'Add webhook' }).click();
    const made = page.getByRole('region', { name: 'New secret' });
    await made.getByText('it is not shown again').waitFor();
    const secret = await made.getByLabel('Secret of posts to receiver').inputValue();
    if (!/^[0-9a-f]{64}$/.test(secret)) throw new Error(`the secret shown: ${secret}`);
    const row = page.getByRole('table', { name: 'Webhooks' }).getByRole('row').filter({ has: page.getByRole('cell', { name: 'posts to receiver', exact: true }) });
    await row.getByRole('cell', { name: 'posts', exact: true }).waitFor();
    await row.getByRole('cell', { name: 'create', exact: true }).waitFor();
    await row.getByRole('cell', { name: 'set', exact: true }).waitFor();
    await row.getByText('1 header').waitFor();
    await audit(page, 'webhooks');

    step('webhooks: a create is posted, signed, and seen delivered with 200');
    const { data: first } = await acme('POST', '/items/posts', { title: 'hooked', views: 1 });
    await until('the first delivery', () => receiver.posts.length >= 1);
    const got = receiver.posts[0];
    const want = 'sha256=' + createHmac('sha256', secret).update(got.body).digest('hex');
    if (got.method !== 'POST' || got.headers['x-strata-signature'] !== want) throw new Error(`the signature ${got.headers['x-strata-signature']}, not ${want}`);
    const body = JSON.parse(got.body);
    if (body.event !== 'create' || body.collection !== 'posts' || JSON.stringify(body.keys.map(String)) !== JSON.stringify([String(first.id)]) || body.payload?.title !== 'hooked')
      throw new Error(`the delivery's body: ${got.body}`);
    if (got.headers['x-env'] !== 'e2e' || got.headers['x-strata-event'] !== 'create' || got.headers['x-strata-delivery'] !== body.delivery)
      throw new Error(`the delivery's headers: ${JSON.stringify(got.headers)}`);
    // The secret was shown once: dismissed, it is not in the page, nor after a reload.
    await made.getByRole('button', { name: 'Done' }).click();
    await made.waitFor({ state: 'detached' });
    await page.reload();
    await row.waitFor();
    if ((await page.content()).includes(secret)) throw new Error('the secret is in the page again');
    await row.getByRole('button', { name: 'Deliveries of posts to receiver' }).click();
    const panel = page.getByRole('region', { name: 'Deliveries of posts to receiver' });
    const log = panel.getByRole('table', { name: 'Deliveries' });
    const delivery = (id) => log.locator(`tr[data-delivery="${id}"]`);
    // seen refreshes the panel until the delivery shows status and response code.
    const seen = (id, status, code) =>
      until(`delivery ${id} ${status} with ${code}`, async () => {
        const r = delivery(id);
        if ((await r.count()) && (await r.locator('td[data-status]').getAttribute('data-status')) === status && (await r.locator('td').nth(6).textContent()).trim() === String(code)) return true;
        await panel.getByRole('button', { name: 'Refresh' }).click();
        return false;
      });
    await seen(body.delivery, 'delivered', 200);
    const firstRow = delivery(body.delivery);
    await firstRow.getByRole('cell', { name: 'create', exact: true }).waitFor();
    await firstRow.getByRole('cell', { name: 'posts', exact: true }).waitFor();
    if ((await firstRow.locator('td').nth(3).textContent()).trim() !== '1') throw new Error('the delivery does not count its one key');

    step('webhooks: a 500 is seen pending; a 410 dead, retried and delivered');
    receiver.answer = 500;
    const { data: second } = await acme('POST', '/items/posts', { title: 'hooked again', views: 2 });
    await until('the second delivery', () => receiver.posts.some((p) => String(JSON.parse(p.body).keys[0]) === String(second.id)));
    const secondID = JSON.parse(receiver.posts.find((p) => String(JSON.parse(p.body).keys[0]) === String(second.id)).body).delivery;
    await seen(secondID, 'pending', 500);
    await delivery(secondID).getByText(/next try/).waitFor();
    if (await delivery(secondID).getByRole('button', { name: /Retry/ }).count()) throw new Error('a pending delivery offers Retry');
    // Another answer than 5xx or 429 is dead at once; Retry queues it again.
    receiver.answer = 410;
    const { data: third } = await acme('POST', '/items/posts', { title: 'hooked a third time', views: 3 });
    await until('the third delivery', () => receiver.posts.some((p) => String(JSON.parse(p.body).keys[0]) === String(third.id)));
    const thirdID = JSON.parse(receiver.posts.find((p) => String(JSON.parse(p.body).keys[0]) === String(third.id)).body).delivery;
    await seen(thirdID, 'dead', 410);
    // The status filter keeps the dead ones.
    await panel.getByLabel('Status').selectOption('dead');
    await delivery(body.delivery).waitFor({ state: 'detached' });
    await delivery(thirdID).waitFor();
    await page.screenshot({ path: join(shots, 'webhooks.png'), fullPage: true });
    await audit(page, 'webhook deliveries');
    receiver.answer = 200;
    await delivery(thirdID).getByRole('button', { name: `Retry delivery ${thirdID.slice(0, 8)}` }).click();
    await panel.getByRole('status').getByText(/is queued again/).waitFor();
    await panel.getByLabel('Status').selectOption('');
    await seen(thirdID, 'delivered', 200);

    step('webhooks: deleted through the confirm dialog');
    await row.getByRole('button', { name: 'Delete webhook posts to receiver' }).click();
    await page.getByRole('heading', { name: 'Delete webhook posts to receiver?' }).waitFor();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    await row.waitFor();
    await row.getByRole('button', { name: 'Delete webhook posts to receiver' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('table', { name: 'Webhooks' }).getByText('No webhooks yet.').waitFor();
    await panel.waitFor({ state: 'detached' });
  } finally {
    receiver.close();
  }
}
