// A mail catcher for the end-to-end walk: an SMTP receiver on node:net that keeps every
// message it is handed (no TLS, no auth: the server under test is pointed at it with
// STRATA_SMTP_SECURITY=none), and a TOTP code generator (RFC 6238) for two-factor steps.
import net from 'node:net';
import { createHmac } from 'node:crypto';

// startMailCatcher listens on a free port of 127.0.0.1. Each message caught is
// {from, to, raw, subject, text}: text is its decoded parts, joined.
export async function startMailCatcher() {
  const messages = [];
  const waiting = new Set();
  const server = net.createServer((sock) => {
    sock.setEncoding('latin1');
    let buf = '';
    let data = null; // the message's lines while in DATA
    let env = { from: '', to: [] };
    const say = (line) => sock.write(line + '\r\n');
    say('220 e2e-mail ESMTP');
    sock.on('data', (chunk) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (data) {
          if (line !== '.') {
            data.push(line.startsWith('..') ? line.slice(1) : line);
            continue;
          }
          const m = { ...env, ...parse(Buffer.from(data.join('\r\n'), 'latin1').toString('utf8')) };
          messages.push(m);
          for (const w of waiting) w();
          data = null;
          env = { from: '', to: [] };
          say('250 queued');
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') say('250-e2e-mail\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 10485760');
        else if (verb === 'HELO') say('250 e2e-mail');
        else if (verb === 'MAIL') (env.from = /<([^>]*)>/.exec(line)?.[1] || ''), say('250 ok');
        else if (verb === 'RCPT') env.to.push(/<([^>]*)>/.exec(line)?.[1] || ''), say('250 ok');
        else if (verb === 'DATA') (data = []), say('354 end with .');
        else if (verb === 'QUIT') say('221 bye'), sock.end();
        else if (verb === 'RSET') (env = { from: '', to: [] }), say('250 ok');
        else if (verb === 'NOOP') say('250 ok');
        else say('502 not here');
      }
    });
    sock.on('error', () => {});
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    port: server.address().port,
    messages,
    // next waits for the first message (after skip of them) that matches.
    async next(match, { after = 0, timeout = 15000 } = {}) {
      const deadline = Date.now() + timeout;
      for (;;) {
        const m = messages.slice(after).find(match);
        if (m) return m;
        if (Date.now() > deadline) throw new Error(`no mail arrived that matches; caught: ${messages.map((x) => `${x.to} "${x.subject}"`).join(', ') || 'none'}`);
        await new Promise((ok) => {
          const done = () => (waiting.delete(done), clearTimeout(t), ok());
          const t = setTimeout(done, 250);
          waiting.add(done);
        });
      }
    },
    close: () => server.close(),
  };
}

// link is the first link in a message that contains part.
export function link(message, part) {
  const links = (message.text.match(/https?:\/\/[^\s"'<>]+/g) || []).map((l) => l.replace(/&amp;/g, '&'));
  const found = links.find((l) => l.includes(part));
  if (!found) throw new Error(`no link with ${part} in "${message.subject}": ${links.join(' ') || message.text.slice(0, 400)}`);
  return found;
}

// parse reads a message's headers and its text/* parts, decoded.
function parse(raw) {
  const { headers, body } = split(raw);
  return { raw, subject: words(headers.subject || ''), text: decode(headers, body).join('\n') };
}

function split(raw) {
  const at = raw.indexOf('\r\n\r\n');
  const head = at < 0 ? raw : raw.slice(0, at);
  const headers = {};
  for (const line of head.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const c = line.indexOf(':');
    if (c > 0) headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
  }
  return { headers, body: at < 0 ? '' : raw.slice(at + 4) };
}

function decode(headers, body) {
  const type = headers['content-type'] || 'text/plain';
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  if (/^multipart\//i.test(type) && boundary) {
    return body.split(`--${boundary}`).slice(1).filter((p) => !p.startsWith('--')).flatMap((part) => {
      const s = split(part.replace(/^\r\n/, ''));
      return decode(s.headers, s.body);
    });
  }
  if (!/^text\//i.test(type)) return [];
  const cte = (headers['content-transfer-encoding'] || '').toLowerCase();
  if (cte === 'base64') return [Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')];
  if (cte === 'quoted-printable') {
    const bytes = body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16)));
    return [Buffer.from(bytes, 'latin1').toString('utf8')];
  }
  return [body];
}

// words decodes RFC 2047 encoded words (=?UTF-8?q?…?= and =?UTF-8?b?…?=) in a header.
function words(h) {
  return h.replace(/=\?([^?]+)\?([qb])\?([^?]*)\?=\s*/gi, (_, cs, enc, text) =>
    enc.toLowerCase() === 'b'
      ? Buffer.from(text, 'base64').toString('utf8')
      : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (x, hx) => String.fromCharCode(parseInt(hx, 16))), 'latin1').toString('utf8'));
}

// totp is the RFC 6238 code (HMAC-SHA1, 30-second steps, 6 digits) of a base32 secret
// at a step (default: now's).
export function totp(secret, step = Math.floor(Date.now() / 30000)) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of secret.replace(/=+$/, '').toUpperCase()) {
    const v = alphabet.indexOf(ch);
    if (v < 0) throw new Error(`not base32: ${secret}`);
    bits += v.toString(2).padStart(5, '0');
  }
  const key = Buffer.from((bits.match(/.{8}/g) || []).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const h = createHmac('sha1', key).update(counter).digest();
  const o = h[h.length - 1] & 0xf;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1000000).padStart(6, '0');
}
