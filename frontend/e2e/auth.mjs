// The auth flows of issue 21, walked in the UI as part of run.mjs: the mail server, a
// test mail, templates and the sign-in policy on the Access screen; an admin held to
// two-factor setting it up on the account screen, then signing in with a code and with
// a recovery code; a session ended; a password reset and an invite by their mailed
// links; an email verification; sign-in with an OpenID Connect provider (scripts/mockoidc):
// refused, then a new user, then with the two-factor step. Mail is read from the
// walk's SMTP catcher; TOTP codes are computed here (RFC 6238).
import { join } from 'node:path';
import { link, totp } from './mail.mjs';

// authSteps runs after the main walk: tenant acme exists, user@example.com signs in to
// its data app (the authenticated role reads posts), and page is the platform admin's.
export async function authSteps({ browser, page, base, catcher, oidc, shots, step, audit, allowed, consoleError, errors }) {
  // The auth flows. Mail arrives at the catcher; the admin's token is read anew for each
  // call (the page refreshes it as it goes).
  const acme = async (method, path, body, retried) => {
    const s = await page.evaluate(() => JSON.parse(localStorage.getItem('strata.session')));
    const r = await fetch(`${base}/api/t/acme${path}`, { method, headers: { authorization: `Bearer ${s.access}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
    if (r.status === 401 && !retried) {
      // The walk is long: an expired token is refreshed as the UI would.
      const t = await fetch(`${base}/api/auth/refresh`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: s.refresh }) });
      if (!t.ok) throw new Error(`refresh: ${t.status} ${await t.text()}`);
      const d = (await t.json()).data;
      await page.evaluate((n) => localStorage.setItem('strata.session', JSON.stringify(n)), { ...s, access: d.access_token, refresh: d.refresh_token });
      return acme(method, path, body, true);
    }
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
    return r.status === 204 ? null : r.json();
  };
  // code is a TOTP code of secret no older than the last one used with it: each code
  // is good once, and the server accepts the next step's too.
  const lastStep = {};
  const code = async (secret) => {
    for (;;) {
      const now = Math.floor(Date.now() / 30000);
      const at = Math.max(now, (lastStep[secret] ?? -1) + 1);
      if (at <= now + 1) {
        lastStep[secret] = at;
        return totp(secret, at);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  };
  const fresh = async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const p = await ctx.newPage();
    p.on('console', consoleError);
    p.on('pageerror', (e) => errors.push(String(e)));
    return p;
  };
  // signIn fills the sign-in form of a tenant (its address names the tenant).
  const signIn = async (p, email, pass) => {
    await p.getByRole('heading', { name: 'Sign in to Strata' }).waitFor();
    if ((await p.getByLabel(/^Tenant/).inputValue()) !== 'acme') throw new Error('the sign-in form does not name the tenant of its address');
    await p.getByLabel('Email').fill(email);
    await p.getByLabel('Password').fill(pass);
    await p.getByRole('button', { name: 'Sign in', exact: true }).click();
  };

  step('auth settings: the mail server, a test mail, templates and the sign-in policy');
  await page.goto(base + '/#/t/acme/access');
  await page.reload(); // afresh, also when it was open already
  const mailServer = page.getByRole('form', { name: 'Mail server' });
  await mailServer.getByLabel('SMTP host').fill('not a host!');
  allowed.push(/status of 400/);
  await mailServer.getByRole('button', { name: 'Save mail server' }).click();
  await page.locator('#smtp-host-error').waitFor();
  allowed.pop();
  await mailServer.getByLabel('SMTP host').fill('127.0.0.1');
  await mailServer.getByLabel('Port').fill('1'); // nothing listens there: the test mail fails
  await mailServer.getByLabel('Security').selectOption('none');
  await mailServer.getByLabel('From').fill('Acme <acme@example.com>');
  const smtpSecret = 'e2e-Smtp-Secret-5521';
  await mailServer.getByLabel('Password').fill(smtpSecret);
  await mailServer.getByRole('button', { name: 'Save mail server' }).click();
  await mailServer.getByRole('status').getByText('Saved.').waitFor();
  await mailServer.getByText('A password is set.').waitFor();
  if ((await mailServer.getByLabel('Password').inputValue()) !== '' || (await page.content()).includes(smtpSecret)) throw new Error('the SMTP password is shown after saving');
  await mailServer.getByLabel('remove it').check();
  await mailServer.getByRole('button', { name: 'Save mail server' }).click();
  await mailServer.getByText('A password is set.').waitFor({ state: 'detached' });
  const testMail = page.getByRole('form', { name: 'Send a test mail' });
  await testMail.getByLabel('Send a test mail to').fill('test@example.com');
  allowed.push(/status of 502/);
  await testMail.getByRole('button', { name: 'Send test mail' }).click();
  await page.getByRole('alert').getByText(/could not be sent/).waitFor();
  allowed.pop();
  await mailServer.getByLabel('Port').fill(String(catcher.port));
  await mailServer.getByRole('button', { name: 'Save mail server' }).click();
  await mailServer.getByRole('status').getByText('Saved.').waitFor();
  const before = catcher.messages.length;
  await testMail.getByRole('button', { name: 'Send test mail' }).click();
  await testMail.getByRole('status').getByText('Sent to test@example.com.').waitFor();
  const tested = await catcher.next((m) => m.to.includes('test@example.com'), { after: before });
  if (!/^Test mail from/.test(tested.subject) || !tested.raw.includes('acme@example.com')) throw new Error(`the test mail: "${tested.subject}" from ${tested.from}`);
  // A template of the tenant's own: the reset mail below arrives in its words.
  const templates = page.getByRole('form', { name: 'Mail templates' });
  await templates.locator('input[name="template-password-reset-subject"]').fill('Reset your {{project_name}} password');
  allowed.push(/status of 400/);
  await templates.getByRole('button', { name: 'Save templates' }).click();
  await page.locator('#template-password-reset-error').waitFor(); // a subject without its HTML
  allowed.pop();
  await templates.locator('textarea[name="template-password-reset-html"]').fill('<p>Hello {{email}}: <a href="{{url}}">choose a new password</a>.</p>');
  await templates.getByRole('button', { name: 'Save templates' }).click();
  await templates.getByRole('status').getByText('Saved.').waitFor();
  // The policy: admins need two-factor; * is refused as a redirect origin.
  const policy = page.getByRole('form', { name: 'Sign-in policy' });
  await policy.getByLabel(/admins must sign in with two-factor/).check();
  await policy.getByLabel(/^Origins that reset/).fill('*');
  allowed.push(/status of 400/);
  await policy.getByRole('button', { name: 'Save sign-in policy' }).click();
  await page.locator('#auth-redirect-origins-error').waitFor();
  allowed.pop();
  await policy.getByLabel(/^Origins that reset/).fill('https://App.Example.com');
  await policy.getByRole('button', { name: 'Save sign-in policy' }).click();
  await policy.getByRole('status').getByText('Saved.').waitFor();
  if ((await policy.getByLabel(/^Origins that reset/).inputValue()) !== 'https://app.example.com') throw new Error('the redirect origins as saved');
  const st = (await acme('GET', '/settings')).data;
  if (!st.require_admin_tfa || st.smtp.port !== catcher.port || st.smtp.security !== 'none' || st.smtp.password_set) throw new Error(`settings as saved: ${JSON.stringify(st)}`);
  await page.getByRole('heading', { name: 'Mail', exact: true }).scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(shots, 'access-auth.png'), fullPage: true });
  await audit(page, 'access with the auth settings');

  step('two-factor: an admin held to it sets it up on the account screen, then signs in with a code');
  const adminRole = (await acme('GET', '/roles')).data.find((r) => r.name === 'admin').id;
  await acme('POST', '/users', { email: 'boss@example.com', password: 'Boss-pass-123!', role: adminRole });
  const boss = await fresh();
  await boss.goto(base + '/#/t/acme');
  await signIn(boss, 'boss@example.com', 'Boss-pass-123!');
  await boss.getByRole('heading', { name: 'Your account' }).waitFor();
  await boss.getByRole('alert').getByText(/acme requires admins to sign in with two-factor/).waitFor();
  if (await boss.getByRole('navigation', { name: 'Tenant' }).getByRole('link').count()) throw new Error('an admin held to two-factor is offered the admin screens');
  await boss.goto(base + '/#/t/acme/tables');
  await boss.waitForURL(/#\/t\/acme\/account$/);
  await boss.getByRole('button', { name: 'Set up two-factor' }).click();
  const secret = await boss.locator('input[name="tfa-secret"]').inputValue();
  if (!/^[A-Z2-7]{16,}=*$/.test(secret)) throw new Error(`the secret shown: ${secret}`);
  if (!(await boss.getByLabel('otpauth link').inputValue()).startsWith('otpauth://totp/')) throw new Error('the otpauth link is not shown');
  const first2fa = await code(secret);
  await boss.locator('input[name="tfa-code"]').fill(first2fa === '123456' ? '654321' : '123456');
  allowed.push(/status of 401/);
  await boss.getByRole('button', { name: 'Turn two-factor on' }).click();
  await boss.locator('#tfa-code-error').waitFor();
  allowed.pop();
  await boss.locator('input[name="tfa-code"]').fill(first2fa);
  await boss.getByRole('button', { name: 'Turn two-factor on' }).click();
  await boss.getByRole('heading', { name: 'Save these recovery codes now' }).waitFor();
  const recovery = await boss.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem').allTextContents();
  if (recovery.length !== 10) throw new Error(`${recovery.length} recovery codes shown`);
  await boss.screenshot({ path: join(shots, 'account-tfa.png'), fullPage: true });
  await audit(boss, 'account: recovery codes');
  await boss.getByRole('button', { name: 'I have saved them' }).click();
  // A full session now: by a refreshed token, or by signing in again with a code.
  const bossTables = boss.getByRole('navigation', { name: 'Tenant' }).getByRole('link', { name: 'Tables' });
  const again = boss.getByRole('heading', { name: 'Sign in to Strata' });
  await Promise.race([bossTables.waitFor(), again.waitFor()]);
  if (await again.isVisible()) {
    await boss.getByRole('status').getByText(/Two-factor is on/).waitFor();
    allowed.push(/status of 401/);
    await signIn(boss, 'boss@example.com', 'Boss-pass-123!');
    await boss.getByLabel(/^Code from your authenticator app/).fill(await code(secret));
    await boss.getByRole('button', { name: 'Verify' }).click();
    allowed.pop();
    await bossTables.waitFor();
  }
  // Signed out, the password alone is not enough: the code step, a wrong code, the code.
  await boss.getByRole('button', { name: 'Sign out' }).click();
  allowed.push(/status of 401/);
  await signIn(boss, 'boss@example.com', 'Boss-pass-123!');
  await boss.getByRole('heading', { name: 'Two-factor sign-in' }).waitFor();
  await boss.screenshot({ path: join(shots, 'login-otp.png') });
  await audit(boss, 'sign-in: the code step');
  const good = await code(secret);
  await boss.getByLabel(/^Code from your authenticator app/).fill(good === '000000' ? '111111' : '000000');
  await boss.getByRole('button', { name: 'Verify' }).click();
  await boss.getByRole('alert').getByText(/That code is not right/).waitFor();
  await boss.getByLabel(/^Code from your authenticator app/).fill(good);
  await boss.getByRole('button', { name: 'Verify' }).click();
  await bossTables.waitFor();
  allowed.pop();
  // A recovery code signs in once, in a second browser: a second session.
  const boss2 = await fresh();
  await boss2.goto(base + '/#/t/acme');
  allowed.push(/status of 401/);
  await signIn(boss2, 'boss@example.com', 'Boss-pass-123!');
  await boss2.getByLabel(/^Code from your authenticator app/).fill(recovery[0]);
  await boss2.getByRole('button', { name: 'Verify' }).click();
  await boss2.getByRole('navigation', { name: 'Tenant' }).getByRole('link', { name: 'Tables' }).waitFor();
  allowed.pop();

  step('sessions: the second one ended from the account screen');
  await boss.getByRole('link', { name: 'Account' }).click();
  const sessionRows = boss.getByRole('table', { name: 'Sessions' }).locator('tbody tr');
  await boss.getByRole('table', { name: 'Sessions' }).getByText('this session').waitFor();
  const count = await sessionRows.count();
  if (count < 2) throw new Error(`${count} sessions listed, not 2`);
  const other = sessionRows.filter({ hasNot: boss.getByText('this session') }).first();
  await other.getByRole('button', { name: /^End the session/ }).click();
  await other.getByRole('button', { name: /^Confirm: end the session/ }).click();
  await boss.waitForFunction((n) => document.querySelectorAll('table[aria-label="Sessions"] tbody tr').length === n - 1, count);
  await audit(boss, 'account');
  allowed.push(/status of 401/);
  const ended = await boss2.evaluate(async () => {
    const s = JSON.parse(localStorage.getItem('strata.session'));
    return (await fetch('/api/t/acme/users/me', { headers: { Authorization: `Bearer ${s.access}` } })).status;
  });
  allowed.pop();
  if (ended !== 401) throw new Error(`the ended session's token answers ${ended}`);
  await boss2.context().close();
  // Without the policy, two-factor can be turned off again, with a code.
  await acme('PATCH', '/settings', { require_admin_tfa: false });
  await boss.getByLabel('Current code or a recovery code').fill(await code(secret));
  await boss.getByRole('button', { name: 'Turn two-factor off' }).click();
  await boss.getByRole('button', { name: 'Set up two-factor' }).waitFor();
  await boss.context().close();

  step('forgot password: the mailed link, a new password, sign in with it');
  const reader = await fresh();
  await reader.goto(base + '/#/t/acme');
  await reader.getByRole('button', { name: 'Forgot your password?' }).click();
  await reader.getByLabel('Email').fill('user@example.com');
  let mark = catcher.messages.length;
  await reader.getByRole('button', { name: 'Send reset link' }).click();
  await reader.getByRole('status').getByText(/If an account with user@example.com exists at acme, a link/).waitFor();
  const resetMail = await catcher.next((m) => m.to.includes('user@example.com'), { after: mark });
  if (resetMail.subject !== 'Reset your acme password' && !/^Reset your .* password$/.test(resetMail.subject)) throw new Error(`the reset mail's subject: ${resetMail.subject}`);
  const resetLink = link(resetMail, '/reset-password?token=');
  if (!resetLink.startsWith(`${base}/#/t/acme/reset-password?token=`)) throw new Error(`the reset link: ${resetLink}`);
  await reader.goto(resetLink);
  await reader.getByRole('heading', { name: 'Choose a new password' }).waitFor();
  await reader.getByLabel('New password', { exact: true }).fill('User-pass-456!');
  await reader.locator('input[name="confirm-password"]').fill('User-pass-457!');
  await reader.getByRole('button', { name: 'Set the password' }).click();
  await reader.locator('#confirm-password-error').waitFor();
  await reader.screenshot({ path: join(shots, 'reset-password.png') });
  await audit(reader, 'reset password');
  await reader.locator('input[name="confirm-password"]').fill('User-pass-456!');
  await reader.getByRole('button', { name: 'Set the password' }).click();
  await reader.getByRole('status').getByText('Your password is changed: sign in with the new one.').waitFor();
  await signIn(reader, 'user@example.com', 'User-pass-456!');
  await reader.getByRole('table', { name: 'Rows of posts' }).waitFor();
  // The link works once.
  await reader.goto(resetLink);
  await reader.getByLabel('New password', { exact: true }).fill('User-pass-789!');
  await reader.locator('input[name="confirm-password"]').fill('User-pass-789!');
  allowed.push(/status of 40[01]/);
  await reader.getByRole('button', { name: 'Set the password' }).click();
  await reader.getByRole('alert').getByText('This link has expired or was used already.').waitFor();
  allowed.pop();
  await reader.context().close();

  step('invite: the mailed link, a password, sign in as the new user');
  await page.goto(base + '/#/t/acme/access');
  await page.reload(); // afresh, also when it was open already
  // The mail log lists the reset mail, sent.
  await page.getByRole('table', { name: 'Latest mail' }).getByRole('row').filter({ has: page.getByRole('cell', { name: 'user@example.com' }) }).getByText('sent').first().waitFor();
  const inviteForm = page.getByRole('form', { name: 'Invite a user' });
  await inviteForm.getByLabel('Email').fill('new@example.com');
  mark = catcher.messages.length;
  await inviteForm.getByRole('button', { name: 'Invite' }).click();
  await inviteForm.getByRole('status').getByText('Invited new@example.com').waitFor();
  if ((await page.getByRole('table', { name: 'Users' }).getByLabel('Status of new@example.com').inputValue()) !== 'invited') throw new Error('the invited user is not listed as invited');
  const inviteMail = await catcher.next((m) => m.to.includes('new@example.com'), { after: mark });
  const joiner = await fresh();
  await joiner.goto(link(inviteMail, '/accept-invite?token='));
  await joiner.getByRole('heading', { name: 'Join acme' }).waitFor();
  await audit(joiner, 'accept an invite');
  await joiner.getByLabel('New password', { exact: true }).fill('New-pass-123!');
  await joiner.getByLabel('Confirm the password').fill('New-pass-123!');
  await joiner.getByRole('button', { name: 'Create my account' }).click();
  await joiner.getByRole('status').getByText(/Your account is ready/).waitFor();
  await signIn(joiner, 'new@example.com', 'New-pass-123!');
  await joiner.getByRole('table', { name: 'Rows of posts' }).waitFor();
  await joiner.context().close();

  step('email verification: a sign-up confirms its address by the mailed link');
  await acme('PATCH', '/settings', { allow_signup: true, require_email_verification: true });
  mark = catcher.messages.length;
  const signup = await fetch(`${base}/api/t/acme/users/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'fresh@example.com', password: 'Fresh-pass-123!' }) });
  if (signup.status !== 204) throw new Error(`sign-up: ${signup.status} ${await signup.text()}`);
  const verifyMail = await catcher.next((m) => m.to.includes('fresh@example.com'), { after: mark });
  const verifier = await fresh();
  await verifier.goto(link(verifyMail, '/verify-email?token='));
  await verifier.getByRole('status').getByText('Your email address is verified').waitFor();
  await audit(verifier, 'email verified');
  await verifier.getByRole('link', { name: 'Sign in to acme' }).click();
  await signIn(verifier, 'fresh@example.com', 'Fresh-pass-123!');
  await verifier.getByRole('table', { name: 'Rows of posts' }).waitFor();
  await verifier.context().close();

  if (!oidc) return;
  step('sign-in with a provider: a refused sign-up, a new user, then the two-factor step');
  await page.goto(base + '/#/t/acme/access');
  await page.reload(); // afresh, also when it was open already
  // The provider's answer comes back to this UI's origin, which the policy must list.
  const policy2 = page.getByRole('form', { name: 'Sign-in policy' });
  await policy2.getByRole('button', { name: `Add ${base}` }).click();
  await policy2.getByRole('button', { name: 'Save sign-in policy' }).click();
  await policy2.getByRole('status').getByText('Saved.').waitFor();
  const addProvider = page.getByRole('form', { name: 'Add a provider' });
  await addProvider.getByLabel('Name', { exact: true }).fill('mock');
  await addProvider.getByLabel('Button label').fill('Mock ID');
  await addProvider.getByLabel('Issuer URL').fill(oidc.issuer);
  await addProvider.getByLabel('Client ID').fill(oidc.client_id);
  await addProvider.getByLabel('Client secret').fill(oidc.client_secret);
  await addProvider.getByRole('button', { name: 'Add provider' }).click();
  const providerRow = page.getByRole('table', { name: 'Providers' }).getByRole('row').filter({ has: page.getByRole('cell', { name: 'mock', exact: true }) });
  await providerRow.getByText('secret set').waitFor();
  if ((await page.content()).includes(oidc.client_secret)) throw new Error('the client secret is in the page');
  const jane = await fresh();
  await jane.goto(base + '/#/t/acme');
  const withMock = jane.getByRole('button', { name: 'Sign in with Mock ID' });
  await withMock.waitFor();
  await jane.screenshot({ path: join(shots, 'login-providers.png') });
  await audit(jane, 'sign-in with a provider button');
  // Sign-up through the provider is off: the refusal comes back to the form.
  await withMock.click();
  await jane.getByRole('alert').getByText(/SIGNUP_DISABLED/).waitFor();
  if (jane.url().includes('error=')) throw new Error(`the refusal stays in the address: ${jane.url()}`);
  await providerRow.getByRole('button', { name: 'Edit provider mock' }).click();
  const editProvider = page.getByRole('form', { name: 'Edit provider mock' });
  if ((await editProvider.getByLabel('Issuer URL').inputValue()) !== oidc.issuer) throw new Error('the edit form does not hold the issuer');
  await editProvider.getByLabel(/create an account for a new user/).check();
  await editProvider.getByRole('button', { name: 'Save provider' }).click();
  await page.getByRole('status').getByText('Saved mock.').waitFor();
  await providerRow.getByText('new users sign up').waitFor();
  await page.locator('section[aria-labelledby="providers"]').screenshot({ path: join(shots, 'access-providers.png') });
  await audit(page, 'access with a provider');
  // Now the provider's user gets an account and the data app, and the tokens leave the address.
  await withMock.click();
  await jane.getByRole('table', { name: 'Rows of posts' }).waitFor();
  if (jane.url().includes('token')) throw new Error(`the tokens stay in the address: ${jane.url()}`);
  // With two-factor on, the provider's sign-in asks for the code.
  await jane.getByRole('link', { name: 'Account' }).click();
  await jane.getByRole('button', { name: 'Set up two-factor' }).click();
  const janeSecret = await jane.locator('input[name="tfa-secret"]').inputValue();
  await jane.locator('input[name="tfa-code"]').fill(await code(janeSecret));
  await jane.getByRole('button', { name: 'Turn two-factor on' }).click();
  await jane.getByRole('button', { name: 'I have saved them' }).click();
  await jane.getByText('On.', { exact: true }).waitFor();
  await jane.getByRole('button', { name: 'Sign out' }).click();
  await withMock.click();
  await jane.getByRole('heading', { name: 'Two-factor sign-in' }).waitFor();
  await jane.getByText(/Signed in with mock at acme/).waitFor();
  if (jane.url().includes('otp_ticket')) throw new Error(`the ticket stays in the address: ${jane.url()}`);
  await jane.getByLabel(/^Code from your authenticator app/).fill(await code(janeSecret));
  await jane.getByRole('button', { name: 'Verify' }).click();
  await jane.getByRole('table', { name: 'Rows of posts' }).waitFor();
  await jane.context().close();
}
