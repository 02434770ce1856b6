// The client's sharing pages in Chromium. With JavaScript off at 320 px, client1 shows a
// pairing code (and is told plainly when too many are in use), sends the own-initiative
// form empty, then with a field the policy refuses and with a day gone (each message next
// to its control, every choice kept), puts it right and stops the grant. Keyboard only at
// 360 px: nobody is chosen for them, they give a grant, read its receipt (printable
// without the header and menu, the signed JSON downloadable) and stop it. At a desk in
// Swedish and English. axe-core and the raw-value check run on every page and state.
//
// OMADATA_BIN: the omadata binary.
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

async function check(page, name, size) {
  await noRawValues(page, name);
  await accessible(page, name, size);
}

// The share page's states, reached by `login` at `size`: a code, too many codes, the form
// sent empty, a field the policy refuses, a day gone, then a grant given and stopped.
// `look(page, state)` checks each.
async function shareStates(login, size, options, look) {
  const page = await person(browser, demo.base, login, size, options);
  await page.goto(demo.base + '/my/share');
  assert.equal(await page.textContent('main h1'), 'Jaa tietoja');
  await look(page, 'share');

  await page.getByRole('button', { name: 'Näytä koodi' }).click();
  await page.waitForSelector('.pairing');
  assert.match(await page.textContent('.pairing .code'), /^[0-9A-Z]{5}-[0-9A-Z]{5}$/);
  assert.match(await page.getAttribute('.pairing .qr img', 'src'), /^data:image\/svg\+xml;base64,/);
  assert.match(await page.getAttribute('.pairing .qr img', 'alt'), /^QR-koodi\. Koodi on ([0-9A-Z-] )+[0-9A-Z]\.$/);
  assert.match(await page.textContent('.pairing .code-valid'), /^Koodi toimii \d{1,2}\.\d{1,2}\.\d{4} klo \d{1,2}\.\d{2} asti\.$/);
  // The QR code is an image the content policy allows (no inline style), and fits the phone.
  const qr = await page.locator('.pairing .qr img').boundingBox();
  assert.ok(qr.width > 100 && qr.x + qr.width <= 320, JSON.stringify(qr));
  await look(page, 'share-code');

  // Five codes at most are live at once: one more is refused in words next to the button.
  while (await page.locator('#code-error').count() === 0) {
    await page.getByRole('button', { name: /Näytä (uusi )?koodi/ }).click();
  }
  assert.match(await page.textContent('#code-error'), /Sinulla on jo monta voimassa olevaa koodia/);
  assert.equal(await page.locator('.pairing').count(), 0);
  await look(page, 'share-too-many-codes');

  // Sent as it first shows: no professional, no field; both said where they belong.
  assert.equal(await page.inputValue('#professional'), '');
  assert.equal(await page.locator('input[name="field"]:checked').count(), 0);
  await page.getByRole('button', { name: 'Anna lupa' }).click();
  assert.match(await page.textContent('#professional-error'), /Valitse, kenelle annat luvan/);
  assert.match(await page.textContent('#fields-error'), /Valitse ainakin yksi tieto/);
  assert.equal(await page.getAttribute('#professional', 'aria-invalid'), 'true');
  await look(page, 'share-form-errors');

  // Health data to a youth worker: refused, the choices kept, the field marked.
  await page.selectOption('#professional', { label: 'Pirjo Nuorisotyö, Nuoriso-ohjaaja (Ohjaamo Demokaupunki)' });
  await page.check('#grant-f-identity-name');
  await page.check('#grant-f-health-status');
  await page.check('#may-change');
  await page.fill('#purpose-text', 'Kesätyö');
  await page.getByRole('button', { name: 'Anna lupa' }).click();
  assert.match(await page.textContent('#grant-f-health-status-error'), /Tätä tietoa ei voi jakaa tälle ammattilaiselle/);
  assert.equal(await page.getAttribute('#grant-f-health-status', 'aria-invalid'), 'true');
  assert.equal(await page.isChecked('#grant-f-health-status'), true);
  assert.equal(await page.isChecked('#grant-f-identity-name'), true);
  assert.equal(await page.isChecked('#may-change'), true);
  assert.equal(await page.inputValue('#purpose-text'), 'Kesätyö');
  assert.match(await page.locator('#professional option:checked').textContent(), /Pirjo Nuorisotyö/);
  await look(page, 'share-policy-refused');

  // A day already gone.
  await page.uncheck('#grant-f-health-status');
  await page.fill('#until', '2020-01-01');
  await page.getByRole('button', { name: 'Anna lupa' }).click();
  assert.match(await page.textContent('#until-error'), /Valitse tämä päivä tai myöhempi päivä/);
  await look(page, 'share-past-day');

  // Put right, it goes through; seeing and changing is said in words; then stopped.
  const day = new Date(Date.now() + 10 * 86400000).toISOString().slice(0, 10);
  await page.fill('#until', day);
  await page.getByRole('button', { name: 'Anna lupa' }).click();
  await page.waitForURL((url) => url.pathname === '/my/grants');
  assert.match(await page.textContent('.notice'), /Lupa annettu/);
  const id = decodeURIComponent(new URL(page.url()).hash.slice(1));
  const card = page.locator(`[id="${id}"]`);
  assert.match(await card.textContent(), /Pirjo Nuorisotyö/);
  assert.match(await card.textContent(), /Saa nähdä ja myös muuttaa tietoja/);
  assert.match(await card.textContent(), /Yhteinen suunnitelma|Ohjaus: Kesätyö/);
  await look(page, 'grants-given');
  await card.getByRole('button', { name: 'Lopeta heti' }).click();
  await page.waitForURL((url) => url.searchParams.get('done') === 'stopped');
  assert.equal(await page.locator(`[id="${id}"]`).count(), 0);
  await look(page, 'grants-stopped');
  await page.context().close();
}

test('a pairing code and the refused form with JavaScript off at 320 px', async () => {
  await shareStates('client1', 'narrow', { javaScript: false }, (page, state) => check(page, state, 'narrow'));
});

test('a grant given, read and stopped with the keyboard only at 360 px', async () => {
  const size = 'phone';
  const page = await person(browser, demo.base, 'client1', size);
  await page.goto(demo.base + '/my/share');
  // Nobody is chosen for the client.
  assert.equal(await page.inputValue('#professional'), '');
  assert.equal(await page.locator('#professional option:checked').textContent(), 'Valitse');
  assert.equal(await page.locator('#professional option[selected]').count(), 0);

  await tabTo(page, '#professional');
  // Type-ahead picks the health nurse.
  await page.keyboard.type('Hanna');
  assert.match(await page.locator('#professional option:checked').textContent(), /^Hanna Terveys, Terveydenhoitaja/);
  await tabTo(page, '#grant-f-identity-name');
  await page.keyboard.press('Space');
  await tabTo(page, '#grant-f-health-status');
  await page.keyboard.press('Space');
  assert.equal(await page.isChecked('#grant-f-health-status'), true);
  // Seeing only, unless the client chooses more.
  assert.equal(await page.isChecked('#may-see'), true);
  await tabTo(page, '#purpose-text');
  await page.keyboard.type('Terveystarkastus');
  await tabTo(page, 'form[action="/my/share/grant"] button[type="submit"]');
  await page.keyboard.press('Enter');
  await page.waitForURL((url) => url.pathname === '/my/grants');
  assert.match(await page.textContent('.notice'), /Lupa annettu/);
  const id = decodeURIComponent(new URL(page.url()).hash.slice(1));
  const card = page.locator(`[id="${id}"]`);
  assert.match(await card.textContent(), /Hanna Terveys/);
  assert.match(await card.textContent(), /Terveydentila\s*arkaluonteinen/);
  assert.match(await card.textContent(), /Saa nähdä tiedot/);
  assert.match(await card.textContent(), /Terveystarkastus/);
  // The new grant has the focus, where the client goes on.
  assert.equal(await page.evaluate(() => document.activeElement.id), id);
  await check(page, 'grants', size);

  await tabTo(page, `[id="${id}"] a.button`);
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/receipt$/);
  assert.equal(await page.textContent('main h1'), 'Kuitti luvasta');
  const receipt = await page.textContent('main');
  assert.match(receipt, /Hanna Terveys, Terveydenhoitaja, Ohjaamo Demokaupunki/);
  assert.match(receipt, /Terveydentila/);
  assert.match(receipt, /Ed25519/);
  await check(page, 'receipt', size);
  // Printed, it is the receipt only.
  await page.emulateMedia({ media: 'print' });
  assert.equal(await page.isVisible('header.top'), false);
  assert.equal(await page.isVisible('#nav'), false);
  assert.equal(await page.isVisible('main h1'), true);
  await page.emulateMedia({ media: 'screen' });
  // The signed receipt downloads with the session the page has.
  const signed = await page.evaluate(async (href) => (await fetch(href)).json(), await page.getAttribute('a[download]', 'href'));
  assert.equal(signed.signature.alg, 'EdDSA');

  await tabTo(page, 'a[href="/my/grants"].button');
  await page.keyboard.press('Enter');
  await page.waitForURL((url) => url.pathname === '/my/grants');
  await tabTo(page, `[id="${id}"] button.danger`);
  await page.keyboard.press('Enter');
  await page.waitForURL((url) => url.searchParams.get('done') === 'stopped');
  assert.match(await page.textContent('.notice'), /Lupa lopetettu/);
  assert.equal(await page.locator(`[id="${id}"]`).count(), 0);
  assert.match(await page.textContent('details.ended'), /Hanna Terveys.*lopetit luvan \d{1,2}\.\d{1,2}\.\d{4}/);
  await check(page, 'grants-stopped', size);
  await page.context().close();
});

const AT_A_DESK = {
  sv: { share: 'Dela uppgifter', choose: 'Välj', give: 'Ge lov', noField: /Välj minst en uppgift/, grants: 'Vem ser mina uppgifter nu',
    change: /Får se och också ändra uppgifterna/, receipt: 'Kvitto', receiptTitle: 'Kvitto på lovet', signed: /Kvittot är underskrivet/ },
  en: { share: 'Share data', choose: 'Choose', give: 'Give permission', noField: /Choose at least one piece of data/, grants: 'Who can see my data now',
    change: /May see and also change the data/, receipt: 'Receipt', receiptTitle: 'Receipt of permission', signed: /The receipt is signed/ },
};

for (const [lang, words] of Object.entries(AT_A_DESK)) {
  test(`the pages at a desk (${lang})`, async () => {
    const size = 'desktop';
    const page = await person(browser, demo.base, 'client1', size, { locale: lang === 'sv' ? 'sv-FI' : 'en-GB' });
    await page.goto(demo.base + '/my/share');
    assert.equal(await page.textContent('main h1'), words.share);
    assert.equal(await page.locator('#professional option:checked').textContent(), words.choose);
    await check(page, 'share-' + lang, size);
    await page.getByRole('button', { name: words.give }).click();
    assert.match(await page.textContent('#fields-error'), words.noField);
    await check(page, 'share-errors-' + lang, size);

    await page.goto(demo.base + '/my/grants');
    assert.equal(await page.textContent('main h1'), words.grants);
    assert.match(await page.textContent('main'), words.change);
    await check(page, 'grants-' + lang, size);
    await page.locator('main a.button', { hasText: words.receipt }).first().click();
    assert.equal(await page.textContent('main h1'), words.receiptTitle);
    assert.match(await page.textContent('main'), words.signed);
    await check(page, 'receipt-' + lang, size);
    await page.context().close();
  });
}
