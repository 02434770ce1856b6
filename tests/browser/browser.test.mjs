// OmaData's web pages in Debian's Chromium through playwright-core, at a phone and a
// desktop viewport: a client answers a request, a professional sees exactly the granted
// fields, the client revokes and the professional's next view is refused, the client
// sees the access in the timeline, and an auditor finds both events. axe-core runs on
// every page (WCAG 2.1 A and AA rules), and on an error in the status bar; any
// Content-Security-Policy violation fails. The Suomi.fi tokens and the Source Sans 3
// font must arrive from the gateway.
//
// OMADATA_BIN: the omadata binary (scripts/test.sh builds it).
// OMADATA_SCREENSHOTS=dir: also save screenshots there (docs/screenshots in the repo).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accessible, launch, noRawValues, person, startDemo, suomiFiLook } from './support.mjs';

async function visit(page, hash) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await page.waitForFunction(() => !document.querySelector('main').textContent.includes('Ladataan'));
}

for (const size of ['phone', 'desktop']) {
  test(`consent round trip in the browser (${size})`, async () => {
    const demo = await startDemo();
    const browser = await launch();
    try {
      // The sign-in page.
      // A browser set to Swedish (sv-FI) is answered in Swedish before anyone chooses.
      const swedish = await (await browser.newContext({ viewport: { width: VIEWPORTS[size].width, height: VIEWPORTS[size].height }, locale: 'sv-FI' })).newPage();
      await swedish.goto(demo.base + '/');
      await swedish.waitForSelector('main h1');
      assert.match(await swedish.textContent('main h1'), /Dina egna uppgifter/);
      await swedish.context().close();

      const anonymous = await (await browser.newContext({ viewport: { width: VIEWPORTS[size].width, height: VIEWPORTS[size].height }, locale: 'fi-FI' })).newPage();
      anonymous.cspViolations = [];
      anonymous.on('console', (m) => { if (/Content.Security.Policy/i.test(m.text())) anonymous.cspViolations.push(m.text()); });
      await anonymous.goto(demo.base + '/');
      await anonymous.waitForSelector('main h1');
      assert.match(await anonymous.textContent('main h1'), /Omat tietosi/);
      // Nobody is signed in: no sign-out, no name.
      assert.equal(await anonymous.isVisible('#logout'), false, 'sign-out shows when nobody is signed in');
      assert.equal(await anonymous.isVisible('#who'), false);
      await noRawValues(anonymous, 'sign-in');
      await accessible(anonymous, 'sign-in', size);
      await suomiFiLook(anonymous);

      // The client sees their data and answers the pending request, sharing less.
      const client = await person(browser, demo.base, 'client2', size);
      assert.match(await client.textContent('main'), /Eero Esimerkki/);
      // Each field says in plain words what it is, under its label.
      const debtsHelp = await client.$$eval('main .field', (els) => els
        .filter((e) => e.querySelector('.label').textContent === 'Velat').map((e) => e.querySelector('.help').textContent));
      assert.deepEqual(debtsHelp, ['Onko sinulla maksamattomia laskuja tai lainoja?']);
      // Who is signed in, and their role as a word, are in the header with sign-out.
      assert.equal(await client.textContent('#who'), 'Kirjautuneena: Eero Esimerkki, asiakas');
      assert.equal(await client.isVisible('#logout'), true);
      // A date the client writes reads as a Finnish date.
      await client.getByRole('button', { name: 'Lisää: Seuraava tapaaminen' }).click();
      await client.fill('#edit-plan-next_meeting', '2027-01-15');
      await client.getByRole('button', { name: 'Tallenna' }).click();
      await client.waitForFunction(() => document.querySelector('#status').textContent.includes('Tallennettu'));
      await client.waitForFunction(() => document.querySelector('main').textContent.includes('15.1.2027'));
      // Every choice in the catalogue reads as a word in each language, never as its code
      // (in English the word may be the code itself).
      const choices = await client.evaluate(() => LANGUAGES.flatMap((lang) => app.fields.filter((f) => f.type.kind === 'choice')
        .flatMap((f) => f.type.options.map((o) => { app.lang = lang; const shown = formatValue(o, f); app.lang = 'fi'; return [lang, o, shown]; }))));
      assert.ok(choices.length > 0);
      for (const [lang, code, shown] of choices) assert.ok(!shown.startsWith('choice_') && (lang === 'en' || shown !== code), `${code} in ${lang} reads "${shown}"`);
      assert.equal(await client.evaluate(() => formatValue('study', app.byPath.get('encounters.service_end_reason'))), 'opiskelu');
      await noRawValues(client, 'client-data');
      await accessible(client, 'client-data', size);
      await visit(client, '#/requests');
      assert.match(await client.textContent('main'), /Tero Työllisyys/);
      await noRawValues(client, 'client-requests');
      await accessible(client, 'client-requests', size);
      await client.getByRole('button', { name: 'Hyväksy vähemmän' }).click();
      await client.getByLabel('Osaaminen ja taidot').uncheck();
      await client.getByRole('button', { name: 'Hyväksy valitut' }).click();
      await client.waitForSelector('#status p');
      assert.match(await client.textContent('#status'), /Hyväksytty/);
      await noRawValues(client, 'client-requests (answered)');

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

      // A request with the right to change says so, and approving less can take it off
      // (a second press of "approve less" opens no second form).
      const code = await client.evaluate(() => api('POST', '/api/v1/me/pairing-codes'));
      await pro.evaluate((pairing) => api('POST', '/api/v1/access-requests', {
        pairing_code: pairing, fields: [{ path: 'identity.phone' }], actions: ['read', 'write'],
        purpose: { code: 'guidance' }, valid_until: new Date(Date.now() + 20 * 86400000).toISOString(),
      }), code.code);
      await visit(client, '#/data');
      await visit(client, '#/requests');
      assert.match(await client.textContent('main'), /nähdä ja myös muuttaa tietoja/);
      await accessible(client, 'client-request-change', size);
      await client.getByRole('button', { name: 'Hyväksy vähemmän' }).click();
      await client.getByRole('button', { name: 'Hyväksy vähemmän' }).click();
      assert.equal(await client.locator('main form').count(), 1);
      await client.getByLabel('Saa myös muuttaa tietoja').uncheck();
      await client.getByRole('button', { name: 'Hyväksy valitut' }).click();
      await client.waitForSelector('#status p');
      const grants = await client.evaluate(() => api('GET', '/api/v1/me/grants'));
      const phone = grants.filter((g) => g.state === 'active' && g.fields.includes('identity.phone'));
      assert.deepEqual(phone.map((g) => g.actions), [['read']]);
      // Ended again, so the rest of the journey sees the one grant it made.
      await client.evaluate((id) => api('DELETE', '/api/v1/me/grants/' + id), phone[0].id);
      // The professional sees what became of the requests they sent, and is offered only
      // the fields the policy lets them be shared (no health data for employment services).
      await visit(pro, '#/sent');
      assert.match(await pro.textContent('main'), /hyväksytty/i);
      await accessible(pro, 'pro-sent', size);
      await visit(pro, '#/ask');
      assert.ok(await pro.locator('input[name=ask-field][value="identity.name"]').count() === 1);
      assert.equal(await pro.locator('input[name=ask-field][value^="health."]').count(), 0);

      // A professional's change shows as a change in the client's "who has looked".
      const youth = await person(browser, demo.base, 'pro-youth', size);
      const aino = await person(browser, demo.base, 'client1', size);
      const ainoId = (await aino.evaluate(() => api('GET', '/api/v1/me'))).id;
      await youth.evaluate((id) => api('PUT', '/api/v1/clients/' + id + '/record/plan.agreed_actions', { value: 'Haetaan kesätöitä.' }), ainoId);
      await visit(aino, '#/seen');
      assert.match(await aino.textContent('main'), /muutti/);
      await accessible(aino, 'client-seen-change', size);
      await youth.context().close();
      await aino.context().close();
      // An error in the status bar is readable too (it was dark red on near-black).
      await pro.fill('#ask-code', 'AAAAA-AAAAA');
      await pro.getByRole('button', { name: 'Lähetä pyyntö' }).click();
      await pro.waitForSelector('#status p.error');
      await accessible(pro, 'pro-ask-error', size);

      // The client shares a code (and its QR), then stops the grant at once.
      await visit(client, '#/share');
      await client.getByRole('button', { name: 'Näytä koodi' }).click();
      await client.waitForSelector('.code');
      assert.match(await client.textContent('.code'), /^[0-9A-Z]{5}-[0-9A-Z]{5}$/);
      await noRawValues(client, 'client-share');
      await accessible(client, 'client-share', size);
      await visit(client, '#/grants');
      await noRawValues(client, 'client-grants');
      await accessible(client, 'client-grants', size);
      await client.getByRole('button', { name: 'Lopeta heti: Tero Työllisyys' }).click();
      await client.waitForFunction(() => document.querySelector('#status').textContent.includes('Lupa lopetettu'));
      await noRawValues(client, 'client-grants (ended)');

      // The professional's next view is refused.
      await pro.goto(recordUrl);
      await pro.waitForSelector('main [role=alert]');
      assert.match(await pro.textContent('main'), /Ei pääsyä/);

      // The client sees the access in "who has looked".
      await visit(client, '#/seen');
      const timeline = await client.textContent('main');
      assert.match(timeline, /Tero Työllisyys/);
      assert.match(timeline, /katsoi/);
      await noRawValues(client, 'client-seen');
      await accessible(client, 'client-seen', size);
      await visit(client, '#/account');
      await noRawValues(client, 'client-account');
      await accessible(client, 'client-account', size);
      // Swedish and English are one choice away.
      await client.selectOption('#lang', 'sv');
      await client.waitForFunction(() => document.documentElement.lang === 'sv');
      assert.match(await client.textContent('main h1'), /Ladda ner eller radera/);
      await accessible(client, 'client-account-sv', size);
      // (visit waits for the Finnish loading text only, so wait for the Swedish page here.)
      await client.evaluate(() => { location.hash = '#/data'; });
      await client.waitForFunction(() => document.querySelector('main h1')?.textContent === 'Mina uppgifter');
      assert.match(await client.textContent('main'), /Har du obetalda räkningar eller lån\?/);
      await client.selectOption('#lang', 'fi');

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
