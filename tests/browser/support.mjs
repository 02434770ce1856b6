// What every browser test of OmaData's pages shares: the demo gateway on port 0, Debian's
// Chromium through playwright-core, a signed-in person at a phone or desktop size, axe-core
// (WCAG 2.1 A and AA) with the Content-Security-Policy watched, the Suomi.fi look, and the
// check that no page shows machine text.
//
// OMADATA_BIN: the omadata binary (scripts/test.sh builds it).
// OMADATA_SCREENSHOTS=dir: also save screenshots there (docs/screenshots in the repo).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const BIN = process.env.OMADATA_BIN || new URL('../../target/debug/omadata', import.meta.url).pathname;
const SHOTS = process.env.OMADATA_SCREENSHOTS;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export async function startDemo() {
  const data = mkdtempSync(join(tmpdir(), 'omadata-browser-'));
  const child = spawn(BIN, ['demo', '--listen', '127.0.0.1:0', '--data', join(data, 'data')], { stdio: ['ignore', 'pipe', 'ignore'] });
  const base = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('the gateway did not start: ' + out)), 30000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = out.match(/listening on (http:\/\/\S+)/);
      if (match) { clearTimeout(timer); resolve(match[1]); }
    });
    child.on('exit', (code) => reject(new Error('the gateway exited with ' + code)));
  });
  // The gateway saves its audit chain heads as it stops, so the directory is removed only
  // once it has exited (SIGKILL if it has not within 10 s).
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = async () => {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(timer);
    rmSync(data, { recursive: true, force: true });
  };
  return { base, stop };
}

export const VIEWPORTS = {
  phone: { width: 360, height: 740, isMobile: true, hasTouch: true, deviceScaleFactor: 2 },
  narrow: { width: 320, height: 640, isMobile: true, hasTouch: true, deviceScaleFactor: 2 },
  desktop: { width: 1280, height: 800 },
};

// A new browser context at `size` whose clock is elsewhere than Finland (dates must still
// mean Finnish days). `options`: `locale` (the browser's language, fi-FI by default) and
// `javaScript` (false turns it off).
export async function context(browser, size, options = {}) {
  const { width, height, ...rest } = VIEWPORTS[size];
  const created = await browser.newContext({
    viewport: { width, height }, ...rest, locale: options.locale || 'fi-FI', timezoneId: 'America/New_York',
    javaScriptEnabled: options.javaScript !== false,
  });
  created.noScript = options.javaScript === false;
  return created;
}

// Watches a page for Content-Security-Policy violations and script errors.
export function watch(page) {
  page.cspViolations = [];
  page.on('console', (message) => {
    if (/Content.Security.Policy/i.test(message.text())) page.cspViolations.push(message.text());
  });
  page.on('pageerror', (error) => page.cspViolations.push('page error: ' + error.message));
  return page;
}

// `login` (a demo test person) signed in at `size`; the page is where the sign-in lands
// (a client's own pages, the web app for staff).
export async function person(browser, base, login, size, options = {}) {
  const page = watch(await (await context(browser, size, options)).newPage());
  const response = await page.goto(base + '/auth/login?login_hint=' + login);
  assert.equal(response.status(), 200, login + ' could not sign in');
  // The sign-in ends on a page that moves on by itself.
  await page.waitForURL((url) => !url.pathname.startsWith('/auth/'));
  await page.waitForSelector('main h1');
  return page;
}

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
}

// Runs axe on the page as it is now; fails on any violation. Evaluated through the
// DevTools protocol, so the page's own CSP stays in force.
export async function accessible(page, name, size) {
  const result = await axe(page.context().noScript ? await mirror(page, size) : page);
  const problems = result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join('; ')})`);
  assert.deepEqual(problems, [], `${name} (${size}) has accessibility violations`);
  assert.deepEqual(page.cspViolations, [], `${name} (${size}) broke the Content-Security-Policy`);
  if (SHOTS) await page.screenshot({ path: join(SHOTS, `${name}-${size}.png`), fullPage: true });
}

async function axe(page) {
  await page.evaluate(AXE);
  return page.evaluate(() => window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }));
}

// A page seen with JavaScript off cannot run axe, so the same document (as the server sent
// it and the browser built it) is shown again at the same address and size in a page that
// can; its stylesheets come from the gateway as before.
async function mirror(page, size) {
  const html = await page.content();
  const url = page.url();
  const { width, height, ...rest } = VIEWPORTS[size];
  const context = await page.context().browser().newContext({ viewport: { width, height }, ...rest });
  const copy = await context.newPage();
  await copy.route(url.split('#')[0], (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html }));
  await copy.goto(url);
  page.once('close', () => context.close());
  return copy;
}

// The Suomi.fi look arrived: the tokens stylesheet is served and applied, and the page's
// text is set in Source Sans 3 from the gateway (regular for text, semibold for headings).
export async function suomiFiLook(page) {
  const tokens = await page.evaluate(async () => {
    const response = await fetch('/assets/tokens.css');
    return { status: response.status, type: response.headers.get('content-type') };
  });
  assert.deepEqual(tokens, { status: 200, type: 'text/css; charset=utf-8' });
  const brand = await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--fi-color-brand-base').trim());
  assert.equal(brand, 'hsl(214, 100%, 24%)', 'the tokens stylesheet is not applied');
  const loaded = await page.evaluate(async () => {
    await document.fonts.ready;
    return [...document.fonts].filter((face) => face.status === 'loaded').map((face) => `${face.family.replace(/"/g, '')} ${face.weight}`);
  });
  assert.ok(loaded.includes('Source Sans 3 400'), `regular Source Sans 3 did not load: ${loaded}`);
  assert.ok(loaded.includes('Source Sans 3 600'), `semibold Source Sans 3 did not load: ${loaded}`);
  assert.match(await page.evaluate(() => getComputedStyle(document.body).fontFamily), /^"Source Sans 3"/);
}

// What a person reads holds no machine text: no absent value (null, undefined, NaN), no
// id, no ISO date or timestamp, no message key (snake_case or camelCase: the app shows a
// key when its text is missing), and none of the code words the API uses for roles,
// choices, purposes and states.
const CODE_WORDS = ['client', 'professional', 'auditor', 'admin', 'work', 'study', 'other', 'read', 'write', 'permit', 'deny',
  'pending', 'approved', 'denied', 'active', 'revoked', 'expired', 'guidance', 'basic', 'special', 'confidential'];
const RAW = [
  // (No boundary after: a button's text follows the value without a space.)
  ['an absent value', /(?<![A-Za-zÅÄÖåäö])(null|undefined|NaN)/],
  ['an id', /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i],
  ['an ISO date', /\b\d{4}-\d{2}-\d{2}/],
  ['a message key', /\b[a-z]+_[a-z_]+\b|\b[a-z]+[A-Z][A-Za-z]*\b/],
  ['a code word', new RegExp('\\b(' + CODE_WORDS.join('|') + ')\\b')],
];
// Everyday English words that have no place in a Finnish page (the language menu's own
// "In English" is the one allowed).
const ENGLISH = ['an English word', /\b(?!In English\b)(the|and|you|your|sign|save|cancel|share|request|grant|error|back|change|delete|download|data|until|who|which|why)\b/i];
export async function noRawValues(page, name) {
  // (Closed <details> are read too, then closed again.)
  const text = await page.evaluate(() => {
    const closed = [...document.querySelectorAll('details:not([open])')];
    closed.forEach((d) => { d.open = true; });
    const shown = document.body.innerText;
    closed.forEach((d) => { d.open = false; });
    return shown;
  });
  const lang = await page.evaluate(() => document.documentElement.lang);
  // (In an English page the code words are ordinary English: "client", "work".)
  const checks = lang === 'fi' ? [...RAW, ENGLISH] : lang === 'en' ? RAW.filter(([what]) => what !== 'a code word') : RAW;
  for (const [what, pattern] of checks) {
    const found = text.match(pattern);
    assert.equal(found, null, `${name} shows ${what}: "${found && text.slice(Math.max(0, found.index - 40), found.index + 40)}"`);
  }
}


// Presses Tab (never a click) until the element matching `selector` has the focus, at most
// `most` times: a keyboard user's way to a control. Fails if it is never reached.
export async function tabTo(page, selector, most = 200) {
  for (let i = 0; i < most; i += 1) {
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
    await page.keyboard.press('Tab');
  }
  assert.fail('Tab never reached ' + selector);
}
