// The front page and the client's "my data", rendered on the server: in the browser's
// language (Swedish, English) or the one chosen from the menu; with JavaScript off at
// 320 px; keyboard only at 360 px; at a desktop. A date written by the client reads as a
// Finnish date, a refused value is explained next to its field, and saving comes back to
// the field with the focus on it. axe-core and the no-machine-text check run on every page
// and state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accessible, context, launch, noRawValues, person, startDemo, suomiFiLook, watch, tabTo } from './support.mjs';

test('the front page and "my data" in every way people use them', async () => {
  const demo = await startDemo();
  const browser = await launch();
  try {
    // A browser set to Swedish (sv-FI) is answered in Swedish before anyone chooses.
    const swedish = watch(await (await context(browser, 'phone', { locale: 'sv-FI' })).newPage());
    await swedish.goto(demo.base + '/');
    assert.equal(await swedish.textContent('main h1'), 'Dina egna uppgifter på ett ställe');
    assert.equal(await swedish.evaluate(() => document.documentElement.lang), 'sv');
    await accessible(swedish, 'front-sv', 'phone');
    await swedish.context().close();

    // Nobody is signed in: no sign-out, no name, no menu; the Suomi.fi look.
    for (const size of ['narrow', 'desktop']) {
      const anonymous = watch(await (await context(browser, size)).newPage());
      await anonymous.goto(demo.base + '/');
      assert.equal(await anonymous.textContent('main h1'), 'Omat tietosi yhdessä paikassa');
      assert.equal(await anonymous.locator('form.sign-out, .who, #nav').count(), 0);
      await noRawValues(anonymous, 'front');
      await accessible(anonymous, 'front', size);
      await suomiFiLook(anonymous);
      await anonymous.context().close();
    }

    // With JavaScript off, at 320 px: sign in, add a date, see it as a Finnish date.
    const plain = await person(browser, demo.base, 'client2', 'narrow', { javaScript: false });
    assert.equal(new URL(plain.url()).pathname, '/my/data');
    assert.equal(await plain.textContent('main h1'), 'Omat tiedot');
    assert.equal(await plain.textContent('.who'), 'Kirjautunut: Eero Esimerkki (asiakas)');
    // What is filled in comes first; each field says in plain words what it is.
    const debts = plain.locator('#f-situation-debts');
    if (await debts.count()) assert.match(await debts.locator('.help').textContent(), /maksamattomia/);
    assert.equal(await plain.locator('main input, main textarea').count(), 0, 'my data is not a wall of empty boxes');
    await noRawValues(plain, 'client-data');
    await accessible(plain, 'client-data', 'narrow');
    await plain.selectOption('#add-field', 'plan.next_meeting');
    await plain.getByRole('button', { name: 'Lisää' }).click();
    await plain.waitForURL(/\/my\/data\/edit/);
    assert.equal(await plain.getAttribute('#value', 'type'), 'date');
    await accessible(plain, 'client-data-edit', 'narrow');
    await plain.fill('#value', '2027-01-15');
    await plain.getByRole('button', { name: 'Tallenna' }).click();
    await plain.waitForURL(/\/my\/data\?done=saved#f-plan-next-meeting$/);
    assert.equal(await plain.textContent('main .notice'), 'Tallennettu.');
    assert.match(await plain.textContent('#f-plan-next-meeting'), /15\.1\.2027/);
    await noRawValues(plain, 'client-data-saved');
    // A refused value: the message is next to the field, in Finnish, and what was typed stays.
    await plain.goto(demo.base + '/my/data/edit?field=identity.email');
    assert.equal(await plain.getAttribute('#value', 'type'), 'email');
    await plain.fill('#value', 'ei-osoite');
    await plain.getByRole('button', { name: 'Tallenna' }).click();
    await plain.waitForSelector('.field-error');
    assert.match(await plain.textContent('.field-error'), /Kirjoita sähköpostiosoite muodossa/);
    assert.equal(await plain.getAttribute('#value', 'aria-invalid'), 'true');
    assert.match(await plain.getAttribute('#value', 'aria-describedby'), /value-error/);
    assert.equal(await plain.inputValue('#value'), 'ei-osoite');
    await noRawValues(plain, 'client-data-error');
    await accessible(plain, 'client-data-error', 'narrow');
    // Signing out from the page, without JavaScript too.
    await plain.getByRole('button', { name: 'Kirjaudu ulos' }).click();
    await plain.waitForURL((url) => url.pathname === '/signed-out');
    assert.equal(await plain.textContent('main h1'), 'Olet kirjautunut ulos');
    assert.equal(await plain.locator('form.sign-out').count(), 0);
    await accessible(plain, 'signed-out', 'narrow');
    await plain.context().close();

    // Keyboard only, at 360 px: change the phone number and come back to it, focused.
    const keys = await person(browser, demo.base, 'client1', 'phone');
    await tabTo(keys, 'a[href="/my/data/edit?field=identity.phone"]');
    await keys.keyboard.press('Enter');
    await keys.waitForURL(/field=identity\.phone/);
    assert.equal(await keys.getAttribute('#value', 'type'), 'tel');
    await tabTo(keys, '#value');
    await keys.keyboard.press('Control+A');
    await keys.keyboard.type('+358 40 765 4321');
    await keys.keyboard.press('Enter');
    await keys.waitForURL(/done=saved#f-identity-phone$/);
    await keys.waitForFunction(() => document.activeElement && document.activeElement.id === 'f-identity-phone');
    assert.match(await keys.textContent('#f-identity-phone'), /\+358 40 765 4321/);
    await accessible(keys, 'client-data-keyboard', 'phone');
    await keys.context().close();

    // At a desktop in Swedish, then English from the language menu.
    const desk = await person(browser, demo.base, 'client1', 'desktop', { locale: 'sv-FI' });
    assert.equal(await desk.textContent('main h1'), 'Mina uppgifter');
    assert.match(await desk.textContent('.who'), /Inloggad: Aino Asiakas \(klient\)/);
    await noRawValues(desk, 'client-data-sv');
    await accessible(desk, 'client-data-sv', 'desktop');
    await desk.getByRole('link', { name: 'In English' }).click();
    await desk.waitForFunction(() => document.documentElement.lang === 'en');
    assert.equal(await desk.textContent('main h1'), 'My data');
    assert.equal(await desk.textContent('#nav a[aria-current="page"]'), 'My data');
    await noRawValues(desk, 'client-data-en');
    await accessible(desk, 'client-data-en', 'desktop');
    await desk.context().close();
  } finally {
    await browser.close();
    await demo.stop();
  }
});
