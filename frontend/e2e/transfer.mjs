// A table's rows in and out as files, as part of run.mjs: a contacts table made through
// the API; a CSV of 1,500 rows with two bad ones imported all or nothing (refused,
// nothing written, both rows named with their fields), then partial (1,498 written, the
// two listed), its progress bar seen; the grid then counts them; an export downloaded
// as CSV holds the rows the grid filters to; the dialog is audited.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// transferSteps runs after the main walk has made tenant acme; page is the platform
// admin's.
export async function transferSteps({ page, base, shots, step, audit }) {
  const acme = async (method, path, body) => {
    const s = await page.evaluate(() => JSON.parse(localStorage.getItem('strata.session')));
    const r = await fetch(`${base}/api/t/acme${path}`, { method, headers: { authorization: `Bearer ${s.access}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
    return r.status === 204 ? null : r.json();
  };

  step('import and export: a CSV imported all or nothing, then partial, with progress; an export downloaded');
  await acme('POST', '/tables', { name: 'contacts', columns: [
    { name: 'name', type: 'string' }, { name: 'age', type: 'integer' }, { name: 'subscribed', type: 'boolean' }] });
  const lines = ['name,age,subscribed'];
  for (let i = 1; i <= 1500; i++) {
    if (i === 700) lines.push('Bad age,seven,true');
    else if (i === 1400) lines.push('Bad flag,40,perhaps');
    else lines.push(`Contact ${i},${20 + (i % 50)},${i % 2 === 0}`);
  }
  const file = { name: 'contacts.csv', mimeType: 'text/csv', buffer: Buffer.from(lines.join('\n') + '\n') };

  await page.goto(`${base}/#/t/acme/data/contacts`);
  await page.getByRole('button', { name: 'Import…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Import rows into contacts' });
  await dialog.getByLabel('File').setInputFiles(file);
  await dialog.getByRole('button', { name: 'Import', exact: true }).click();
  await dialog.getByText('Nothing was imported: 2 rows are refused.').waitFor();
  const refused = dialog.getByRole('table', { name: 'Refused rows' });
  for (const [row, field] of [['700', 'age'], ['1400', 'subscribed']]) {
    await refused.getByRole('row').filter({ has: page.getByRole('cell', { name: row, exact: true }) }).getByRole('cell', { name: field, exact: true }).waitFor();
  }
  const count = async () => (await acme('GET', '/items/contacts?aggregate[count]=*')).data[0].count;
  if (Number(await count()) !== 0) throw new Error('an import refused all or nothing wrote rows');

  await dialog.getByLabel('Keep the good rows when some are refused').check();
  await dialog.getByRole('button', { name: 'Import', exact: true }).click();
  await dialog.getByText('Imported 1,498 rows; 2 refused.').waitFor();
  if (!(await dialog.locator('progress').isVisible())) throw new Error('no progress bar');
  await page.screenshot({ path: join(shots, 'import.png') });
  await audit(page, 'import dialog');
  await dialog.getByRole('button', { name: 'Close' }).click();
  await page.getByText('Page 1 of 60 · 1498 rows').waitFor();

  // The export is what the grid filters to, downloaded as it streams.
  await page.goto(`${base}/#/t/acme/data/contacts`);
  await page.getByText('· 1498 rows').waitFor();
  await page.getByLabel('Export as').selectOption('csv');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export', exact: true }).click()]);
  const csv = readFileSync(await download.path(), 'utf8').trim().split('\n');
  if (download.suggestedFilename() !== 'contacts.csv' || csv.length !== 1499 || !csv[0].includes('name') || !csv.some((l) => l.includes('Contact 1500'))) {
    throw new Error(`the exported CSV: ${download.suggestedFilename()}, ${csv.length} lines, header ${csv[0]}`);
  }
}
