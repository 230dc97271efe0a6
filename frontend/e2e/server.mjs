// Starts a Strata of its own for an end-to-end script: built from this tree, on SQLite
// in a temporary directory, on a free port, with a known admin password.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import net from 'node:net';

export const root = resolve(import.meta.dirname, '../..');

export async function startStrata(password, name = 'strata-e2e-') {
  const port = await new Promise((ok) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => ok(p));
    });
  });
  const dir = mkdtempSync(join(tmpdir(), name));
  const bin = join(dir, 'strata');
  execFileSync('go', ['build', '-o', bin, './server'], { cwd: root, stdio: 'inherit' });
  const server = spawn(bin, [], {
    env: { ...process.env, STRATA_HTTP: `127.0.0.1:${port}`, STRATA_DATA_DIR: join(dir, 'data'), STRATA_ADMIN_PASSWORD: password, STRATA_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  const stop = () => {
    server.kill();
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {}
    if (i > 100) {
      stop();
      throw new Error('the server did not start');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { base, port, stop };
}
