// The staff's web app in Debian's Chromium through playwright-core, at a phone and a
// desktop viewport: a professional sees exactly the fields a client granted, asks for more
// (offered only what the policy allows) and sees the client's answer, writes where the
// grant lets them, and is refused once the client revokes; an auditor finds the events in
// words and the log intact; an admin sees the staff. A professional sees a client's name
// only when it is granted, and never a piece of the client's id; an auditor sees staff by
// name, clients by a short reference, and is told a wrong filter next to its field. The client's side of each step goes
// through the JSON API here (their pages have tests of their own). axe-core runs on every
// page and error state; any Content-Security-Policy violation fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accessible, launch, noRawValues, person, startDemo } from './support.mjs';

// Does `action` and waits until the app has rendered a new page (a new heading, loaded).
async function afterRender(page, action) {
  await page.evaluate(() => { window.previousHeading = document.querySelector('main h1'); });
  await action();
  await page.waitForFunction(() => {
    const heading = document.querySelector('main h1');
    return heading && heading !== window.previousHeading && !document.querySelector('main').textContent.includes('Ladataan');
  });
}

const visit = (page, hash) => afterRender(page, () => page.evaluate((h) => { location.hash = h; }, hash));
const search = (page) => afterRender(page, () => page.getByRole('button', { name: 'Hae' }).click());

// A call to the JSON API from a signed-in page (with the session's CSRF token): the
// client's side of each step, and a professional's request.
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

      // Aino shares her goals with Tero, but not her name.
      const pro = await person(browser, demo.base, 'pro-employment', size);
      const aino = await person(browser, demo.base, 'client1', size);
      const ainoId = (await clientApi(aino, 'GET', '/api/v1/me')).id;
      const { code } = await clientApi(aino, 'POST', '/api/v1/me/pairing-codes');
      const until = new Date(Date.now() + 10 * 86400e3).toISOString();
      const asked = await clientApi(pro, 'POST', '/api/v1/access-requests', { pairing_code: code, fields: [{ path: 'needs.own_goals' }], actions: ['read'], purpose: { code: 'guidance' }, valid_until: until });
      await clientApi(aino, 'POST', '/api/v1/me/access-requests/' + asked.id + '/approve');
      const today = await pro.evaluate(() => fmtDate(new Date().toISOString()));

      // The list names Eero, whose grant covers his name, and Aino by the day her
      // permission began; no piece of a client's id is on screen.
      await visit(pro, '#/sent');
      await visit(pro, '#/clients');
      const cards = await pro.$$eval('main article h2', (els) => els.map((e) => e.textContent));
      assert.deepEqual(cards.sort(), ['Asiakas, lupa ' + today + ' alkaen', 'Eero Esimerkki']);
      assert.doesNotMatch(await pro.textContent('main'), /Aino/);
      assert.ok(!(await pro.textContent('body')).includes(ainoId.slice(0, 8)), 'a piece of the id is on screen');
      await accessible(pro, 'pro-clients', size);
      await noRawValues(pro, 'pro-clients');
      await afterRender(pro, () => pro.locator('article', { hasText: 'Asiakas, lupa' }).getByRole('link', { name: 'Avaa' }).click());
      assert.equal(await pro.textContent('main .lead'), 'Asiakas, lupa ' + today + ' alkaen');
      assert.doesNotMatch(await pro.textContent('main'), /Aino/);
      assert.ok(!(await pro.textContent('body')).includes(ainoId.slice(0, 8)), 'a piece of the id is on screen');
      // What the client wrote is said to be the client's (it was "Sinä", you).
      assert.match(await pro.textContent('main .field .meta'), /^Asiakkaan kirjoittama/);
      await accessible(pro, 'pro-record-unnamed', size);
      await noRawValues(pro, 'pro-record-unnamed');

      // The professional sees exactly the granted field, and the name it is.
      await visit(pro, '#/clients');
      await afterRender(pro, () => pro.locator('article', { hasText: 'Eero Esimerkki' }).getByRole('link', { name: 'Avaa' }).click());
      assert.equal(await pro.textContent('main .lead'), 'Eero Esimerkki');
      const labels = await pro.$$eval('main .field .label', (els) => els.map((e) => e.textContent));
      assert.deepEqual(labels, ['Nimi']);
      assert.doesNotMatch(await pro.textContent('main'), /trukkikortti/);
      await accessible(pro, 'pro-record', size);
      await noRawValues(pro, 'pro-record');
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
      // Staff by name and title, clients by a short reference, never a whole id.
      assert.match(events, /Tero Työllisyys, Työvalmentaja/);
      assert.match(events, new RegExp('asiakas ' + ainoId.slice(0, 8)));
      assert.ok(!events.includes(ainoId), 'a whole id is on screen');
      await accessible(auditor, 'auditor-events', size);
      await noRawValues(auditor, 'auditor-events');
      const rows = async (column) => auditor.$$eval('main table tbody tr', (trs, i) => trs.map((tr) => tr.children[i].textContent), column);

      // A professional is chosen by name.
      await auditor.selectOption('#q-professional', { label: 'Tero Työllisyys, Työvalmentaja' });
      await search(auditor);
      assert.deepEqual([...new Set(await rows(3))], ['Tero Työllisyys, Työvalmentaja']);
      assert.equal(await auditor.$eval('#q-professional', (s) => s.selectedOptions[0].textContent), 'Tero Työllisyys, Työvalmentaja');

      // A client by the reference the table shows (a link in the table fills it in).
      await afterRender(auditor, () => auditor.locator('main table a', { hasText: 'asiakas ' + ainoId.slice(0, 8) }).first().click());
      assert.equal(await auditor.inputValue('#q-client'), ainoId.slice(0, 8));
      assert.deepEqual([...new Set(await rows(2))], ['asiakas ' + ainoId.slice(0, 8)]);

      // A wrong reference, or a range that ends before it starts, is told next to its
      // field; the page, the filters and the table stay.
      await auditor.fill('#q-client', 'Aino');
      await auditor.getByRole('button', { name: 'Hae' }).click();
      await auditor.waitForSelector('#q-client-error:not([hidden])');
      assert.match(await auditor.textContent('#q-client-error'), /8 merkkiä/);
      assert.equal(await auditor.getAttribute('#q-client', 'aria-invalid'), 'true');
      assert.match(await auditor.getAttribute('#q-client', 'aria-describedby'), /q-client-error/);
      assert.ok(await auditor.locator('main table tbody tr').count() > 0);
      await accessible(auditor, 'auditor-bad-client', size);
      await noRawValues(auditor, 'auditor-bad-client');
      await auditor.fill('#q-client', '');
      await auditor.selectOption('#q-professional', '');
      await auditor.fill('#q-from', '2026-12-02');
      await auditor.fill('#q-to', '2026-12-01');
      await auditor.getByRole('button', { name: 'Hae' }).click();
      await auditor.waitForSelector('#q-to-error:not([hidden])');
      assert.match(await auditor.textContent('#q-to-error'), /ennen alkamispäivää/);
      assert.equal(await auditor.locator('#q-client-error:not([hidden])').count(), 0);
      await accessible(auditor, 'auditor-bad-range', size);
      // What the server refuses (an address typed by hand) is told the same way.
      await visit(auditor, '#/events?client=zz');
      assert.ok(await auditor.isVisible('#q-client-error'));
      assert.ok(await auditor.locator('main h1').count() === 1);
      assert.equal(await auditor.locator('main > div > p.error').count(), 0);
      await noRawValues(auditor, 'auditor-refused-filter');

      // One day is a range too: today, from its start to its end in Finnish time.
      await visit(auditor, '#/events');
      const day = await auditor.evaluate(() => helsinkiDay(new Date().toISOString()));
      await auditor.fill('#q-from', day);
      await auditor.fill('#q-to', day);
      await search(auditor);
      assert.ok(await auditor.locator('main table tbody tr').count() > 0);
      assert.equal(await auditor.inputValue('#q-from'), day);
      assert.equal(await auditor.locator('#status .error').count(), 0);
      assert.equal(await auditor.locator('.error:not([hidden])').count(), 0);

      const admin = await person(browser, demo.base, 'admin', size);
      await admin.waitForSelector('main table');
      assert.match(await admin.textContent('main'), /Pirjo Nuorisotyö/);
      await accessible(admin, 'admin-staff', size);
      // The web app's texts come from the same Fluent files as the pages, in each language.
      await admin.getByRole('link', { name: 'På svenska' }).click();
      await admin.waitForFunction(() => document.querySelector('main h1')?.textContent === 'Organisationens personal');
      assert.equal(await admin.evaluate(() => document.documentElement.lang), 'sv');
      await accessible(admin, 'admin-staff-sv', size);
    } finally {
      await browser.close();
      await demo.stop();
    }
  });
}
