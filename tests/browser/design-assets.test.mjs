// The drift check: the committed tokens stylesheet, fonts and font licence are exactly what
// design-assets.mjs writes from the installed packages, and the fonts directory holds
// nothing else. A hand edit of tokens.css, or a package update without
// `npm run design-assets`, fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { FONTS_DIR, REPO, designAssets } from './design-assets.mjs';

const REGENERATE = 'edit tests/browser/design-assets.mjs, not its output, and run `npm run design-assets` in tests/browser';

test('the committed design assets are what design-assets.mjs writes', () => {
  const expected = designAssets();
  for (const [path, bytes] of expected) {
    assert.ok(existsSync(join(REPO, path)), `${path} is missing: ${REGENERATE}`);
    assert.ok(readFileSync(join(REPO, path)).equals(bytes), `${path} differs from what the script writes: ${REGENERATE}`);
  }
  const wanted = [...expected.keys()].filter((path) => path.startsWith(FONTS_DIR)).map((path) => basename(path)).sort();
  assert.deepEqual(readdirSync(join(REPO, FONTS_DIR)).sort(), wanted, `${FONTS_DIR} holds other files: ${REGENERATE}`);
});
