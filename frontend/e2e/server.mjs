// Starts a Strata of its own for an end-to-end script: built from this tree, on SQLite
// in a temporary directory, on a free port, with a known admin password. env adds
// variables: an object, or a function of the port (for STRATA_PUBLIC_URL, say).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import net from 'node:net';

export const root = resolve(import.meta.dirname, '../..');

export async function startStrata(password, name = 'strata-e2e-', env = {}) {
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
    env: {
      ...process.env, STRATA_HTTP: `127.0.0.1:${port}`, STRATA_DATA_DIR: join(dir, 'data'), STRATA_ADMIN_PASSWORD: password, STRATA_LOG_LEVEL: 'warn',
      ...(typeof env === 'function' ? env(port) : env),
    },
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

// startMockOIDC builds and starts scripts/mockoidc, an OpenID Connect provider that
// signs its default user in at once: {issuer, client_id, client_secret, stop}.
export async function startMockOIDC() {
  const dir = mkdtempSync(join(tmpdir(), 'strata-mockoidc-'));
  const bin = join(dir, 'mockoidc');
  execFileSync('go', ['build', '-o', bin, './scripts/mockoidc'], { cwd: root, stdio: 'inherit' });
  const child = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const stop = () => {
    child.stdin.end();
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const line = await new Promise((ok, fail) => {
      let out = '';
      child.stdout.on('data', (b) => {
        out += b;
        if (out.includes('\n')) ok(out.split('\n')[0]);
      });
      child.on('exit', (code) => fail(new Error(`mockoidc exited: ${code}`)));
    });
    return { ...JSON.parse(line), stop };
  } catch (e) {
    stop();
    throw e;
  }
}
