// The client's "who has looked" (/my/seen), settings (/my/account), readable export
// (/my/export) and erasure, in Debian's Chromium: Aino (client1) reads who looked at or
// changed her data and her export on a 320 px phone with JavaScript off; Eero (client2)
// erases everything with the keyboard alone on a 360 px phone; the pages in Swedish and
// English at a desk. axe and the no-machine-text check run on every page and state,
// the refused erasure included. One demo serves the whole file.
//
// OMADATA_BIN: the omadata binary.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { accessible, launch, noRawValues, person, startDemo, suomiFiLook } from './support.mjs';

let demo;
let browser;

// A JSON API call from a signed-in page (with the session's CSRF token).
async function call(page, method, path, body) {
  return page.evaluate(async ([method, path, body]) => {
    const me = await (await fetch('/api/v1/me')).json();
    const response = await fetch(path, {
      method,
      headers: { 'content-type': 'application/json', 'x-csrf-token': me.csrf_token },
      body: body ? JSON.stringify(body) : undefined,
    });
    return response.status;
  }, [method, path, body]);
}

// Nothing sticks out sideways at a phone's width.
async function fits(page, width, name) {
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(wide <= width, `${name} is ${wide} px wide at ${width} px`);
}

// Presses Tab until the focused element is the one `matches` picks (at most 80 presses).
async function tabTo(page, what, matches) {
  for (let i = 0; i < 80; i += 1) {
    await page.keyboard.press('Tab');
    const found = await page.evaluate(matches);
    if (found) return;
  }
  assert.fail(`Tab never reached ${what}`);
}

async function checked(page, name, size) {
  await noRawValues(page, name);
  await accessible(page, name, size);
}

before(async () => {
  demo = await startDemo();
  browser = await launch();
  // Pirjo (pro-youth) looks at Aino's data and changes her plan; Ulla, without a grant,
  // tries to look and is refused.
  const youth = await person(browser, demo.base, 'pro-youth', 'desktop');
  const clients = await youth.evaluate(async () => (await fetch('/api/v1/clients')).json());
  const aino = clients[0].client;
  assert.equal(await call(youth, 'GET', `/api/v1/clients/${aino}/record`), 200);
  assert.equal(await call(youth, 'PUT', `/api/v1/clients/${aino}/record/plan.agreed_actions`, { value: 'Haetaan kesätyötä.' }), 200);
  await youth.context().close();
  const stranger = await person(browser, demo.base, 'pro-unrelated', 'desktop');
  assert.equal(await call(stranger, 'GET', `/api/v1/clients/${aino}/record`), 403);
  await stranger.context().close();
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

test('Aino reads who has looked and her export at 320 px with JavaScript off', async () => {
  const page = await person(browser, demo.base, 'client1', 'narrow', { javaScript: false });
  await page.getByRole('link', { name: 'Kuka on katsonut' }).click();
  await page.waitForURL('**/my/seen');
  const entries = await page.$$eval('main .timeline > li', (items) => items.map((li) => li.innerText.replace(/\s+/g, ' ')));
  // Newest first: the refusal, the change, the look at the record, and the looks at her
  // name each time Pirjo's list of clients showed it (a read of the name too: once as her
  // web app opened, once when the setup above read the list).
  assert.equal(entries.length, 5, entries.join('\n'));
  assert.match(entries[0], /Ulla Ulkopuolinen, Opinto-ohjaaja, Ohjaamo Demokaupunki yritti katsoa tietojasi, mutta siihen ei ollut lupaa/);
  assert.match(entries[1], /Pirjo Nuorisotyö, Nuoriso-ohjaaja, Ohjaamo Demokaupunki muutti näitä tietoja: Sovitut toimenpiteet/);
  assert.match(entries[2], /Pirjo Nuorisotyö.* katsoi näitä tietoja: Nimi, Puhelinnumero/);
  assert.match(entries[2], /Käyttötarkoitus: Ohjaus/);
  for (const nameRead of entries.slice(3)) assert.match(nameRead, /Pirjo Nuorisotyö.* katsoi näitä tietoja: Nimi Käyttötarkoitus: Ohjaus/);
  // Each entry starts with a Finnish date and time.
  for (const entry of entries) assert.match(entry, /^\d{1,2}\.\d{1,2}\.\d{4} klo \d{1,2}\.\d{2}/);
  await fits(page, 320, 'client-seen');
  await checked(page, 'client-seen', 'narrow');

  await page.getByRole('link', { name: 'Omat asetukset' }).click();
  await page.waitForURL('**/my/account');
  await fits(page, 320, 'client-account');
  await checked(page, 'client-account', 'narrow');

  await page.getByRole('link', { name: 'Katso ja lataa tietosi' }).click();
  await page.waitForURL('**/my/export');
  const main = await page.innerText('main');
  for (const shown of ['Puhelinnumero', '+358 40 123 4567', 'Sovitut toimenpiteet', 'Haetaan kesätyötä.', 'Aiemmat versiot',
    'Antamasi luvat', 'katsoa ja muuttaa', 'Annoit luvan: Pirjo Nuorisotyö', 'Tapahtumat']) {
    assert.ok(main.includes(shown), `the export lacks "${shown}"`);
  }
  // The menu says where the export belongs.
  assert.equal(await page.getAttribute('nav#nav a[href="/my/account"]', 'aria-current'), 'page');
  await fits(page, 320, 'client-export');
  await checked(page, 'client-export', 'narrow');
  // The machine-readable file is beside it.
  const json = await page.request.get(demo.base + (await page.getAttribute('a[download]', 'href')));
  assert.equal(json.status(), 200);
  assert.ok((await json.json()).records.length > 0);
  // Printed, the page is its content: no header, no menu, no links away.
  await page.emulateMedia({ media: 'print' });
  assert.equal(await page.isVisible('header.top'), false);
  assert.equal(await page.isVisible('nav#nav'), false);
  assert.equal(await page.isVisible('a[download]'), false);
  assert.equal(await page.isVisible('main h1'), true);
  await page.emulateMedia({ media: 'screen' });

  // Erasure without ticking the box: the message is next to the box, nothing is erased.
  await page.goto(demo.base + '/my/account');
  await page.getByRole('button', { name: 'Poista kaikki tietoni' }).click();
  await page.waitForURL('**/my/account/erase#erase');
  assert.equal(await page.getAttribute('#confirm', 'aria-invalid'), 'true');
  assert.match(await page.innerText('#confirm-error'), /Rastita ensin ruutu/);
  await fits(page, 320, 'client-erase-unconfirmed');
  await checked(page, 'client-erase-unconfirmed', 'narrow');
  await page.goto(demo.base + '/my/data');
  assert.match(await page.innerText('main'), /Aino Asiakas/);
  await page.context().close();
});

test('Eero erases everything with the keyboard alone at 360 px', async () => {
  const page = await person(browser, demo.base, 'client2', 'phone');
  // Nobody has looked at Eero's data yet.
  await tabTo(page, 'the menu', () => document.activeElement?.textContent === 'Kuka on katsonut');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/my/seen');
  assert.match(await page.innerText('main'), /Kukaan ei ole vielä katsonut tietojasi/);
  await checked(page, 'client-seen-empty', 'phone');
  await tabTo(page, 'the menu', () => document.activeElement?.textContent === 'Omat asetukset');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/my/account');
  await checked(page, 'client-account', 'phone');

  // His export first: Tero's request waits for his answer.
  await tabTo(page, 'the export', () => document.activeElement?.textContent === 'Katso ja lataa tietosi');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/my/export');
  const main = await page.innerText('main');
  assert.match(main, /Tero Työllisyys, Työvalmentaja, Ohjaamo Demokaupunki/);
  assert.match(main, /odottaa vastaustasi/);
  assert.match(main, /asiakaspalvelu\s+trukkikortti/);
  await checked(page, 'client-export', 'phone');
  await tabTo(page, 'the way back', () => document.activeElement?.textContent === 'Takaisin omiin asetuksiin');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/my/account');

  // First without the box.
  await tabTo(page, 'the erase button', () => document.activeElement?.textContent === 'Poista kaikki tietoni');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/my/account/erase#erase');
  assert.match(await page.innerText('#confirm-error'), /Mitään ei poistettu/);
  await checked(page, 'client-erase-unconfirmed', 'phone');

  // The page opens at the erase section: the box is a few Tabs on.
  await tabTo(page, 'the confirm box', () => document.activeElement?.id === 'confirm');
  await page.keyboard.press('Space');
  assert.equal(await page.isChecked('#confirm'), true);
  await tabTo(page, 'the erase button', () => document.activeElement?.textContent === 'Poista kaikki tietoni');
  await page.keyboard.press('Enter');
  await page.waitForSelector('main h1:text("Tietosi on poistettu")');
  // Nobody is signed in any more: no name, no menu, no session.
  assert.equal(await page.locator('nav#nav').count(), 0);
  assert.equal(await page.locator('.who').count(), 0);
  assert.equal((await page.context().cookies()).some((c) => c.name === 'omadata_session'), false);
  assert.equal((await page.request.get(demo.base + '/api/v1/me')).status(), 401);
  await checked(page, 'client-erased', 'phone');
  await page.context().close();
});

test('the pages in Swedish and English at a desk', async () => {
  const pages = {
    sv: { '/my/seen': 'Vem har tittat på dina uppgifter', '/my/account': 'Mina inställningar', '/my/export': 'Alla dina uppgifter' },
    en: { '/my/seen': 'Who has looked at your data', '/my/account': 'My settings', '/my/export': 'All your data' },
  };
  const words = { sv: /ändrade de här uppgifterna/, en: /changed this/ };
  for (const [lang, titles] of Object.entries(pages)) {
    const page = await person(browser, demo.base, 'client1', 'desktop', { locale: lang === 'sv' ? 'sv-FI' : 'en-GB' });
    for (const [path, title] of Object.entries(titles)) {
      await page.goto(demo.base + path);
      assert.equal(await page.innerText('main h1'), title);
      assert.equal(await page.getAttribute('html', 'lang'), lang);
      if (path === '/my/seen') assert.match(await page.innerText('main'), words[lang]);
      await checked(page, `client${path.replaceAll('/', '-')}-${lang}`, 'desktop');
    }
    if (lang === 'sv') await suomiFiLook(page);
    await page.context().close();
  }
});
