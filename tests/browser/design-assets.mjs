// The Suomi.fi look, generated: turns the Suomi.fi design tokens (npm suomifi-design-tokens,
// MIT) into CSS custom properties, copies the Source Sans 3 web fonts (npm
// @fontsource/source-sans-3, OFL-1.1) with their licence, and gathers the Suomi.fi icons
// the pages use (npm suomifi-icons, MIT) into one SVG sprite, into crates/gateway/assets,
// where the gateway builds them into the binary. The output is committed; design-assets.test.mjs
// (part of `npm test`) fails when it differs from what this script writes, so a hand edit
// or a package update without a regeneration cannot go unnoticed.
//
// `npm run design-assets` (after `npm ci`) writes the files.
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const TOKENS_CSS = 'crates/gateway/assets/tokens.css';
export const FONTS_DIR = 'crates/gateway/assets/fonts';
export const ICONS_SVG = 'crates/gateway/assets/icons.svg';
// The icons the pages use, by their name in suomifi-icons; each becomes `#icon-<kebab name>`.
const ICONS = ['Alert', 'Calendar', 'CheckCircle', 'Download', 'Edit', 'Error', 'Internet', 'Lock', 'Logout', 'Person', 'Plus', 'Preview', 'Print', 'Warning'];
// The gateway serves each file of FONTS_DIR at this path (crates/gateway/src/pages.rs).
const FONTS_URL = '/assets/fonts/';
// The weights the pages use (regular, semibold, bold) and the subsets Finnish, Swedish and
// the Sámi languages need.
const WEIGHTS = [400, 600, 700];
const SUBSETS = ['latin', 'latin-ext'];
const FONT_LICENCE = 'OFL.txt';

const kebab = (name) => name.replace(/([A-Z])/g, '-$1').toLowerCase();

function packageDir(name) {
  return dirname(require.resolve(`${name}/package.json`));
}

function packageVersion(name) {
  return JSON.parse(readFileSync(join(packageDir(name), 'package.json'), 'utf8')).version;
}

// The package's token values, with their units, rather than its preformatted strings: the
// typography tokens are rules, and the custom properties want one value each.
function tokens() {
  return require('suomifi-design-tokens').suomifiDesignTokens.values;
}

// Type sizes in rem (16 px = 1 rem), so the person's own font-size setting scales the text.
function typeSize({ value, unit }) {
  if (unit === null) return String(value);
  if (unit !== 'px') throw new Error(`a type size in ${unit}: the script knows px only`);
  return `${value / 16}rem`;
}

function length({ value, unit }) {
  return `${value}${unit ?? ''}`;
}

function customProperties(values) {
  const lines = [];
  const section = (title) => lines.push('', `  /* ${title} */`);
  const property = (name, value) => lines.push(`  --fi-${name}: ${value};`);

  section('colours');
  for (const [name, colour] of Object.entries(values.colors)) property(`color-${kebab(name)}`, colour.hsl);

  section('typography: one family; size, line height and weight of each text style');
  const families = new Set(Object.values(values.typography).map((style) => style.fontFamily));
  if (families.size !== 1) throw new Error(`the text styles use ${families.size} font families; the script expects one`);
  property('font-family', [...families][0]);
  // One line a text style, its size, line height and weight side by side.
  for (const [name, style] of Object.entries(values.typography)) {
    const prefix = `--fi-text-${kebab(name)}`;
    lines.push(`  ${prefix}-font-size: ${typeSize(style.fontSize)}; ${prefix}-line-height: ${typeSize(style.lineHeight)}; ${prefix}-font-weight: ${style.fontWeight};`);
  }

  section('spacing');
  for (const [name, space] of Object.entries(values.spacing)) property(`spacing-${kebab(name)}`, length(space));

  section('radii');
  for (const [name, radius] of Object.entries(values.radiuses)) property(`radius-${kebab(name)}`, length(radius));

  section('shadows');
  for (const [name, shadow] of Object.entries(values.shadows)) property(`shadow-${kebab(name)}`, shadow.value);

  section('focus: the ring, and the outline that forced-colours mode turns visible');
  property('focus-box-shadow', values.focuses.boxShadowFocus.boxShadow);
  property('focus-radius', values.focuses.boxShadowFocus.borderRadius);
  property('focus-high-contrast-outline', values.focuses.highContrastFocus.outline);

  section('transitions');
  for (const [name, transition] of Object.entries(values.transitions)) property(`transition-${kebab(name)}`, transition.value);
  return lines;
}

function fontFile(subset, weight) {
  return `source-sans-3-${subset}-${weight}-normal.woff2`;
}

function fontFaces() {
  const ranges = JSON.parse(readFileSync(join(packageDir('@fontsource/source-sans-3'), 'unicode.json'), 'utf8'));
  const rules = [];
  for (const weight of WEIGHTS) {
    for (const subset of SUBSETS) {
      if (!ranges[subset]) throw new Error(`@fontsource/source-sans-3 has no ${subset} subset`);
      // One line a face: six blocks alike but for two values say less than six lines.
      rules.push(
        `@font-face { font-family: 'Source Sans 3'; font-style: normal; font-weight: ${weight}; font-display: swap; ` +
          `src: url(${FONTS_URL}${fontFile(subset, weight)}) format('woff2'); unicode-range: ${ranges[subset]}; }`,
      );
    }
  }
  return rules;
}

function tokensLicence() {
  const text = readFileSync(join(packageDir('suomifi-design-tokens'), 'LICENSE'), 'utf8');
  if (text.includes('*/')) throw new Error('the tokens\' licence would end the CSS comment');
  return text.trimEnd().split('\n').map((line) => (line ? `   ${line}` : ''));
}

function tokensCss() {
  const header = [
    '/* GENERATED by tests/browser/design-assets.mjs: do not edit. Change the script and run',
    '   `npm run design-assets` in tests/browser; `npm test` fails when this file differs.',
    `   Sources: suomifi-design-tokens ${packageVersion('suomifi-design-tokens')} (MIT),`,
    `   @fontsource/source-sans-3 ${packageVersion('@fontsource/source-sans-3')} (OFL-1.1, licence in fonts/${FONT_LICENCE}).`,
    '   The breakpoints cannot be custom properties (media queries do not read them):',
    `   ${Object.entries(tokens().breakpoints).map(([name, size]) => `${name} ${length(size)}`).join(', ')}.`,
    '',
    '   The tokens\' licence, which travels with every copy of their values:',
    '',
    ...tokensLicence(),
    '*/',
  ];
  const lines = [...header, '', ...fontFaces(), '', ':root {', ...customProperties(tokens()).slice(1), '}', ''];
  return Buffer.from(lines.join('\n'));
}

// One icon's shapes, read from the package's generated SVG component (its viewBox and each
// path's `d` and fill rule), drawn in the text's colour.
function icon(name) {
  const source = readFileSync(join(packageDir('suomifi-icons'), 'esm', 'svgrComponents', 'baseIcons', `Icon${name}.js`), 'utf8');
  const viewBox = source.match(/viewBox: "([^"]+)"/);
  const paths = [...source.matchAll(/React\.createElement\("path", \{([^}]*)\}/g)].map(([, attrs]) => {
    const d = attrs.match(/\bd: "([^"]+)"/);
    const rule = attrs.match(/fillRule: "([^"]+)"/);
    if (!d) throw new Error(`${name}: a path without d`);
    return `<path d="${d[1]}"${rule ? ` fill-rule="${rule[1]}"` : ''} fill="currentColor"/>`;
  });
  if (!viewBox || paths.length === 0) throw new Error(`${name}: no icon found in suomifi-icons`);
  return `<symbol id="icon${kebab(name)}" viewBox="${viewBox[1]}">${paths.join('')}</symbol>`;
}

function iconsSvg() {
  const lines = [
    '<svg xmlns="http://www.w3.org/2000/svg">',
    `<!-- GENERATED by tests/browser/design-assets.mjs from suomifi-icons ${packageVersion('suomifi-icons')} (MIT): do not edit. -->`,
    ...ICONS.map(icon),
    '</svg>',
    '',
  ];
  return Buffer.from(lines.join('\n'));
}

/** Every file the script owns, as a map from its path in the repository to its bytes. */
export function designAssets() {
  const fonts = join(packageDir('@fontsource/source-sans-3'), 'files');
  const files = new Map([[TOKENS_CSS, tokensCss()], [ICONS_SVG, iconsSvg()]]);
  for (const weight of WEIGHTS) {
    for (const subset of SUBSETS) {
      files.set(join(FONTS_DIR, fontFile(subset, weight)), readFileSync(join(fonts, fontFile(subset, weight))));
    }
  }
  files.set(join(FONTS_DIR, FONT_LICENCE), readFileSync(join(packageDir('@fontsource/source-sans-3'), 'LICENSE')));
  return files;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = designAssets();
  // The fonts directory holds exactly the files above: a weight dropped here leaves no orphan.
  rmSync(join(REPO, FONTS_DIR), { recursive: true, force: true });
  for (const [path, bytes] of files) {
    mkdirSync(dirname(join(REPO, path)), { recursive: true });
    writeFileSync(join(REPO, path), bytes);
    console.log('wrote', path);
  }
  console.log(`${readdirSync(join(REPO, FONTS_DIR)).length} files in ${FONTS_DIR}`);
}
