// The client's access requests, rendered on the server: Eero answers Tero's request with
// JavaScript off at 320 px (approving less: one field left out); a request to see and
// change is shown with the right to change and approved without it, keyboard only at
// 360 px; the pages in Swedish and English at a desktop. axe-core and the no-machine-text
// check run on the list, the "approve less" form, an error state and the answered state.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { accessible, launch, noRawValues, person, startDemo, tabTo } from './support.mjs';

let demo;
let browser;
before(async () => {
  demo = await startDemo();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await demo?.stop();
});

// A JSON API call from a signed-in page's context (its session cookie, its CSRF token).
async function api(page, method, path, data) {
  const me = await (await page.request.get(demo.base + '/api/v1/me')).json();
  const response = await page.request.fetch(demo.base + path, { method, data, headers: { 'x-csrf-token': me.csrf_token } });
  return { status: response.status(), body: await response.json() };
}

// `client` (a signed-in page) is asked by `pro` to see and change their name and agreed
// plan for 30 days; the request's id.
async function askToSeeAndChange(client, pro) {
  const code = await api(client, 'POST', '/api/v1/me/pairing-codes');
  assert.equal(code.status, 201);
  const until = new Date(Date.now() + 30 * 86400000).toISOString();
  const request = await api(pro, 'POST', '/api/v1/access-requests', {
    pairing_code: code.body.code,
    fields: [{ path: 'identity.name' }, { path: 'plan.agreed_actions' }],
    actions: ['read', 'write'],
    purpose: { code: 'shared_plan' },
    valid_until: until,
  });
  assert.equal(request.status, 201, JSON.stringify(request.body));
  return request.body.id;
}

async function grantOf(page, requestId) {
  const grants = await api(page, 'GET', '/api/v1/me/grants');
  return grants.body.find((g) => g.request === requestId);
}

test('Eero approves less of Tero\'s request with JavaScript off at 320 px', async () => {
  const plain = await person(browser, demo.base, 'client2', 'narrow', { javaScript: false });
  await plain.getByRole('link', { name: 'Pyynnöt' }).click();
  await plain.waitForURL((url) => url.pathname === '/my/requests');
  const card = plain.locator('article.request');
  assert.equal(await card.count(), 1);
  assert.equal(await card.locator('h2').textContent(), 'Tero Työllisyys pyytää lupaa nähdä tietojasi');
  const terms = await card.locator('dl.terms').innerText();
  for (const said of ['Tero Työllisyys', 'Nimi', 'Osaaminen ja taidot', 'Saa vain katsoa tietoja', 'Yhteistyö työnantajan kanssa: Työkokeilupaikan etsiminen']) {
    assert.ok(terms.includes(said), `the card does not say "${said}": ${terms}`);
  }
  assert.match(terms, /\d{1,2}\.\d{1,2}\.\d{4}/);
  await noRawValues(plain, 'client-requests');
  await accessible(plain, 'client-requests', 'narrow');

  await card.getByRole('link', { name: 'Hyväksy vähemmän' }).click();
  await plain.waitForURL(/\/less$/);
  assert.equal(await plain.textContent('main h1'), 'Hyväksy vähemmän');
  assert.equal(await plain.isChecked('#f-identity-name'), true);
  assert.equal(await plain.isChecked('#f-background-skills'), true);
  // A request to see only offers no right to change.
  assert.equal(await plain.locator('#change').count(), 0);
  await noRawValues(plain, 'client-requests-less');
  await accessible(plain, 'client-requests-less', 'narrow');

  // Nothing chosen: the message is next to the fields, and nothing changed.
  await plain.uncheck('#f-identity-name');
  await plain.uncheck('#f-background-skills');
  await plain.getByRole('button', { name: 'Hyväksy valitut' }).click();
  await plain.waitForSelector('#fields-error');
  assert.match(await plain.textContent('#fields-error'), /Valitse vähintään yksi tieto/);
  assert.equal(await plain.getAttribute('#fields', 'aria-describedby'), 'fields-error');
  await noRawValues(plain, 'client-requests-less-error');
  await accessible(plain, 'client-requests-less-error', 'narrow');

  await plain.check('#f-identity-name');
  await plain.getByRole('button', { name: 'Hyväksy valitut' }).click();
  await plain.waitForURL(/\/my\/requests\?request=.*done=approved$/);
  assert.match(await plain.textContent('main .notice'), /^Hyväksytty: Tero Työllisyys näkee nyt valitsemasi tiedot \d{1,2}\.\d{1,2}\.\d{4} asti\./);
  assert.equal(await plain.locator('article.request').count(), 0);
  assert.match(await plain.locator('details.earlier').textContent(), /Hyväksyit/);
  await noRawValues(plain, 'client-requests-answered');
  await accessible(plain, 'client-requests-answered', 'narrow');
  await plain.context().close();

  const check = await person(browser, demo.base, 'client2', 'desktop');
  const grants = await api(check, 'GET', '/api/v1/me/grants');
  assert.equal(grants.body.length, 1);
  assert.deepEqual(grants.body[0].fields, ['identity.name']);
  await check.context().close();
});

test('a request to change says so and is approved without it, keyboard only at 360 px', async () => {
  const keys = await person(browser, demo.base, 'client1', 'phone');
  const pro = await person(browser, demo.base, 'pro-employment', 'desktop');
  const id = await askToSeeAndChange(keys, pro);
  await pro.context().close();

  await tabTo(keys, '#nav a[href="/my/requests"]');
  await keys.keyboard.press('Enter');
  await keys.waitForURL((url) => url.pathname === '/my/requests');
  const card = keys.locator(`#req-${id}`);
  assert.equal(await card.locator('h2').textContent(), 'Tero Työllisyys pyytää lupaa nähdä ja muuttaa tietojasi');
  // The right to change stands out in its own box.
  assert.equal(await card.locator('.right.change').textContent(), 'Saa katsoa tietoja ja myös muuttaa niitä.');
  assert.ok(await card.locator('.right.change').isVisible());
  await noRawValues(keys, 'client-requests-change');
  await accessible(keys, 'client-requests-change', 'phone');

  await tabTo(keys, `a[href="/my/requests/${id}/less"]`);
  await keys.keyboard.press('Enter');
  await keys.waitForURL(/\/less$/);
  assert.equal(await keys.isChecked('#change'), true);
  await tabTo(keys, '#change');
  await keys.keyboard.press('Space');
  assert.equal(await keys.isChecked('#change'), false);
  await tabTo(keys, 'form.less button[type="submit"]');
  await keys.keyboard.press('Enter');
  await keys.waitForURL(/done=approved$/);
  const notice = await keys.textContent('main .notice');
  assert.match(notice, /^Hyväksytty: Tero Työllisyys näkee nyt valitsemasi tiedot \d/);
  assert.doesNotMatch(notice, /muuttaa/);
  await accessible(keys, 'client-requests-change-answered', 'phone');

  const grant = await grantOf(keys, id);
  assert.deepEqual(grant.actions, ['read']);
  assert.deepEqual(grant.fields, ['identity.name', 'plan.agreed_actions']);
  await keys.context().close();
});

test('the request pages in Swedish and English at a desktop', async () => {
  const desk = await person(browser, demo.base, 'client2', 'desktop', { locale: 'sv-FI' });
  const pro = await person(browser, demo.base, 'pro-employment', 'desktop');
  const id = await askToSeeAndChange(desk, pro);
  await pro.context().close();

  await desk.goto(demo.base + '/my/requests');
  assert.equal(await desk.textContent('main h1'), 'Förfrågningar');
  const card = desk.locator(`#req-${id}`);
  assert.equal(await card.locator('h2').textContent(), 'Tero Työllisyys ber om lov att se och ändra dina uppgifter');
  assert.equal(await card.locator('.right.change').textContent(), 'Får titta på uppgifterna och också ändra dem.');
  assert.ok((await card.innerText()).includes('Person- och kontaktuppgifter'));
  await noRawValues(desk, 'client-requests-sv');
  await accessible(desk, 'client-requests-sv', 'desktop');

  await card.getByRole('link', { name: 'Godkänn mindre' }).click();
  await desk.waitForURL(/\/less$/);
  // A later end than asked: refused next to the date, the choice kept.
  const latest = await desk.getAttribute('#until', 'max');
  const later = new Date(Date.parse(latest) + 5 * 86400000).toISOString().slice(0, 10);
  await desk.fill('#until', later);
  await desk.getByRole('button', { name: 'Godkänn valda' }).click();
  await desk.waitForSelector('#until-error');
  assert.match(await desk.textContent('#until-error'), /Du kan bara korta tiden/);
  assert.equal(await desk.getAttribute('#until', 'aria-invalid'), 'true');
  assert.equal(await desk.inputValue('#until'), later);
  await noRawValues(desk, 'client-requests-less-error-sv');
  await accessible(desk, 'client-requests-less-error-sv', 'desktop');
  assert.equal(await grantOf(desk, id), undefined);

  await desk.getByRole('link', { name: 'In English' }).click();
  await desk.waitForFunction(() => document.documentElement.lang === 'en');
  assert.equal(await desk.textContent('main h1'), 'Approve less');
  assert.equal(await desk.textContent('label[for="change"]'), 'May also change the information');
  await noRawValues(desk, 'client-requests-less-en');
  await accessible(desk, 'client-requests-less-en', 'desktop');
  await desk.getByRole('link', { name: 'Cancel' }).click();
  await desk.waitForURL((url) => url.pathname === '/my/requests');
  await desk.locator(`#req-${id}`).getByRole('button', { name: 'Say no' }).click();
  await desk.waitForURL(/done=denied$/);
  assert.equal(await desk.textContent('main .notice'), 'Done: you said no. Tero Työllisyys does not see your information through this request.');
  assert.match(await desk.locator('details.earlier').textContent(), /You said no on \d{1,2} [A-Z][a-z]+ \d{4}/);
  await noRawValues(desk, 'client-requests-answered-en');
  await accessible(desk, 'client-requests-answered-en', 'desktop');
  await desk.context().close();
});
