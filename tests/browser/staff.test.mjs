// The staff's web app in Debian's Chromium through playwright-core, at a phone and a
// desktop viewport: a professional sees exactly the fields a client granted, asks for more
// (offered only what the policy allows) and sees the client's answer, writes where the
// grant lets them, and is refused once the client revokes; an auditor finds the events in
// words and the log intact; an admin sees the staff. The client's side of each step goes
// through the JSON API here (their pages have tests of their own). axe-core runs on every
// page and error state; any Content-Security-Policy violation fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accessible, launch, person, startDemo } from './support.mjs';

async function visit(page, hash) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await page.waitForFunction(() => !document.querySelector('main').textContent.includes('Ladataan'));
}

// A client's call to the JSON API from their signed-in page (with the session's CSRF token).
async function clientApi(page, method, path, body) {
  return page.evaluate(async ([method, path, body]) => {
    const me = await (await fetch('/api/v1/me')).json();
    const headers = { 'x-csrf-token': me.csrf_token, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    if (!response.ok) throw new Error(method + ' ' + path + ': ' + response.status + ' ' + text);
    return text ? JSON.parse(text) : null;
  }, [method, path, body]);
}

for (const size of ['phone', 'desktop']) {
  test(`the staff's journeys in the browser (${size})`, async () => {
    const demo = await startDemo();
    const browser = await launch();
    try {
      // Eero answers Tero's pending request, sharing less (his own page for it is tested
      // elsewhere).
      const client = await person(browser, demo.base, 'client2', size);
      const pending = (await clientApi(client, 'GET', '/api/v1/me/access-requests')).filter((r) => r.current_status === 'pending');
      assert.equal(pending.length, 1);
      await clientApi(client, 'POST', '/api/v1/me/access-requests/' + pending[0].id + '/approve', { fields: [{ path: 'identity.name' }] });

      // The professional sees exactly the granted field.
      const pro = await person(browser, demo.base, 'pro-employment', size);
      await accessible(pro, 'pro-clients', size);
      await pro.getByRole('link', { name: 'Avaa' }).click();
      await pro.waitForSelector('main .field');
      const labels = await pro.$$eval('main .field .label', (els) => els.map((e) => e.textContent));
      assert.deepEqual(labels, ['Nimi']);
      assert.match(await pro.textContent('main'), /Eero Esimerkki/);
      assert.doesNotMatch(await pro.textContent('main'), /trukkikortti/);
      await accessible(pro, 'pro-record', size);
      const recordUrl = pro.url();
      await visit(pro, '#/ask');
      await accessible(pro, 'pro-ask', size);
      // A chosen day lasts until its end in Finnish time, in winter and in summer, and an
      // instant is shown on its Finnish day.
      assert.equal(await pro.evaluate(() => endOfDay('2027-01-15')), '2027-01-15T21:59:59.000Z');
      assert.equal(await pro.evaluate(() => endOfDay('2027-07-15')), '2027-07-15T20:59:59.000Z');
      assert.equal(await pro.evaluate(() => endOfDay('2027-03-28')), '2027-03-28T20:59:59.000Z');
      assert.equal(await pro.evaluate(() => helsinkiDay('2027-01-15T22:30:00Z')), '2027-01-16');
      assert.equal(await pro.evaluate(() => fmtDate('2027-01-15T21:59:59Z')), '15.1.2027');

      // The professional sees what became of the requests they sent, and is offered only
      // the fields the policy lets them be shared (no health data for employment services).
      await visit(pro, '#/sent');
      assert.match(await pro.textContent('main'), /hyväksytty/i);
      await accessible(pro, 'pro-sent', size);
      await visit(pro, '#/ask');
      assert.ok(await pro.locator('input[name=ask-field][value="identity.name"]').count() === 1);
      assert.equal(await pro.locator('input[name=ask-field][value^="health."]').count(), 0);
      // An error in the status bar is readable too (it was dark red on near-black).
      await pro.fill('#ask-code', 'AAAAA-AAAAA');
      await pro.getByRole('button', { name: 'Lähetä pyyntö' }).click();
      await pro.waitForSelector('#status p.error');
      await accessible(pro, 'pro-ask-error', size);

      // The client stops the grant; the professional's next view is refused.
      const grants = (await clientApi(client, 'GET', '/api/v1/me/grants')).filter((g) => g.state === 'active');
      for (const grant of grants) await clientApi(client, 'DELETE', '/api/v1/me/grants/' + grant.id);
      await pro.goto(recordUrl);
      await pro.waitForSelector('main [role=alert]');
      assert.match(await pro.textContent('main'), /Ei pääsyä/);
      // Signing out ends on a page that says so, without the staff's menu.
      await pro.getByRole('button', { name: 'Kirjaudu ulos' }).click();
      await pro.waitForURL((url) => url.pathname === '/signed-out');
      assert.equal(await pro.locator('#nav a').count(), 0);
      await accessible(pro, 'signed-out', size);

      // The auditor finds the permit and the deny, and the log is intact.
      const auditor = await person(browser, demo.base, 'auditor', size);
      await auditor.waitForSelector('main table tbody tr');
      const events = await auditor.textContent('main table');
      // Codes are shown as words (they were `access`, `permit`, `deny`).
      assert.match(events, /Tietojen käyttö/);
      assert.match(events, /sallittu/);
      assert.match(events, /estetty/);
      assert.doesNotMatch(events, /\b(access|permit|deny|read|write)\b/);
      assert.match(await auditor.textContent('main'), /Loki on eheä/);
      await accessible(auditor, 'auditor-events', size);
      // One day is a range too: today, from its start to its end in Finnish time.
      const today = await auditor.evaluate(() => helsinkiDay(new Date().toISOString()));
      await auditor.fill('#q-from', today);
      await auditor.fill('#q-to', today);
      await auditor.getByRole('button', { name: 'Hae' }).click();
      await auditor.waitForFunction(() => location.hash.includes('from='));
      await auditor.waitForSelector('main table tbody tr');
      assert.equal(await auditor.inputValue('#q-from'), today);
      assert.equal(await auditor.locator('#status .error').count(), 0);

      const admin = await person(browser, demo.base, 'admin', size);
      await admin.waitForSelector('main table');
      assert.match(await admin.textContent('main'), /Pirjo Nuorisotyö/);
      await accessible(admin, 'admin-staff', size);
    } finally {
      await browser.close();
      await demo.stop();
    }
  });
}
