// End-to-end test of the UI in Debian's Chromium, driven by playwright-core.
//
//   node e2e/run.mjs            (builds and starts a Strata of its own on SQLite)
//
// It signs in, creates a tenant, designs a table with three columns, adds two rows in
// the grid, watches the migrations arrive live, drops a column through the confirm
// dialog, rolls the drop back, and makes a sandbox; then a tenant user who is not an
// admin signs in to the data app their role allows; the file library; a function
// written, refused at its line, fixed, run, called and seen in its run log, and a
// secret; the fleet: tenants tagged, changesets registered, a dry run before each run,
// and the runs' per-tenant results live; the auth flows: the mail server, its test and
// templates and the sign-in policy set on the Access screen, an admin held to two-factor
// setting it up on the account screen and signing in with a code (and a recovery code),
// sessions ended, a password reset and an invite by their mailed links (caught by an
// SMTP catcher of its own), an email verification, and sign-in with an OpenID Connect
// provider of its own (e2e/auth.mjs); a row's history in the row editor, restored, and
// turned off on the Tables screen; webhooks posted to a receiver of the walk's own,
// signed, and their deliveries seen in the UI (e2e/webhooks.mjs); a CSV imported all or
// nothing (refused, its bad rows named) and partial, with its progress, and the table
// exported (e2e/transfer.mjs). Screenshots go to docs/screenshots.
// Any console error fails the run.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { root, startStrata, startMockOIDC } from './server.mjs';
import { PNG_40x30 } from './fixtures.mjs';
import { startMailCatcher } from './mail.mjs';
import { authSteps } from './auth.mjs';
import { webhookSteps } from './webhooks.mjs';
import { transferSteps } from './transfer.mjs';

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

const shots = join(root, 'docs/screenshots');
mkdirSync(shots, { recursive: true });

const password = 'E2e-pass-123!';
// Mail goes to a catcher of the walk's own, and its links to this server; provider
// sign-in to an OpenID Connect provider of its own (scripts/mockoidc) on 127.0.0.1.
const catcher = await startMailCatcher();
const oidc = await startMockOIDC().catch((e) => {
  catcher.close();
  throw e;
});
const strata = await startStrata(password, 'strata-e2e-', (port) => ({
  STRATA_SMTP_HOST: '127.0.0.1', STRATA_SMTP_PORT: String(catcher.port), STRATA_SMTP_SECURITY: 'none',
  STRATA_SMTP_FROM: 'strata@example.com', STRATA_SMTP_PRIVATE: 'true', STRATA_PUBLIC_URL: `http://127.0.0.1:${port}`,
  STRATA_OIDC_PRIVATE: 'true', STRATA_WEBHOOKS_PRIVATE: 'true',
})).catch((e) => {
  catcher.close();
  oidc.stop();
  throw e;
});
const { base } = strata;
const stop = () => {
  strata.stop();
  catcher.close();
  oidc.stop();
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
}).catch((e) => {
  stop(); // a server left running would hold the caller's pipe open
  throw e;
});
const errors = [];
let failed = false;
try {
  // One context: the live page shares the signed-in session (localStorage).
  // A zone other than UTC, so the date editors' conversion to UTC is seen to work.
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, timezoneId: 'Europe/Berlin' });
  const page = await context.newPage();
  // A destructive change's first answer is the contract's 422 confirm challenge, which
  // Chromium reports as a failed load; anything else in the console fails the run.
  // Steps that provoke a refusal on purpose allow its status for their duration.
  const allowed = [/status of 422/];
  const consoleError = (m) => m.type() === 'error' && !allowed.some((re) => re.test(m.text())) && errors.push(m.text());
  page.on('console', consoleError);
  page.on('pageerror', (e) => errors.push(String(e)));
  const step = (name) => console.log(`e2e: ${name}`);
  // audit runs axe-core's WCAG 2 A/AA rules on what the page shows: labelled
  // controls, names, roles, contrast. A serious or critical finding fails the run.
  const audited = [];
  const audit = async (p, screen) => {
    await p.addScriptTag({ path: axePath });
    const found = await p.evaluate(async () => {
      const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } });
      return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join('; ')})`);
    });
    if (found.length) throw new Error(`accessibility, ${screen}:\n${found.join('\n')}`);
    audited.push(screen);
  };

  step('sign in');
  await page.goto(base + '/');
  await page.getByLabel('Password').fill(password);
  await page.screenshot({ path: join(shots, 'login.png') });
  await audit(page, 'sign-in');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Tenants' }).waitFor();

  step('create a tenant');
  await page.getByLabel('Slug').fill('acme');
  await page.getByRole('button', { name: 'Create tenant' }).click();
  await page.getByRole('link', { name: 'acme' }).click();
  await page.screenshot({ path: join(shots, 'tenants.png') });
  await audit(page, 'tables (empty)');

  step('design a table with three columns');
  await page.getByLabel('Name', { exact: true }).fill('posts');
  await page.locator('input[name="column-0-name"]').fill('title');
  await page.getByRole('button', { name: '+ Column' }).click();
  // A name the API refuses is shown next to its column's field.
  await page.locator('input[name="column-1-name"]').fill('Views Count');
  allowed.push(/status of 400/);
  await page.getByRole('button', { name: 'Preview SQL' }).click();
  await page.locator('#column-1-name-error').waitFor();
  allowed.pop();
  if ((await page.locator('input[name="column-1-name"]').getAttribute('aria-invalid')) !== 'true') throw new Error('the refused column name is not marked');
  await page.locator('input[name="column-1-name"]').fill('views');
  await page.locator('select[name="column-1-type"]').selectOption('integer');
  await page.getByRole('button', { name: '+ Column' }).click();
  await page.locator('input[name="column-2-name"]').fill('body');
  await page.locator('select[name="column-2-type"]').selectOption('text');
  await page.getByRole('button', { name: 'Preview SQL' }).click();
  await page.getByLabel('Planned SQL').waitFor();
  await page.screenshot({ path: join(shots, 'designer.png') });
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.getByRole('heading', { name: 'posts' }).waitFor();

  step('watch migrations live');
  const live = await context.newPage();
  live.on('console', consoleError);
  live.on('pageerror', (e) => errors.push(String(e)));
  await live.goto(base + '/#/t/acme/migrations');
  await live.getByText('● live').waitFor();
  const executedBefore = await live.locator('td[data-status="executed"]').count();

  step('add two rows in the grid');
  await page.getByRole('link', { name: 'Open data' }).click();
  for (const [title, views] of [['first', '10'], ['second', '20']]) {
    await page.locator('input[name="new-title"]').fill(title);
    await page.locator('input[name="new-views"]').fill(views);
    await page.getByRole('button', { name: 'Add row' }).click();
    await page.getByRole('cell', { name: title, exact: true }).waitFor();
  }
  // A value the API refuses is shown next to its field.
  allowed.push(/status of 400/);
  await page.locator('input[name="new-views"]').fill('99999999999');
  await page.getByRole('button', { name: 'Add row' }).click();
  await page.locator('#new-views-error').waitFor();
  allowed.pop();
  if ((await page.locator('input[name="new-views"]').getAttribute('aria-invalid')) !== 'true') throw new Error('the refused field is not marked');
  await page.locator('input[name="new-views"]').fill('');
  // The filter builder: views > 15 leaves the second row only.
  const filterForm = page.getByRole('form', { name: 'Filter' });
  await filterForm.getByRole('button', { name: '+ Condition' }).click();
  await filterForm.locator('select[name="filter-0-column"]').selectOption('views');
  await filterForm.locator('select[name="filter-0-op"]').selectOption({ label: '>' });
  await filterForm.locator('input[name="filter-0-value"]').fill('15');
  await filterForm.getByRole('button', { name: 'Apply', exact: true }).click();
  await page.getByRole('cell', { name: 'first', exact: true }).waitFor({ state: 'detached' });
  await page.getByRole('cell', { name: 'second', exact: true }).waitFor();
  await page.screenshot({ path: join(shots, 'data.png') });
  await filterForm.getByRole('button', { name: 'Clear' }).click();
  await page.getByRole('cell', { name: 'first', exact: true }).waitFor();
  await audit(page, 'data grid');
  // Deleting a row asks first; cancelled, the row stays.
  await page.locator('input[name="new-title"]').fill('third');
  await page.getByRole('button', { name: 'Add row' }).click();
  const third = page.locator('tr', { has: page.getByRole('cell', { name: 'third', exact: true }) });
  await third.getByRole('button', { name: 'Delete row' }).click();
  await page.getByRole('heading', { name: 'Delete this row of posts?' }).waitFor();
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
  await page.getByRole('cell', { name: 'third', exact: true }).waitFor();
  await third.getByRole('button', { name: 'Delete row' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('cell', { name: 'third', exact: true }).waitFor({ state: 'detached' });

  step('add a column: two executed migrations appear live');
  await page.goto(base + '/#/t/acme/tables/posts');
  const addColumn = page.getByRole('form', { name: 'Add a column' });
  for (const name of ['rating', 'score']) {
    await addColumn.locator('input[name="new-column-name"]').fill(name);
    await addColumn.locator('select[name="new-column-type"]').selectOption('integer');
    await addColumn.getByRole('button', { name: 'Preview SQL' }).click();
    await addColumn.getByLabel('Planned SQL').waitFor();
    await addColumn.getByRole('button', { name: 'Apply' }).click();
    await page.getByRole('cell', { name, exact: true }).waitFor();
  }
  await live.waitForFunction((n) => document.querySelectorAll('td[data-status="executed"]').length >= n + 2, executedBefore, { timeout: 10000 });
  await live.getByRole('cell', { name: 'admin@example.com' }).first().waitFor(); // who made them
  await live.screenshot({ path: join(shots, 'migrations.png') });
  await audit(live, 'migrations');

  step('an index and a permission rule');
  const addIndex = page.getByRole('form', { name: 'Add an index' });
  await addIndex.getByLabel('Columns').selectOption(['views']);
  await addIndex.getByRole('button', { name: 'Preview SQL' }).click();
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.getByText('posts_views_idx').or(page.getByText(/views\)/)).first().waitFor();
  const addPerm = page.getByRole('form', { name: 'Add a permission' });
  await addPerm.getByLabel('Role').selectOption({ label: 'public' });
  await addPerm.getByRole('button', { name: 'Add rule' }).click();
  await page.getByRole('table', { name: 'Permission rules' }).getByRole('cell', { name: 'public' }).waitFor();
  await page.screenshot({ path: join(shots, 'table.png'), fullPage: true });
  await audit(page, 'table designer');

  step('the API page');
  await page.goto(base + '/#/t/acme/api');
  await page.getByRole('heading', { name: 'OpenAPI' }).waitFor();
  await page.getByRole('cell', { name: '/items/posts' }).first().waitFor();
  await page.screenshot({ path: join(shots, 'api.png'), fullPage: true });
  await audit(page, 'API');
  await page.goto(base + '/#/t/acme/tables/posts');
  await page.getByRole('heading', { name: 'posts' }).waitFor();

  step('rename a column in place');
  await page.getByRole('button', { name: 'Rename column score' }).click();
  await page.getByLabel('New name for score').fill('stars');
  await page.getByRole('button', { name: 'Save' }).click();
  // A rename shows its SQL before it is applied.
  await page.getByRole('heading', { name: 'Rename column posts.score to stars' }).waitFor();
  if (!(await page.locator('dialog pre').first().textContent()).includes('stars')) throw new Error('the rename preview shows no SQL');
  await page.getByRole('dialog').getByRole('button', { name: 'Apply' }).click();
  await page.getByRole('cell', { name: 'stars', exact: true }).waitFor();

  step('edit a column: a default and an index, then a narrowing through the confirm dialog');
  await page.getByRole('button', { name: 'Edit column views' }).click();
  let alter = page.getByRole('form', { name: 'Edit column views' });
  await alter.getByLabel('Default').fill('0');
  await alter.getByLabel('indexed').check();
  await alter.getByRole('button', { name: 'Preview SQL' }).click();
  await alter.getByLabel('Planned SQL').waitFor();
  await alter.getByRole('button', { name: 'Apply' }).click();
  await page.getByRole('cell', { name: /^integer\s= 0$/ }).waitFor();
  await page.getByRole('button', { name: 'Edit column title' }).click();
  alter = page.getByRole('form', { name: 'Edit column title' });
  await alter.getByLabel('Length').fill('100');
  await alter.getByRole('button', { name: 'Preview SQL' }).click();
  await alter.getByLabel('Planned SQL').waitFor();
  await alter.getByRole('button', { name: 'Apply' }).click();
  await page.getByRole('heading', { name: 'Confirm a destructive change' }).waitFor();
  await page.getByRole('button', { name: 'Yes, apply it' }).click();
  await page.getByRole('cell', { name: 'string(100)' }).waitFor();

  step('drop a column through the confirm dialog');
  await page.getByRole('button', { name: 'Drop column body' }).click();
  await page.getByRole('heading', { name: 'Confirm a destructive change' }).waitFor();
  await page.screenshot({ path: join(shots, 'confirm.png') });
  await page.getByRole('button', { name: 'Yes, apply it' }).click();
  await page.getByRole('button', { name: 'Drop column body' }).waitFor({ state: 'detached' });
  await page.goto(base + '/#/t/acme/data/posts');
  await page.getByRole('cell', { name: 'first', exact: true }).waitFor();
  if (await page.getByRole('columnheader', { name: 'body' }).count()) throw new Error('the grid still shows the dropped column');

  step('roll the drop back and see the data again');
  await live.reload();
  await live.getByText('● live').waitFor();
  const dropRow = live.locator('tr', { hasText: 'drop column posts.body' });
  await dropRow.getByRole('button', { name: /Roll back/ }).click();
  // The rollback shows the SQL it will run first.
  await live.getByRole('heading', { name: /^Roll back migration \d+$/ }).waitFor();
  await live.getByRole('dialog').locator('pre').first().waitFor();
  await live.getByRole('dialog').getByRole('button', { name: 'Roll back' }).click();
  const dialog = live.getByRole('heading', { name: 'Confirm a destructive change' });
  if (await dialog.isVisible().catch(() => false)) await live.getByRole('button', { name: 'Yes, apply it' }).click();
  await live.locator('td[data-status="rolled_back"]').first().waitFor();
  await page.reload();
  await page.getByRole('columnheader', { name: 'body' }).waitFor();

  step('create a sandbox and see the same tables');
  await page.goto(base + '/#/');
  await page.getByRole('button', { name: 'Sandbox…' }).first().click();
  await page.getByLabel('New tenant').fill('acme-sandbox');
  await page.getByRole('button', { name: 'Create sandbox' }).click();
  await page.getByText(/done/).waitFor();
  // The list marks the sandbox with its source, and the finished replay links to it.
  await page.locator('tr', { hasText: 'acme-sandbox' }).getByText('sandbox of').waitFor();
  await page.locator('tr', { hasText: 'acme-sandbox' }).getByRole('link', { name: 'acme', exact: true }).waitFor();
  await page.screenshot({ path: join(shots, 'sandbox.png') });
  await audit(page, 'tenants');
  await page.getByRole('link', { name: 'Open acme-sandbox' }).click();
  await page.getByRole('link', { name: 'posts' }).waitFor();

  step('a relation with a row picker, and a replay into the existing sandbox');
  await page.goto(base + '/#/t/acme/tables');
  await page.getByLabel('Name', { exact: true }).fill('authors');
  await page.locator('input[name="column-0-name"]').fill('name');
  await page.getByRole('button', { name: 'Preview SQL' }).click();
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.getByRole('heading', { name: 'authors' }).waitFor();
  await page.goto(base + '/#/t/acme/data/authors');
  await page.locator('input[name="new-name"]').fill('Ann');
  await page.getByRole('button', { name: 'Add row' }).click();
  await page.getByRole('cell', { name: 'Ann', exact: true }).waitFor();
  await page.goto(base + '/#/t/acme/tables/posts');
  const addRelation = page.getByRole('form', { name: 'Add a relation' });
  await addRelation.getByLabel('Field', { exact: true }).fill('author');
  await addRelation.getByLabel('Target').selectOption('authors');
  await addRelation.getByRole('button', { name: 'Preview SQL' }).click();
  await addRelation.getByRole('button', { name: 'Apply' }).click();
  await page.getByText('posts.author → authors').waitFor();
  await page.goto(base + '/#/t/acme/data/posts');
  await page.locator('input[name="new-title"]').fill('by Ann');
  await page.locator('select[name="new-author"]').selectOption({ label: 'Ann' });
  await page.getByRole('button', { name: 'Add row' }).click();
  await page.getByRole('cell', { name: 'by Ann', exact: true }).waitFor();
  // The relation shows the related row's display value, not its key.
  const byAnn = page.locator('tr', { has: page.getByRole('cell', { name: 'by Ann', exact: true }) });
  await byAnn.getByRole('cell', { name: 'Ann', exact: true }).waitFor();
  // System columns are hidden until chosen.
  if (await page.getByRole('columnheader', { name: 'created_at' }).count()) throw new Error('the grid shows created_at unasked');
  await page.getByText('Columns', { exact: true }).click();
  await page.getByRole('checkbox', { name: 'created_at' }).check();
  await page.getByRole('columnheader', { name: 'created_at' }).waitFor();
  await page.getByRole('checkbox', { name: 'created_at' }).uncheck();
  await page.getByRole('columnheader', { name: 'created_at' }).waitFor({ state: 'detached' });
  await page.getByText('Columns', { exact: true }).click();

  step('a display template names the related row; the key column belongs to its relation');
  await page.goto(base + '/#/t/acme/tables/authors');
  const tplForm = page.getByRole('form', { name: 'Display template' });
  await tplForm.getByLabel(/Display template/).fill('{{nmae}}');
  allowed.push(/status of 400/);
  await tplForm.getByRole('button', { name: 'Set template' }).click();
  await page.locator('#display-template-error').waitFor();
  allowed.pop();
  await tplForm.getByLabel(/Display template/).fill('{{name}} (author)');
  await tplForm.getByRole('button', { name: 'Set template' }).click();
  await tplForm.getByRole('status').waitFor();
  await page.goto(base + '/#/t/acme/tables/posts');
  await page.getByText(/key → authors/).waitFor();
  if (await page.getByRole('button', { name: 'Edit column author' }).count()) throw new Error('the relation key offers a column edit the API refuses');
  await page.goto(base + '/#/t/acme/data/posts');
  await byAnn.getByRole('cell', { name: 'Ann (author)', exact: true }).waitFor();

  step('a many-to-many picker, JSON and date editors in the row editor, a cell edited by keyboard');
  await page.goto(base + '/#/t/acme/tables/posts');
  await addRelation.getByLabel('Field', { exact: true }).fill('readers');
  await addRelation.getByLabel('Kind').selectOption('many_to_many');
  await addRelation.getByLabel('Target').selectOption('authors');
  await addRelation.getByRole('button', { name: 'Preview SQL' }).click();
  await addRelation.getByRole('button', { name: 'Apply' }).click();
  await page.getByText('posts.readers → authors').waitFor();
  for (const [name, type] of [['meta', 'json'], ['published', 'datetime']]) {
    await addColumn.locator('input[name="new-column-name"]').fill(name);
    await addColumn.locator('select[name="new-column-type"]').selectOption(type);
    await addColumn.getByRole('button', { name: 'Preview SQL' }).click();
    await addColumn.getByLabel('Planned SQL').waitFor();
    await addColumn.getByRole('button', { name: 'Apply' }).click();
    await page.getByRole('cell', { name, exact: true }).waitFor();
  }
  await page.goto(base + '/#/t/acme/data/posts');
  const first = page.getByRole('row').filter({ has: page.getByRole('cell', { name: 'first', exact: true }) });
  await first.getByRole('button', { name: 'Edit row' }).click();
  const editor = page.getByRole('dialog', { name: /Edit row/ });
  await editor.getByRole('group', { name: /readers/ }).getByLabel('Ann').check();
  await editor.getByLabel('meta').fill('{"tags": [1, 2');
  await editor.locator('#edit-meta-error').getByText('not valid JSON').waitFor();
  if ((await editor.getByLabel('meta').getAttribute('aria-invalid')) !== 'true') throw new Error('bad JSON is not marked');
  await editor.getByLabel('meta').fill('{"tags": [1, 2]}');
  await editor.getByLabel('published').fill('2026-11-30T09:15:00');
  await page.screenshot({ path: join(shots, 'row-editor.png') });
  await audit(page, 'row editor');
  await editor.getByRole('button', { name: 'Save' }).click();
  await editor.waitFor({ state: 'detached' });
  await first.getByRole('cell', { name: '1 linked' }).waitFor();
  await first.getByRole('cell', { name: '{"tags":[1,2]}' }).waitFor();
  // 09:15 in Berlin is stored as 08:15 UTC, and shown in the reader's locale and zone.
  const shownAt = await page.evaluate(() => new Date('2026-11-30T08:15:00Z').toLocaleString());
  await first.getByRole('cell', { name: shownAt, exact: true }).waitFor();
  if (!shownAt.includes('9:15')) throw new Error(`the grid shows ${shownAt} for 09:15 in Berlin`);
  await first.locator('span[title="2026-11-30T08:15:00Z"]').waitFor();
  // Keyboard only: focus the cell, Enter opens its editor, Enter saves.
  await first.getByRole('cell', { name: '10', exact: true }).focus();
  await page.keyboard.press('Enter');
  await page.getByLabel('New views').fill('11');
  await page.keyboard.press('Enter');
  await first.getByRole('cell', { name: '11', exact: true }).waitFor();
  // Escape leaves a cell unchanged.
  await first.getByRole('cell', { name: '11', exact: true }).focus();
  await page.keyboard.press('Enter');
  await page.getByLabel('New views').fill('12');
  await page.keyboard.press('Escape');
  await first.getByRole('cell', { name: '11', exact: true }).waitFor();
  if (await page.getByLabel('New views').count()) throw new Error('Escape did not close the cell editor');

  await page.goto(base + '/#/');
  await page.getByRole('button', { name: 'Sandbox…' }).first().click();
  await page.getByLabel(/bring an existing tenant/).selectOption('acme-sandbox');
  await page.getByRole('button', { name: 'Replay into it' }).click();
  await page.getByText(/done/).waitFor();
  await page.goto(base + '/#/t/acme-sandbox/tables');
  await page.getByRole('link', { name: 'authors' }).waitFor();

  step('roles, users and settings');
  await page.goto(base + '/#/t/acme/access');
  await page.getByRole('heading', { name: 'Access' }).waitFor();
  const addRole = page.getByRole('form', { name: 'Add a role' });
  await addRole.getByLabel('Name').fill('editor');
  await addRole.getByLabel('Description').fill('Edits posts');
  await addRole.getByRole('button', { name: 'Add role' }).click();
  await page.getByRole('table', { name: 'Roles' }).getByRole('cell', { name: 'editor', exact: true }).waitFor();
  const addUser = page.getByRole('form', { name: 'Add a user' });
  await addUser.getByLabel('Email').fill('ed@example.com');
  await addUser.getByLabel('Password').fill('short');
  await addUser.getByLabel('Role').selectOption({ label: 'editor' });
  allowed.push(/status of 400/);
  await addUser.getByRole('button', { name: 'Add user' }).click();
  await page.locator('#user-password-error').waitFor();
  allowed.pop();
  await addUser.getByLabel('Password').fill('long-enough-1');
  await addUser.getByRole('button', { name: 'Add user' }).click();
  const users = page.getByRole('table', { name: 'Users' });
  await users.getByRole('cell', { name: 'ed@example.com', exact: true }).waitFor();
  const patched = page.waitForResponse((r) => r.url().includes('/users/') && r.request().method() === 'PATCH');
  await users.getByLabel('Status of ed@example.com').selectOption('suspended');
  await patched;
  await page.getByRole('button', { name: 'Delete role editor' }).click();
  await page.getByRole('button', { name: 'Confirm: delete role editor' }).click();
  await page.getByRole('table', { name: 'Roles' }).getByRole('cell', { name: 'editor', exact: true }).waitFor({ state: 'detached' });
  if ((await users.getByLabel('Role of ed@example.com').inputValue()) !== '') throw new Error('the user kept the deleted role');
  if ((await users.getByLabel('Status of ed@example.com').inputValue()) !== 'suspended') throw new Error('the status change was lost');
  await page.getByLabel(/anyone may sign up/).check();
  const origins = page.getByLabel(/Browser origins/);
  await origins.fill('not an origin');
  allowed.push(/status of 400/);
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.locator('#cors-origins-error').waitFor();
  allowed.pop();
  await origins.fill('https://App.Example.com/');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.getByRole('status').getByText('Saved.').waitFor();
  if ((await origins.inputValue()) !== 'https://app.example.com') throw new Error(`origins as saved: ${await origins.inputValue()}`);
  await page.screenshot({ path: join(shots, 'access.png'), fullPage: true });
  await audit(page, 'access');

  step('rename a table');
  await page.goto(base + '/#/t/acme/tables/authors');
  await page.getByRole('button', { name: 'Rename table authors' }).click();
  await page.getByLabel('New table name').fill('writers');
  await page.getByRole('form', { name: 'Rename the table' }).getByRole('button', { name: 'Rename' }).click();
  await page.getByRole('heading', { name: 'Rename table authors to writers' }).waitFor();
  await page.getByRole('dialog').getByRole('button', { name: 'Apply' }).click();
  await page.getByRole('heading', { name: 'writers' }).waitFor();
  await page.getByText('posts.author → writers').waitFor();

  step('a rollback that later migrations depend on lists them and rolls them back too');
  const token = await page.evaluate(() => JSON.parse(localStorage.getItem('strata.session')).access);
  const api = async (method, path, body) => {
    const r = await fetch(`${base}/api/t/acme${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
    return r.status === 204 ? null : r.json();
  };
  await api('POST', '/tables', { name: 'notes', columns: [{ name: 'text', type: 'string' }] });
  await api('POST', '/tables/notes/columns', { name: 'mood', type: 'string' });
  await live.reload();
  await live.getByText('● live').waitFor();
  allowed.push(/status of 409/);
  await live.locator('tr', { hasText: 'create table notes' }).getByRole('button', { name: /Roll back/ }).click();
  await live.getByRole('heading', { name: /and the 1 that depend on it/ }).waitFor();
  await live.getByRole('dialog').getByText(/add column notes\.mood/).waitFor();
  await live.getByRole('dialog').locator('pre').first().waitFor();
  await live.screenshot({ path: join(shots, 'rollback-dependents.png') });
  await live.getByRole('dialog').getByRole('button', { name: 'Roll back all 2' }).click();
  const createNotes = live.locator('tr', { hasText: 'create table notes' }).locator('td[data-status="rolled_back"]');
  const confirmDrop = live.getByRole('heading', { name: 'Confirm a destructive change' });
  await Promise.race([createNotes.waitFor(), confirmDrop.waitFor()]);
  if (await confirmDrop.isVisible()) await live.getByRole('button', { name: 'Yes, apply it' }).click();
  await createNotes.waitFor();
  await live.locator('tr', { hasText: 'add column notes.mood' }).locator('td[data-status="rolled_back"]').waitFor();
  allowed.pop();

  step('a change held for approval says so in the designer, with a link');
  await api('PATCH', '/settings', { require_approval: 'all' });
  await page.goto(base + '/#/t/acme/tables/posts');
  const held = page.getByRole('form', { name: 'Add a column' });
  await held.locator('input[name="new-column-name"]').fill('later');
  await held.getByRole('button', { name: 'Preview SQL' }).click();
  await held.getByLabel('Planned SQL').waitFor();
  await held.getByRole('button', { name: 'Apply' }).click();
  await page.getByText(/is waiting for approval/).waitFor();
  await page.getByRole('link', { name: 'approve or reject it in Migrations' }).click();
  await page.locator('tr', { hasText: 'add column posts.later' }).getByRole('button', { name: 'Reject' }).click();
  await page.locator('tr', { hasText: 'add column posts.later' }).locator('td[data-status="rejected"]').waitFor();
  await api('PATCH', '/settings', { require_approval: 'none' });

  step("a row's history in the row editor: two edits, a restore, then history turned off");
  await page.goto(base + '/#/t/acme/data/posts');
  await page.locator('input[name="new-title"]').fill('draft');
  await page.locator('input[name="new-views"]').fill('1');
  await page.getByRole('button', { name: 'Add row' }).click();
  const rowOf = (title) => page.getByRole('table', { name: 'Rows of posts' }).getByRole('row').filter({ has: page.getByRole('cell', { name: title, exact: true }) });
  await rowOf('draft').waitFor();
  // One change in the row editor, one in the grid.
  await rowOf('draft').getByRole('button', { name: 'Edit row' }).click();
  const rowEditor = page.getByRole('dialog', { name: /Edit row/ });
  await rowEditor.locator('#edit-title').fill('revised');
  await rowEditor.getByRole('button', { name: 'Save' }).click();
  await rowEditor.waitFor({ state: 'detached' });
  await rowOf('revised').getByRole('cell', { name: '1', exact: true }).dblclick();
  await page.getByLabel('New views').fill('2');
  await page.keyboard.press('Enter');
  await rowOf('revised').getByRole('cell', { name: '2', exact: true }).waitFor();
  // The history: newest first, each write with what it set; the newest is the row now.
  await rowOf('revised').getByRole('button', { name: 'Edit row' }).click();
  await rowEditor.getByRole('tab', { name: 'History' }).click();
  const history = rowEditor.getByRole('table', { name: /^History of row / });
  const entries = history.getByRole('row').filter({ has: page.getByRole('cell') });
  await entries.nth(2).waitFor();
  const actions = async () => (await entries.evaluateAll((rows) => rows.map((r) => r.cells[2].textContent.trim()))).join(',');
  if ((await actions()) !== 'update,update,create') throw new Error(`the history lists ${await actions()}`);
  await entries.nth(0).getByText(/^views:\s+2$/).waitFor();
  await entries.nth(1).getByText(/^title:\s+revised$/).waitFor();
  await entries.nth(2).getByText(/^title:\s+draft$/).waitFor();
  await entries.nth(0).getByText('current', { exact: true }).waitFor();
  await entries.nth(0).getByRole('cell', { name: 'admin@example.com', exact: true }).waitFor(); // who, by their session
  if (await entries.nth(0).getByRole('button', { name: /^Restore/ }).count()) throw new Error('the newest revision, the row as it is, offers a restore');
  await page.screenshot({ path: join(shots, 'row-history.png') });
  await audit(page, 'row history');
  // Restoring the create's revision asks first, then puts its values back.
  await entries.nth(2).getByRole('button', { name: /^Restore the create/ }).click();
  await page.getByRole('heading', { name: 'Restore this version of the row?' }).waitFor();
  await page.getByRole('dialog', { name: 'Restore this version of the row?' }).getByRole('button', { name: 'Restore' }).click();
  await rowOf('draft').getByRole('cell', { name: '1', exact: true }).waitFor();
  await entries.nth(3).waitFor();
  if ((await actions()) !== 'update,update,update,create') throw new Error(`after the restore, the history lists ${await actions()}`);
  await entries.nth(0).getByText(/^title:\s+draft$/).waitFor();
  await entries.nth(0).getByText('current', { exact: true }).waitFor();
  await rowEditor.getByRole('tab', { name: 'Fields' }).click();
  if ((await rowEditor.locator('#edit-title').inputValue()) !== 'draft') throw new Error('the editor does not show the restored title');
  await rowEditor.getByRole('button', { name: 'Cancel' }).click();
  await rowEditor.waitFor({ state: 'detached' });
  // With accountability none, the history says it is off.
  await page.goto(base + '/#/t/acme/tables/posts');
  const keeps = page.getByRole('form', { name: 'Accountability' });
  await keeps.getByLabel(/^Accountability/).selectOption({ label: 'None' });
  await keeps.getByRole('button', { name: 'Set accountability' }).click();
  await keeps.getByRole('status').getByText('Saved.').waitFor();
  await page.goto(base + '/#/t/acme/data/posts');
  await rowOf('draft').getByRole('button', { name: 'Edit row' }).click();
  await rowEditor.getByRole('tab', { name: 'History' }).click();
  await rowEditor.getByText(/^History is off for posts/).waitFor();
  await rowEditor.getByRole('button', { name: 'Close' }).click();
  await rowEditor.waitFor({ state: 'detached' });
  await page.goto(base + '/#/t/acme/tables/posts');
  if ((await keeps.getByLabel(/^Accountability/).inputValue()) !== 'none') throw new Error('the accountability select does not show none');
  await keeps.getByLabel(/^Accountability/).selectOption({ label: 'All' });
  await keeps.getByRole('button', { name: 'Set accountability' }).click();
  await keeps.getByRole('status').getByText('Saved.').waitFor();

  step('row actions stay in view at 1366 px, however wide the row');
  await page.setViewportSize({ width: 1366, height: 768 });
  await page.goto(base + '/#/t/acme/data/posts');
  await page.getByRole('cell', { name: 'first', exact: true }).waitFor();
  for (const width of [1366, 900]) {
    await page.setViewportSize({ width, height: 768 });
    const edit = page.getByRole('button', { name: 'Edit row' }).first();
    const box = await edit.boundingBox();
    if (!box || box.x + box.width > width) throw new Error(`at ${width} px the row's Edit button is outside the viewport: ${JSON.stringify(box)}`);
  }
  // At 900 px the rows are wider than the grid: the check above is a real one.
  if (!(await page.locator('.scroll').first().evaluate((el) => el.scrollWidth > el.clientWidth))) throw new Error('the grid does not overflow at 900 px; the check proves nothing');
  await page.setViewportSize({ width: 1280, height: 800 });

  step('a tenant user who is not an admin gets the data app their role allows');
  const roles = (await api('GET', '/roles')).data;
  const authenticated = roles.find((r) => r.name === 'authenticated').id;
  await api('POST', '/users', { email: 'user@example.com', password: 'User-pass-123!', role: authenticated });
  await api('POST', '/permissions', { role: authenticated, collection: 'posts', action: 'read', fields: ['id', 'title', 'views', 'created_at'] });
  await api('POST', '/permissions', { role: authenticated, collection: 'posts', action: 'create', fields: ['title'] });
  const userContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const user = await userContext.newPage();
  user.on('console', consoleError);
  user.on('pageerror', (e) => errors.push(String(e)));
  await user.goto(base + '/');
  await user.getByLabel('Email').fill('user@example.com');
  await user.getByLabel('Password').fill('User-pass-123!');
  await user.getByLabel(/^Tenant/).fill('acme');
  await user.getByRole('button', { name: 'Sign in' }).click();
  // Home is the data app on the one table the role may use; no admin screen is offered.
  await user.getByRole('table', { name: 'Rows of posts' }).waitFor();
  await user.getByRole('cell', { name: 'first', exact: true }).waitFor();
  const tenantNav = user.getByRole('navigation', { name: 'Tenant' });
  if ((await tenantNav.getByRole('link').allTextContents()).join(',') !== 'Data') throw new Error(`a user's navigation: ${await tenantNav.textContent()}`);
  if (await user.getByRole('button', { name: /Edit row|Delete row/ }).count()) throw new Error('a user without update or delete rights is offered Edit or Delete');
  if (await user.locator('select[name="data-table"] option', { hasText: 'writers' }).count()) throw new Error('a table the role may not use is offered');
  const userForm = user.getByRole('form', { name: 'New row' });
  if (await userForm.locator('input[name="new-views"]').count()) throw new Error('the new-row form offers a field the role may not create');
  await userForm.locator('input[name="new-title"]').fill('from a user');
  await userForm.getByRole('button', { name: 'Add row' }).click();
  await user.getByRole('cell', { name: 'from a user', exact: true }).waitFor();
  await user.screenshot({ path: join(shots, 'data-user.png') });
  await audit(user, 'data app of a non-admin user');
  // An admin screen's address leads back to the data app.
  await user.goto(base + '/#/t/acme/migrations');
  await user.getByRole('table', { name: 'Rows of posts' }).waitFor();
  if (!user.url().endsWith('#/t/acme/data/posts')) throw new Error(`a user on an admin address lands on ${user.url()}`);
  await userContext.close();

  step('the file library');
  await page.goto(base + '/#/t/acme/files');
  await page.getByRole('heading', { name: 'Files' }).waitFor();
  await page.getByLabel('Folder name').fill('Pictures');
  await page.getByRole('button', { name: 'Create folder' }).click();
  await page.getByRole('navigation', { name: 'Folders' }).getByRole('button', { name: 'Pictures' }).click();
  await page.getByLabel('Upload files', { exact: true }).setInputFiles([
    { name: 'red.png', mimeType: 'image/png', buffer: Buffer.from(PNG_40x30, 'base64') },
    { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('some notes') },
  ]);
  await page.getByRole('status').getByText('Uploaded 2 files.').waitFor();
  // The picture's thumbnail is a 160×160 transformation of it.
  const thumb = page.getByRole('list', { name: 'Files' }).locator('img').first();
  await thumb.waitFor();
  await page.waitForFunction(() => document.querySelector('ul.grid img')?.complete);
  const natural = await thumb.evaluate((img) => `${img.naturalWidth}x${img.naturalHeight}`);
  if (natural !== '160x160') throw new Error(`the thumbnail is ${natural}`);
  await page.getByRole('button', { name: /^Red \(image\/png/ }).click();
  await page.getByLabel('Title').fill('Crimson');
  await page.getByRole('form', { name: 'Edit the file' }).getByRole('button', { name: 'Save' }).click();
  await page.getByRole('status').getByText('Saved.').waitFor();
  await page.getByRole('button', { name: /^Crimson \(image\/png/ }).waitFor();
  await page.screenshot({ path: join(shots, 'files.png') });
  await audit(page, 'file library');
  await page.getByRole('button', { name: 'Delete file' }).click();
  await page.getByRole('alertdialog', { name: 'Delete the file' }).getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('status').getByText('Deleted Crimson.').waitFor();
  await page.getByRole('button', { name: /^Crimson/ }).waitFor({ state: 'detached', timeout: 5000 }).catch(() => {
    throw new Error('the deleted file is still listed');
  });

  step('a file field: picked from the library, a thumbnail in the grid');
  await page.evaluate(async () => {
    const s = JSON.parse(localStorage.getItem('strata.session'));
    const r = await fetch('/api/t/acme/tables', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${s.access}` },
      body: JSON.stringify({ name: 'albums', columns: [{ name: 'name', type: 'string' }, { name: 'cover', type: 'file' }] }),
    });
    if (!r.ok) throw new Error(`create albums: ${r.status}`);
  });
  await page.getByLabel('Upload files', { exact: true }).setInputFiles([{ name: 'sunset.png', mimeType: 'image/png', buffer: Buffer.from(PNG_40x30, 'base64') }]);
  await page.getByRole('status').getByText('Uploaded sunset.png.').waitFor();
  await page.goto(base + '/#/t/acme/data/albums');
  await page.locator('input[name="new-name"]').fill('Holidays');
  await page.locator('select[name="new-cover"]').selectOption({ label: 'Sunset' });
  await page.getByRole('button', { name: 'Add row' }).click();
  const cover = page.getByRole('table', { name: 'Rows of albums' }).getByRole('img', { name: 'Sunset' });
  await cover.waitFor();
  await page.waitForFunction(() => [...document.querySelectorAll('.thumbs img')].every((i) => i.complete && i.naturalWidth === 40));
  await page.screenshot({ path: join(shots, 'data-files.png') });
  await audit(page, 'data grid with a file field');
  // The row editor uploads a new file into the field.
  await page.getByRole('button', { name: 'Edit row' }).click();
  const editorDialog = page.getByRole('dialog');
  await editorDialog.getByLabel('Upload a new file for cover').setInputFiles([{ name: 'beach.png', mimeType: 'image/png', buffer: Buffer.from(PNG_40x30, 'base64') }]);
  await page.waitForFunction(() => document.querySelector('select[name="edit-cover"] option:checked')?.textContent === 'Beach');
  await audit(page, 'row editor with a file field');
  await editorDialog.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('table', { name: 'Rows of albums' }).getByRole('img', { name: 'Beach' }).waitFor();

  step('functions: an endpoint refused at its line, fixed, run, called and logged; a secret never shown');
  await page.getByRole('navigation', { name: 'Tenant' }).getByRole('link', { name: 'Functions' }).click();
  await page.getByRole('heading', { name: 'Functions', exact: true }).waitFor();
  // A secret: its value goes out once, in a password field, and is never shown again.
  const secretValue = 'e2e-Secret-Value-8472';
  const addSecret = page.getByRole('form', { name: 'Add or replace a secret' });
  if ((await addSecret.getByLabel('Value').getAttribute('type')) !== 'password') throw new Error('the secret value field is not a password field');
  await addSecret.getByLabel('Name').fill('API_KEY');
  await addSecret.getByLabel('Value').fill(secretValue);
  await addSecret.getByRole('button', { name: 'Save secret' }).click();
  await page.getByRole('status').getByText('Added API_KEY.').waitFor();
  await page.getByRole('table', { name: 'Secrets' }).getByRole('cell', { name: 'API_KEY', exact: true }).waitFor();
  if ((await addSecret.getByLabel('Value').inputValue()) !== '') throw new Error('the secret value stays in its field after saving');
  if ((await page.content()).includes(secretValue)) throw new Error('the secret value is in the page');
  await audit(page, 'functions');
  await page.getByRole('link', { name: '+ New function' }).click();
  await page.getByRole('heading', { name: 'New function' }).waitFor();
  const source = page.locator('.cm-content');
  await source.waitFor();
  if ((await source.getAttribute('aria-labelledby')) !== 'fn-source-label') throw new Error('the code editor is not labelled');
  await page.getByLabel('Name', { exact: true }).fill('order_summary');
  await page.getByLabel('Path after /fn/').fill('orders/:id');
  // ctx's members are completed from strata.d.ts.
  await source.click();
  await page.keyboard.press('Control+End');
  await page.keyboard.type('ctx.ite');
  await page.locator('.cm-tooltip-autocomplete').getByText('items', { exact: true }).waitFor();
  await page.keyboard.press('Escape');
  // The source is typed over the template: first with a ) missing on line 3.
  const typeSource = async (text) => {
    await source.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(text);
  };
  const fixed = [
    'export default async function (ctx) {',
    '  const id = ctx.request.params.id || null;',
    "  ctx.log('order', id || 'none');",
    '  return { id, input: ctx.input, has_key: !!ctx.env.API_KEY };',
    '}',
    '',
  ].join('\n');
  await typeSource(fixed.replace("'none');", "'none';"));
  allowed.push(/status of 400/);
  await page.getByRole('button', { name: 'Create function' }).click();
  await page.locator('#fn-source-error').getByText(/^line 3, column \d+: Expected "\)" but found ";"/).waitFor();
  allowed.pop();
  // At its line: the line is marked, the diagnostic underlined in it, a marker in the gutter.
  const marked = page.locator('.cm-line.cm-errorLine');
  if ((await marked.count()) !== 1) throw new Error(`${await marked.count()} lines marked`);
  const lineNo = await marked.evaluate((el) => [...el.parentElement.querySelectorAll('.cm-line')].indexOf(el) + 1);
  if (lineNo !== 3) throw new Error(`the error is marked on line ${lineNo}, not 3`);
  await marked.locator('.cm-lintRange-error').waitFor();
  await page.locator('.cm-gutter-lint .cm-lint-marker-error').waitFor();
  await page.screenshot({ path: join(shots, 'function-invalid.png') });
  await typeSource(fixed);
  await page.getByRole('button', { name: 'Create function' }).click();
  await page.getByRole('status').getByText('Created order_summary.').waitFor();
  await page.getByRole('heading', { name: 'Function order_summary' }).waitFor();
  if (await page.locator('.cm-line.cm-errorLine').count()) throw new Error('the fixed source is still marked');
  await page.getByText('● live').waitFor();
  // The test panel runs it with an input: its output and its log line.
  const test = page.getByRole('form', { name: 'Test run' });
  await test.getByLabel('Input (JSON)').fill('{"qty": 2}');
  await test.getByRole('button', { name: 'Run' }).click();
  const outcome = test.getByRole('region', { name: 'Test run result' });
  await outcome.locator('[data-status="success"]').waitFor();
  const output = JSON.parse(await outcome.getByLabel('Output').textContent());
  if (JSON.stringify(output) !== '{"id":null,"input":{"qty":2},"has_key":true}') throw new Error(`the test run's output: ${JSON.stringify(output)}`);
  await outcome.getByRole('list', { name: 'Logs' }).getByText('order none').waitFor();
  // Called at /fn/orders/42, it answers {data: …}.
  const answer = await page.evaluate(async () => {
    const s = JSON.parse(localStorage.getItem('strata.session'));
    const r = await fetch('/api/t/acme/fn/orders/42', { headers: { Authorization: `Bearer ${s.access}` } });
    return { status: r.status, body: await r.json() };
  });
  if (answer.status !== 200 || JSON.stringify(answer.body) !== '{"data":{"id":"42","has_key":true}}') throw new Error(`GET /fn/orders/42: ${JSON.stringify(answer)}`);
  // Both runs arrive in the run log over the socket; the endpoint's shows its log line.
  const runLog = page.getByRole('table', { name: 'Runs' });
  await runLog.getByRole('row').filter({ has: page.getByRole('cell', { name: 'endpoint', exact: true }) }).waitFor({ timeout: 10000 });
  await runLog.getByRole('row').filter({ has: page.getByRole('cell', { name: 'manual', exact: true }) }).waitFor();
  await runLog.getByRole('row').filter({ has: page.getByRole('cell', { name: 'endpoint', exact: true }) }).getByRole('button').click();
  await runLog.getByText('order 42').waitFor();
  await page.screenshot({ path: join(shots, 'functions.png'), fullPage: true });
  await audit(page, 'function editor');
  // The list says what it answers.
  await page.getByRole('link', { name: '← Functions' }).click();
  await page.getByRole('table', { name: 'Functions' }).getByRole('cell', { name: 'GET /fn/orders/:id' }).waitFor();
  if ((await page.content()).includes(secretValue)) throw new Error('the secret value is in the page');
  const listed = await page.evaluate(async () => {
    const s = JSON.parse(localStorage.getItem('strata.session'));
    return (await fetch('/api/t/acme/functions/secrets', { headers: { Authorization: `Bearer ${s.access}` } })).text();
  });
  if (listed.includes(secretValue)) throw new Error('GET /functions/secrets answers the value');

  await webhookSteps({ page, base, shots, step, audit, allowed });
  await transferSteps({ page, base, shots, step, audit, allowed });

  step('the fleet: changesets registered, tenants tagged, a dry run before every run, per-tenant results live');
  await page.goto(base + '/#/');
  await page.getByLabel('Slug').fill('globex');
  await page.getByRole('button', { name: 'Create tenant' }).click();
  await page.getByRole('link', { name: 'globex', exact: true }).waitFor();
  await page.getByRole('navigation', { name: 'Platform' }).getByRole('link', { name: 'Fleet' }).click();
  await page.getByRole('heading', { name: 'Fleet', exact: true }).waitFor();
  // Tags: a tag without "=" is refused here, one the API refuses shows its message.
  const tagTable = page.getByRole('table', { name: 'Tenant tags' });
  const tagRow = (slug) => tagTable.getByRole('row').filter({ has: page.getByRole('link', { name: slug, exact: true }) });
  await tagRow('acme').getByRole('button', { name: 'Edit tags of acme' }).click();
  await page.getByLabel(/^Tags of acme \(/).fill('tier');
  await page.getByRole('button', { name: 'Save tags' }).click();
  await page.getByRole('alert').getByText('"tier" is not key=value').waitFor();
  await page.getByLabel(/^Tags of acme \(/).fill('Bad Key=x');
  allowed.push(/status of 400/);
  await page.getByRole('button', { name: 'Save tags' }).click();
  await page.getByRole('alert').getByText(/tag key "Bad Key"/).waitFor();
  allowed.pop();
  await page.getByLabel(/^Tags of acme \(/).fill('tier=gold, region=eu');
  await page.getByRole('button', { name: 'Save tags' }).click();
  await tagRow('acme').getByText('tier=gold').waitFor();
  await tagRow('globex').getByRole('button', { name: 'Edit tags of globex' }).click();
  await page.getByLabel(/^Tags of globex \(/).fill('tier=gold');
  await page.getByRole('button', { name: 'Save tags' }).click();
  await tagRow('globex').getByText('tier=gold').waitFor();
  if (await tagRow('acme-sandbox').getByText('tier=gold').count()) throw new Error('a tenant got tags it was not given');
  // Changesets: one in YAML, one in JSON that depends on it; a changed file under a
  // registered name is refused with the contract's message.
  const createOrders = [
    'name: create_orders',
    'description: an orders table on the gold tenants',
    'tags: [team=shop]',
    'changes:',
    '  - op: create_table',
    '    name: orders',
    '    columns:',
    '      - {name: total, type: integer}',
    '',
  ].join('\n');
  const register = page.getByRole('form', { name: 'Register a changeset' });
  const file = register.getByLabel('Changeset file (JSON or YAML)');
  await file.fill(createOrders);
  await register.getByText('read as YAML').waitFor();
  await register.getByRole('button', { name: 'Register' }).click();
  await register.getByRole('status').getByText('Registered create_orders.').waitFor();
  await file.fill(JSON.stringify({ name: 'orders_note', description: 'orders get a note', tags: ['team=shop'], depends_on: ['create_orders'],
    changes: [{ op: 'add_column', table: 'orders', column: { name: 'note', type: 'string' } }] }, null, 2));
  await register.getByText('read as JSON').waitFor();
  await register.getByRole('button', { name: 'Register' }).click();
  await register.getByRole('status').getByText('Registered orders_note.').waitFor();
  await file.fill(createOrders.replace('on the gold tenants', 'on every gold tenant'));
  allowed.push(/status of 409/);
  await register.getByRole('button', { name: 'Register' }).click();
  await register.getByRole('alert').getByText(/changeset create_orders is registered with checksum .* a changeset is never changed once registered/).waitFor();
  allowed.pop();
  await file.fill(createOrders);
  await register.getByRole('button', { name: 'Register' }).click();
  await register.getByRole('status').getByText('create_orders is registered already, with this checksum.').waitFor();
  const csTable = page.getByRole('table', { name: 'Changesets' });
  const noteRow = csTable.getByRole('row').filter({ has: page.getByRole('button', { name: 'orders_note' }) });
  await noteRow.getByRole('cell', { name: 'create_orders', exact: true }).waitFor(); // depends on
  await noteRow.getByText('team=shop').waitFor();
  await noteRow.getByRole('cell', { name: '1 change', exact: true }).waitFor();
  // The run form: changesets by tag, tenants by tag. Run waits for a dry run of the
  // same selection, and any change to the form takes it back.
  const form = page.getByRole('form', { name: 'Run changesets' });
  const runButton = form.getByRole('button', { name: 'Run', exact: true });
  await form.getByLabel(/^And changesets tagged/).fill('team=shop');
  await form.getByLabel('Tenants tagged').check();
  await form.getByLabel(/^Tenant tags to match/).fill('tier=gold');
  if (await runButton.isEnabled()) throw new Error('Run is offered before a dry run');
  await form.getByRole('button', { name: 'Dry run' }).click();
  const plan = page.getByRole('table', { name: 'Dry run plan' });
  await plan.waitFor();
  const planRow = (tenant, cs) => plan.getByRole('row').filter({ has: page.getByRole('cell', { name: tenant, exact: true }) }).filter({ has: page.getByRole('cell', { name: cs, exact: true }) });
  for (const tenant of ['acme', 'globex']) {
    await planRow(tenant, 'create_orders').locator('td[data-status="planned"]').waitFor();
    await planRow(tenant, 'create_orders').locator('pre').getByText(/CREATE TABLE "orders"/).waitFor();
    await planRow(tenant, 'orders_note').locator('pre').getByText(/ADD COLUMN "note"/).waitFor();
  }
  if ((await plan.locator('td[data-status="planned"]').count()) !== 4) throw new Error(`the dry run plans ${await plan.locator('td[data-status="planned"]').count()} changesets, not 4`);
  if (await plan.getByText('acme-sandbox').count()) throw new Error('the dry run takes a tenant without the tag');
  await runButton.waitFor({ state: 'visible' });
  if (!(await runButton.isEnabled())) throw new Error('Run is not offered after the dry run');
  await form.getByLabel(/^Concurrency/).fill('2');
  if (await runButton.isEnabled()) throw new Error('Run stays offered after the selection changed');
  await form.getByRole('button', { name: 'Dry run' }).click();
  await page.waitForFunction(() => {
    const b = [...document.querySelectorAll('form button')].find((x) => x.textContent.trim() === 'Run');
    return b && !b.disabled;
  });
  await runButton.click();
  // The run: per-tenant results arrive over its event stream.
  const runPanel = page.getByRole('region', { name: /^Run \w{8}$/ });
  const results = runPanel.getByRole('table', { name: 'Results of the run' });
  const resultRow = (tenant, cs) => results.getByRole('row').filter({ has: page.getByRole('link', { name: tenant, exact: true }) }).filter({ has: page.getByRole('cell', { name: cs, exact: true }) });
  for (const tenant of ['acme', 'globex']) {
    for (const cs of ['create_orders', 'orders_note']) await resultRow(tenant, cs).locator('td[data-status="applied"]').waitFor();
  }
  await runPanel.locator('h3 + [data-status="completed"]').waitFor();
  await runPanel.getByText('4/4 settled · 4 applied').waitFor();
  for (const name of ['Pause', 'Resume', 'Cancel run']) {
    if (await runPanel.getByRole('button', { name }).isEnabled()) throw new Error(`${name} is offered for a completed run`);
  }
  const runsTable = page.getByRole('table', { name: 'Runs' });
  await runsTable.getByRole('row').nth(1).locator('td[data-status="completed"]').waitFor();
  await runsTable.getByRole('row').nth(1).getByText('4 applied').waitFor();
  if (await runButton.isEnabled()) throw new Error('Run is offered again without a new dry run');
  await page.screenshot({ path: join(shots, 'fleet.png'), fullPage: true });
  await audit(page, 'fleet');
  // The tenants hold the table now.
  await page.goto(base + '/#/t/globex/tables/orders');
  await page.getByRole('cell', { name: 'note', exact: true }).waitFor();
  // Again: the dry run and the run find both changesets held already.
  await page.goto(base + '/#/fleet');
  await form.getByLabel(/^And changesets tagged/).fill('team=shop');
  await form.getByLabel('Tenants tagged').check();
  await form.getByLabel(/^Tenant tags to match/).fill('tier=gold');
  await form.getByRole('button', { name: 'Dry run' }).click();
  await plan.waitFor();
  await page.waitForFunction(() => document.querySelectorAll('table[aria-label="Dry run plan"] td[data-status="skipped"]').length === 4);
  await runButton.click();
  await runPanel.locator('h3 + [data-status="completed"]').waitFor();
  for (const tenant of ['acme', 'globex']) {
    for (const cs of ['create_orders', 'orders_note']) await resultRow(tenant, cs).locator('td[data-status="skipped"]').waitFor();
  }
  await runPanel.getByText('4/4 settled · 4 skipped').waitFor();
  // A destructive change, on a chosen tenant: the dry run marks it, Run asks first.
  await file.fill(JSON.stringify({ name: 'drop_note', depends_on: ['orders_note'], changes: [{ op: 'drop_column', table: 'orders', column: 'note' }] }));
  await register.getByRole('button', { name: 'Register' }).click();
  await register.getByRole('status').getByText('Registered drop_note.').waitFor();
  await form.getByLabel(/^And changesets tagged/).fill('');
  await form.getByLabel('drop_note', { exact: true }).check();
  await form.getByLabel('Chosen tenants').check();
  await form.getByLabel('globex', { exact: true }).check();
  await form.getByRole('button', { name: 'Dry run' }).click();
  await planRow('globex', 'drop_note').getByText('destructive').waitFor();
  await runButton.click();
  await page.getByRole('heading', { name: 'Run 1 destructive change' }).waitFor();
  await page.getByRole('dialog').getByRole('button', { name: 'Run' }).click();
  await resultRow('globex', 'drop_note').locator('td[data-status="applied"]').waitFor();
  await runPanel.locator('h3 + [data-status="completed"]').waitFor();
  if ((await results.getByRole('row').count()) !== 4) throw new Error('the run took more than globex'); // header + 3

  await authSteps({ browser, page, base, catcher, oidc, shots, step, audit, allowed, consoleError, errors });

  step('phone width');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(base + '/#/t/acme/tables/posts');
  await page.getByRole('heading', { name: 'posts' }).waitFor();
  await page.screenshot({ path: join(shots, 'phone.png') });
  // At phone width the page itself never scrolls sideways: wide tables scroll inside
  // their own boxes.
  for (const screen of ['#/', '#/fleet', '#/t/acme/tables/posts', '#/t/acme/data/posts', '#/t/acme/files', '#/t/acme/functions', '#/t/acme/webhooks', '#/t/acme/migrations', '#/t/acme/access', '#/t/acme/api']) {
    await page.goto(`${base}/${screen}`);
    await page.locator('main h1, main h2').first().waitFor();
    await page.waitForLoadState('networkidle');
    const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    if (scroll > width) throw new Error(`${screen} is ${scroll}px wide at phone width ${width}px`);
  }
  await page.goto(base + '/#/t/acme/data/posts');
  await page.getByRole('cell', { name: 'second', exact: true }).waitFor();
  await audit(page, 'data grid at phone width');

  if (errors.length) throw new Error('console errors:\n' + errors.join('\n'));
  console.log(`e2e: accessibility checked on ${audited.join(', ')}`);
  console.log('e2e: passed');
} catch (e) {
  failed = true;
  console.error('e2e: FAILED:', e.message);
  for (const [i, p] of (browser.contexts()[0]?.pages() || []).entries()) {
    await p.screenshot({ path: join(tmpdir(), `strata-e2e-failure-${i}.png`), fullPage: true }).catch(() => {});
  }
} finally {
  await browser.close();
  stop();
}
process.exit(failed ? 1 : 0);
