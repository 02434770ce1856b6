// OmaData's web app for staff (professionals, auditors, admins): plain JavaScript, no
// framework, no inline code (CSP). The client's pages and the sign-in choices are rendered
// on the server (crates/gateway/src/web). Finnish by default; Swedish and English.
'use strict';

// The languages, and the code lists the forms offer (their words are in the texts).
const LANGUAGES = ['fi', 'sv', 'en'];
const PURPOSES = ['guidance', 'service_need_assessment', 'service_decision', 'employer_cooperation', 'shared_plan'];
const PROFESSIONS = ['youth_work', 'social_work', 'employment_services', 'health_care', 'education', 'other'];

const app = { lang: 'fi', texts: {}, me: null, fields: [], byPath: new Map() };

function t(key, vars) {
  let text = app.texts[key] || key;
  for (const [name, value] of Object.entries(vars || {})) text = text.replace('{' + name + '}', value);
  return text;
}

// Builds an element; children are nodes or strings (always text, never HTML).
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else if (name === 'text') el.textContent = value;
    else el.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function say(message, isError) {
  const status = document.getElementById('status');
  status.textContent = '';
  status.append(h('p', { class: isError ? 'error' : '' }, message));
}

async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && app.me && app.me.csrf_token) headers['x-csrf-token'] = app.me.csrf_token;
  const response = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
  if (!response.ok) {
    const error = new Error((data && data.detail) || response.statusText);
    error.status = response.status;
    error.code = data && data.code;
    throw error;
  }
  return data;
}

function fail(error) { say(t('error', { detail: error.message }), true); }

// Dates as people mean them: shown in Finnish time, and a chosen day lasts until its
// end in Finnish time (Europe/Helsinki), whatever the browser's own time zone.
const HELSINKI = 'Europe/Helsinki';
const dateFormat = () => new Intl.DateTimeFormat(app.lang === 'en' ? 'en-GB' : app.lang + '-FI', { dateStyle: 'medium', timeZone: HELSINKI });
const timeFormat = () => new Intl.DateTimeFormat(app.lang === 'en' ? 'en-GB' : app.lang + '-FI', { dateStyle: 'medium', timeStyle: 'short', timeZone: HELSINKI });
const fmtDate = (iso) => dateFormat().format(new Date(iso));
const fmtTime = (iso) => timeFormat().format(new Date(iso));
const wallClock = new Intl.DateTimeFormat('en-GB', { timeZone: HELSINKI, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
function helsinkiParts(ms) {
  return Object.fromEntries(wallClock.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
}
// The day (YYYY-MM-DD) an instant falls on in Finnish time.
function helsinkiDay(iso) {
  const p = helsinkiParts(Date.parse(iso));
  return `${p.year}-${p.month}-${p.day}`;
}
const isoDay = (date) => helsinkiDay(date.toISOString());
// The first moment of a day (YYYY-MM-DD) in Finnish time: a second after the day before
// ended (a day is 23 or 25 hours long when the clocks change).
function startOfDay(day) {
  const [y, m, d] = day.split('-').map(Number);
  const before = new Date(Date.UTC(y, m - 1, d - 1)).toISOString().slice(0, 10);
  return new Date(Date.parse(endOfDay(before)) + 1000).toISOString();
}
// The last second (23:59:59) of a day (YYYY-MM-DD) in Finnish time, as an instant.
function endOfDay(day) {
  const [y, m, d] = day.split('-').map(Number);
  const wanted = Date.UTC(y, m - 1, d, 23, 59, 59);
  let at = wanted - 2 * 3600e3;
  for (let i = 0; i < 2; i++) {
    const p = helsinkiParts(at);
    at += wanted - Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
  }
  return new Date(at).toISOString();
}

function fieldLabel(path) {
  const field = app.byPath.get(path);
  return field ? field.labels[app.lang] || field.labels.fi : path;
}


// A value as words: a choice's code and a date never appear raw.
function formatValue(value, field) {
  if (value === null || value === undefined || value === '') return t('noValue');
  if (Array.isArray(value)) return value.join(', ');
  if (field && field.type.kind === 'choice') return t('choice_' + value);
  if (field && field.type.kind === 'date') return fmtDate(value);
  return String(value);
}


// ---- page frame ----------------------------------------------------------------------

const NAV = {
  professional: [['clients', 'navClients'], ['ask', 'navAsk'], ['sent', 'navSent']],
  auditor: [['events', 'navEvents']],
  admin: [['staff', 'navStaff']],
};

function route() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [page, ...rest] = hash.split('/');
  return { page, arg: rest.join('/') };
}

function renderFrame() {
  document.documentElement.lang = app.lang;
  document.querySelector('.skip').textContent = t('skip');
  // The language menu as on the server's pages: each language named in itself; the
  // links work on their own too (the server remembers the choice and comes back here).
  document.getElementById('languages').setAttribute('aria-label', t('language'));
  for (const link of document.querySelectorAll('#languages a')) {
    link.href = '/language?to=' + link.dataset.lang + '&back=' + encodeURIComponent(location.pathname + location.hash);
    if (link.dataset.lang === app.lang) link.setAttribute('aria-current', 'true');
    else link.removeAttribute('aria-current');
  }
  const logout = document.getElementById('logout');
  logout.textContent = t('logout');
  logout.hidden = false;
  // Who is signed in, on a shared computer too.
  const who = document.getElementById('who');
  who.textContent = t('signedInAs', { name: app.me.display_name, role: t('role_' + app.me.role) });
  who.hidden = false;
  const nav = document.getElementById('nav');
  nav.setAttribute('aria-label', t('menu'));
  nav.textContent = '';
  const current = route().page || NAV[app.me.role][0][0];
  nav.append(h('ul', {}, NAV[app.me.role].map(([page, key]) =>
    h('li', {}, h('a', { href: '#/' + page, 'aria-current': page === current ? 'page' : false }, t(key))))));
}

async function render() {
  renderFrame();
  const main = document.getElementById('main');
  main.textContent = '';
  main.append(h('p', {}, t('loading')));
  const views = {
    professional: { clients: myClients, client: clientRecord, ask: askAccess, sent: sentRequests },
    auditor: { events: auditEvents },
    admin: { staff: staffPage },
  };
  let content;
  try {
    const { page, arg } = route();
    const pages = views[app.me.role];
    const view = pages[page] || pages[NAV[app.me.role][0][0]];
    content = await view(arg);
  } catch (error) {
    content = h('p', { class: 'error' }, t('error', { detail: error.message }));
  }
  main.textContent = '';
  main.append(content);
  const heading = main.querySelector('h1');
  document.title = (heading ? heading.textContent + ' – ' : '') + 'OmaData';
}

// ---- editing a field (a professional's writes) ----------------------------------------

function valueEditor(field, value, id) {
  const type = field.type;
  if (type.kind === 'date') return h('input', { type: 'date', id, value: value || '' });
  if (type.kind === 'choice') {
    return h('select', { id }, h('option', { value: '' }, '—'),
      type.options.map((o) => h('option', { value: o, selected: o === value }, t('choice_' + o))));
  }
  if (type.kind === 'text_list') return h('textarea', { id, 'aria-describedby': id + '-hint' }, (value || []).join('\n'));
  if (type.max_chars > 200) return h('textarea', { id, maxlength: type.max_chars }, value || '');
  const inputType = type.format === 'email' ? 'email' : type.format === 'phone' ? 'tel' : 'text';
  return h('input', { type: inputType, id, value: value || '', maxlength: type.max_chars });
}

function readEditor(field, element) {
  const raw = element.value;
  if (field.type.kind === 'text_list') return raw.split('\n').map((s) => s.trim()).filter(Boolean);
  if (raw === '' && field.type.kind !== 'text') return null;
  return raw;
}

function editForm(field, current, write) {
  const id = 'edit-' + field.path.replace(/\./g, '-');
  const editor = valueEditor(field, current, id);
  const form = h('form', { class: 'card soft' },
    h('div', { class: 'row' }, h('label', { for: id, class: 'label' }, fieldLabel(field.path)),
      field.type.kind === 'text_list' ? h('p', { id: id + '-hint', class: 'meta' }, t('listHint')) : null, editor),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, t('save')),
      h('button', { type: 'button', class: 'secondary', onclick: () => render() }, t('cancel'))));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await write(readEditor(field, editor));
      say(t('saved'));
      await render();
    } catch (error) { fail(error); }
  });
  return form;
}

function authorLine(record) {
  if (record.author.kind === 'professional') {
    return t('writtenBy', { name: record.author.name || '?', title: record.author.title || '', date: fmtDate(record.written_at) });
  }
  // (A professional reads this: what the client wrote is the client's, not "yours".)
  return t('writtenByClient', { date: fmtDate(record.written_at) });
}


function fieldList(paths) {
  return h('ul', {}, [...paths].map((p) => h('li', {}, fieldLabel(p),
    app.byPath.get(p) && app.byPath.get(p).sensitivity === 'special' ? [' ', h('span', { class: 'badge special' }, t('sensitive'))] : null)));
}

function purposeText(purpose) {
  return t('p_' + purpose.code) + (purpose.text ? ': ' + purpose.text : '');
}

// What a grant and an access request both state: the actions, the purpose and the end of
// access. Controls whose ids start with `prefix`, and `read`, which turns them and the fields
// checked under the name `prefix-field` into the API's terms.
function termsForm(prefix) {
  const id = (part) => prefix + '-' + part;
  const until = h('input', { type: 'date', id: id('until'), value: isoDay(new Date(Date.now() + 30 * 86400000)), min: isoDay(new Date()) });
  const controls = [
    h('fieldset', {}, h('legend', {}, t('actions')),
      h('div', { class: 'check' }, h('input', { type: 'checkbox', id: id('read'), checked: true }), h('label', { for: id('read') }, t('actionRead'))),
      h('div', { class: 'check' }, h('input', { type: 'checkbox', id: id('write') }), h('label', { for: id('write') }, t('actionWrite')))),
    h('div', { class: 'row' }, h('label', { for: id('purpose'), class: 'label' }, t('purpose')),
      h('select', { id: id('purpose') }, PURPOSES.map((p) => h('option', { value: p }, t('p_' + p))))),
    h('div', { class: 'row' }, h('label', { for: id('text'), class: 'label' }, t('purposeText')), h('input', { type: 'text', id: id('text'), maxlength: 500 })),
    h('div', { class: 'row' }, h('label', { for: id('until'), class: 'label' }, t('until')), until),
  ];
  const read = (form) => {
    const actions = [];
    if (form.querySelector('#' + id('read')).checked) actions.push('read');
    if (form.querySelector('#' + id('write')).checked) actions.push('write');
    const code = form.querySelector('#' + id('purpose')).value;
    const text = form.querySelector('#' + id('text')).value.trim();
    return {
      fields: [...form.querySelectorAll('input[name=' + id('field') + ']:checked')].map((c) => ({ path: c.value })),
      actions,
      purpose: text ? { code, text } : { code },
      valid_until: endOfDay(until.value),
    };
  };
  return { controls, read };
}


// What a request or grant lets the professional do, in words: whether they may change
// the data too is never left out.
function rightsLine(actions) {
  const text = actions.includes('write') ? t('mayChange') : t('maySee');
  return h('p', {}, h('strong', {}, t('may') + ': '), actions.includes('write') ? h('strong', { class: 'badge' }, text) : text);
}






// ---- professional --------------------------------------------------------------------

// How a client is called on the professional's pages. Their name only when a grant lets
// the professional read it (the server sends it then, and audits that read); otherwise a
// neutral label by the day the professional's access began ("Asiakas, lupa 3.12.2026
// alkaen"): it stays the same from page to page and as clients come and go (a number by
// list order would not, and the list is in id order), it helps to tell clients apart,
// and it is not an id: no part of the client's id is ever shown.
function clientLabel(name, grants) {
  if (name) return name;
  const since = grants.map((g) => g.valid_from).sort()[0];
  return since ? t('clientSince', { date: fmtDate(since) }) : t('client');
}

async function myClients() {
  const clients = await api('GET', '/api/v1/clients');
  return h('div', {},
    h('h1', {}, t('clients')),
    h('p', {}, t('clientsIntro')),
    clients.length ? clients.map((c, i) => h('article', { class: 'card', 'aria-labelledby': 'client-' + i },
      h('h2', { id: 'client-' + i }, clientLabel(c.name, c.grants)),
      c.grants.map((g) => h('div', {}, fieldList(g.fields), h('p', { class: 'meta' }, purposeText(g.purpose) + ' – ' + t('until') + ' ' + fmtDate(g.valid_until)))),
      h('a', { href: '#/client/' + c.client, class: 'button', 'aria-describedby': 'client-' + i }, t('open')))) : h('p', {}, t('noClients')));
}

async function clientRecord(id) {
  let record;
  try {
    record = await api('GET', '/api/v1/clients/' + encodeURIComponent(id) + '/record');
  } catch (error) {
    if (error.status === 403) return h('div', {}, h('h1', {}, t('record')), h('p', { class: 'error', role: 'alert' }, t('noAccess')));
    throw error;
  }
  // The name is a field of the record like any other: shown when granted and read.
  const name = record.fields.find((f) => f.path === 'identity.name');
  const writable = new Set(record.grants.filter((g) => g.actions.includes('write')).flatMap((g) => g.fields)
    .filter((p) => app.byPath.get(p) && app.byPath.get(p).author !== 'client'));
  const shown = new Set(record.fields.map((f) => f.path));
  return h('div', {},
    h('h1', {}, t('record')),
    h('p', { class: 'lead' }, clientLabel(name && typeof name.value === 'string' ? name.value : null, record.grants)),
    h('section', { class: 'card' }, record.fields.map((f) => h('div', { class: 'field' },
      h('span', { class: 'label' }, fieldLabel(f.path)), h('div', { class: 'value' }, formatValue(f.value, app.byPath.get(f.path))), h('p', { class: 'meta' }, authorLine(f))))),
    [...writable].map((path) => {
      const field = app.byPath.get(path);
      const current = record.fields.find((f) => f.path === path);
      return editForm(field, current && current.value, (value) => api('PUT', '/api/v1/clients/' + id + '/record/' + path, { value }));
    }),
    shown.size === 0 ? h('p', {}, t('noValue')) : null);
}

async function askAccess() {
  const terms = termsForm('ask');
  // Only the fields the sensitivity policy lets this professional be shared.
  const shareable = new Set(await api('GET', '/api/v1/access-requests/fields'));
  const offered = app.fields.filter((f) => shareable.has(f.path));
  const categories = [...new Set(offered.map((f) => f.category))];
  const form = h('form', {},
    h('div', { class: 'row' }, h('label', { for: 'ask-code', class: 'label' }, t('pairingCode')), h('input', { type: 'text', id: 'ask-code', required: true, autocomplete: 'off' })),
    categories.map((category) => h('fieldset', {}, h('legend', {}, t('cat_' + category)),
      offered.filter((f) => f.category === category).map((f, i) => {
        const id = 'ask-' + category + '-' + i;
        return h('div', { class: 'check' }, h('input', { type: 'checkbox', id, name: 'ask-field', value: f.path }),
          h('label', { for: id }, fieldLabel(f.path), f.sensitivity !== 'basic' ? [' ', h('span', { class: 'badge special' }, t('sensitive'))] : null));
      }))),
    terms.controls,
    h('button', { type: 'submit' }, t('send')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await api('POST', '/api/v1/access-requests', { pairing_code: form.querySelector('#ask-code').value, ...terms.read(form) });
      say(t('sent'));
      form.reset();
    } catch (error) { fail(error); }
  });
  return h('div', {}, h('h1', {}, t('ask')), h('p', {}, t('askIntro')), form);
}

async function sentRequests() {
  const requests = await api('GET', '/api/v1/access-requests');
  requests.sort((a, b) => b.created_at.localeCompare(a.created_at));
  const card = (r) => h('article', { class: 'card', 'aria-labelledby': 'sent-' + r.id },
    h('h2', { id: 'sent-' + r.id }, t('sentOn') + ' ' + fmtTime(r.created_at)),
    h('p', {}, h('span', { class: 'badge' + (r.current_status === 'approved' ? ' ok' : '') }, t('status_' + r.current_status))),
    h('div', {}, h('strong', {}, t('which') + ':'), fieldList(r.fields)),
    rightsLine(r.actions),
    h('p', {}, h('strong', {}, t('why') + ': '), purposeText(r.purpose)),
    h('p', {}, h('strong', {}, t('until') + ': '), fmtDate(r.valid_until)));
  return h('div', {}, h('h1', {}, t('navSent')), h('p', {}, t('sentIntro')),
    requests.length ? requests.map(card) : h('p', {}, t('noSent')));
}

// ---- auditor -------------------------------------------------------------------------

function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = h('a', { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function toCsv(events) {
  const columns = ['seq', 'at', 'event', 'client', 'professional', 'professional_name', 'organisation', 'grant', 'request', 'fields', 'action', 'purpose', 'outcome', 'reason'];
  // A cell that a spreadsheet would read as a formula (=, +, -, @, tab, return first) is
  // written as text, with a leading apostrophe.
  const cell = (v) => {
    let s = Array.isArray(v) ? v.join(' ') : v === null || v === undefined ? '' : String(v);
    if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;
    return '"' + s.replace(/"/g, '""') + '"';
  };
  return [columns.join(',')].concat(events.map((e) => columns.map((c) => cell(e[c])).join(','))).join('\n') + '\n';
}

// The auditor's organisation's staff, every page of it: the names for the events and the
// choices of the professional filter.
async function auditStaff() {
  const staff = [];
  let next = '/api/v1/audit/staff?limit=1000';
  while (next) {
    const response = await fetch(next, { headers: { accept: 'application/json' }, credentials: 'same-origin' });
    if (!response.ok) throw new Error(response.statusText);
    staff.push(...await response.json());
    const link = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get('link') || '');
    next = link ? link[1] : null;
  }
  return staff.sort((a, b) => a.name.localeCompare(b.name, 'fi'));
}

// A client in the auditor's table: a pseudonymous short reference, the first eight
// characters of the id (never the whole id: it is no use to a person, and the API takes
// the short one as a filter).
const shortRef = (id) => String(id).slice(0, 8);
const SHORT_REF = /^[0-9a-f]{8}$/i;

// An event's reason in words: a deny's or a lockout's code, the role at a sign-in, and
// the staff changes an admin or the operator made (their text names staff by id).
function reasonText(event, who) {
  const reason = event.reason;
  if (!reason) return '';
  if (event.event === 'login' && app.texts['role_' + reason]) return t('role_' + reason);
  if (app.texts['why_' + reason]) return t('why_' + reason);
  const change = /\b(registered|deactivated|confirmed) staff ([0-9a-f-]{36})/.exec(reason);
  if (change) return t('why_staff_' + change[1], { name: who(change[2]) });
  return t('why_other');
}

async function auditEvents() {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  // Sign a checkpoint first (only if the log has grown), so the verification anchors
  // everything up to now.
  const [checkpoint, staff] = await Promise.all([api('POST', '/api/v1/audit/checkpoint'), auditStaff()]);
  const verify = await api('GET', '/api/v1/audit/verify').then((r) => ({ ok: true, r })).catch((e) => ({ ok: false, e }));
  const byId = new Map(staff.map((s) => [s.id, s]));
  const who = (id) => { const s = byId.get(id); return s ? s.name + ', ' + s.title : t('unknownStaff'); };
  const link = (query, text) => h('a', { href: '#/events?' + query }, text);
  let before = null;
  const tbody = h('tbody');
  const more = h('button', { type: 'button', class: 'secondary' }, t('more'));
  more.hidden = true;
  const filterQuery = () => {
    const query = new URLSearchParams();
    for (const key of ['client', 'professional', 'from', 'to']) if (params.get(key)) query.set(key, params.get(key));
    return query;
  };
  const row = (e) => h('tr', {}, h('td', {}, fmtTime(e.at)), h('td', {}, t('ev_' + e.event)),
    h('td', {}, e.client ? link('client=' + shortRef(e.client), t('clientRef', { ref: shortRef(e.client) })) : ''),
    h('td', {}, e.professional ? link('professional=' + e.professional, who(e.professional)) : ''),
    h('td', {}, e.fields.filter((f) => f !== '*').map(fieldLabel).join(', ')), h('td', {}, e.action ? t('act_' + e.action) : ''),
    h('td', {}, e.outcome ? t('out_' + e.outcome) : ''), h('td', {}, reasonText(e, who)));
  const load = async () => {
    const query = filterQuery();
    if (before !== null) query.set('before', before);
    query.set('limit', '50');
    const page = await api('GET', '/api/v1/audit/events?' + query);
    before = page.next_before ?? null;
    more.hidden = before === null;
    tbody.append(...page.events.map(row));
  };
  // The export holds every event the filters select, not only the rows loaded so far,
  // with the names beside the ids.
  const everything = async () => {
    say(t('exportAll'));
    const all = [];
    let from = null;
    do {
      const query = filterQuery();
      if (from !== null) query.set('before', from);
      query.set('limit', '1000');
      const page = await api('GET', '/api/v1/audit/events?' + query);
      all.push(...page.events);
      from = page.next_before ?? null;
    } while (from !== null && all.length < 100000);
    return all.map((e) => (e.professional && byId.has(e.professional) ? { ...e, professional_name: byId.get(e.professional).name } : e));
  };

  // The filters: a client by short reference, a professional by name, whole Finnish days.
  // A wrong value is told next to its field; the page and the table stay.
  const hint = (name) => h('p', { id: 'q-' + name + '-error', class: 'error', hidden: true });
  const field = (name, label, control, help) => h('div', { class: 'row' }, h('label', { for: 'q-' + name, class: 'label' }, label),
    help ? h('p', { id: 'q-' + name + '-help', class: 'meta' }, help) : null, hint(name), control);
  const initialClient = params.get('client') || '';
  const client = h('input', { type: 'text', id: 'q-client', name: 'client', value: SHORT_REF.test(initialClient) ? initialClient : shortRef(initialClient),
    maxlength: 36, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'q-client-help' });
  const professional = h('select', { id: 'q-professional', name: 'professional' }, h('option', { value: '' }, t('everyone')),
    staff.map((s) => h('option', { value: s.id, selected: s.id === params.get('professional') }, s.name + ', ' + s.title)));
  const dayInput = (name) => h('input', { type: 'date', id: 'q-' + name, name, value: params.get(name) ? helsinkiDay(params.get(name)) : '' });
  const from = dayInput('from');
  const to = dayInput('to');
  const filters = h('form', { class: 'card soft', novalidate: true, 'aria-labelledby': 'filters-h' }, h('h2', { id: 'filters-h' }, t('filter')),
    field('client', t('clientRefLabel'), client, t('clientRefHelp')), field('professional', t('professional'), professional),
    field('from', t('from'), from), field('to', t('to'), to), hint('form'), h('button', { type: 'submit' }, t('filter')));
  const controls = { client, professional, from, to, form: null };
  // (The client's field is described by its help; a problem is told before it.)
  const describedBy = { client: 'q-client-help' };
  const clearProblems = () => {
    for (const [name, control] of Object.entries(controls)) {
      filters.querySelector('#q-' + name + '-error').hidden = true;
      if (!control) continue;
      control.removeAttribute('aria-invalid');
      if (describedBy[name]) control.setAttribute('aria-describedby', describedBy[name]);
      else control.removeAttribute('aria-describedby');
    }
  };
  const problem = (name, message) => {
    const note = filters.querySelector('#q-' + name + '-error');
    note.textContent = message;
    note.hidden = false;
    const control = controls[name];
    if (!control) return note;
    control.setAttribute('aria-invalid', 'true');
    control.setAttribute('aria-describedby', [note.id, describedBy[name]].filter(Boolean).join(' '));
    return control;
  };
  // What the server refused, by its stable code, next to the field it concerns.
  const refused = (error) => {
    const at = { invalid_client_reference: ['client', 'badClientRef'], conflicting_filters: ['client', 'bothFilters'], invalid_time_range: ['to', 'badRange'] }[error.code];
    return at ? problem(at[0], t(at[1])) : problem('form', t('filterFailed'));
  };
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    clearProblems();
    const q = new URLSearchParams();
    const ref = client.value.trim();
    const problems = [];
    if (ref && !SHORT_REF.test(ref)) problems.push(problem('client', t('badClientRef')));
    if (ref && professional.value) problems.push(problem('client', t('bothFilters')));
    if (from.value && to.value && from.value > to.value) problems.push(problem('to', t('badRange')));
    if (problems.length) { problems[0].focus(); return; }
    if (ref) q.set('client', ref.toLowerCase());
    if (professional.value) q.set('professional', professional.value);
    // Whole Finnish days: from the start of the first to the end of the last (one day is
    // a range too).
    if (from.value) q.set('from', startOfDay(from.value));
    if (to.value) q.set('to', new Date(Date.parse(endOfDay(to.value)) + 999).toISOString());
    location.hash = '#/events?' + q;
  });
  more.addEventListener('click', () => load().catch(fail));
  const exportButton = (label, name, type, format) => h('button', { type: 'button', class: 'secondary',
    onclick: () => everything().then((all) => { download(name, type, format(all)); say(t('exported', { n: all.length })); }).catch(fail) }, label);
  const page = h('div', {},
    h('h1', {}, t('events')),
    h('p', {}, t('eventsIntro')),
    h('section', { class: 'card', 'aria-labelledby': 'verify-h' }, h('h2', { id: 'verify-h' }, t('verify')),
      verify.ok ? h('p', { class: 'badge ok' }, t('verifyOk', { n: verify.r.entries, c: verify.r.checkpoints_verified }))
        : h('p', { class: 'error' }, t('verifyBad', { why: verify.e.message })),
      h('h3', {}, t('checkpoint')),
      h('dl', {}, h('dt', {}, t('treeSize')), h('dd', {}, String(checkpoint.tree_size)), h('dt', {}, t('rootHash')), h('dd', { class: 'value' }, checkpoint.root_hash),
        h('dt', {}, t('signedAt')), h('dd', {}, fmtTime(checkpoint.timestamp)))),
    filters,
    h('div', { class: 'actions' },
      exportButton(t('exportCsv'), 'omadata-audit.csv', 'text/csv', toCsv),
      exportButton(t('exportJson'), 'omadata-audit.json', 'application/json', (all) => JSON.stringify(all, null, 2))),
    h('div', { class: 'table-wrap' }, h('table', {},
      h('caption', { class: 'visually-hidden' }, t('events')),
      h('thead', {}, h('tr', {}, [t('when'), t('event'), t('client'), t('professional'), t('fields'), t('action'), t('outcome'), t('reason')].map((c) => h('th', { scope: 'col' }, c)))),
      tbody)),
    more);
  try {
    await load();
  } catch (error) {
    if (!error.code) throw error;
    refused(error);
  }
  return page;
}

// ---- admin ---------------------------------------------------------------------------

async function staffPage() {
  const [organisation, staff] = await Promise.all([api('GET', '/api/v1/admin/organisation'), api('GET', '/api/v1/admin/professionals')]);
  const row = (name, label, control) => h('div', { class: 'row' }, h('label', { for: 'st-' + name, class: 'label' }, label), control);
  const form = h('form', { class: 'card soft' },
    h('h2', {}, t('register')),
    row('name', t('name'), h('input', { type: 'text', id: 'st-name', required: true })),
    row('title', t('title'), h('input', { type: 'text', id: 'st-title', required: true })),
    row('profession', t('profession'), h('select', { id: 'st-profession' }, PROFESSIONS.map((p) => h('option', { value: p }, t('prof_' + p))))),
    row('role', t('role'), h('select', { id: 'st-role' }, ['professional', 'auditor', 'admin'].map((r) => h('option', { value: r }, t('role_' + r))))),
    row('login', t('loginSubject'), h('input', { type: 'text', id: 'st-login', required: true })),
    h('button', { type: 'submit' }, t('register')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const value = (id) => form.querySelector('#' + id).value;
    try {
      await api('POST', '/api/v1/admin/professionals', { name: value('st-name'), title: value('st-title'), profession: value('st-profession'), roles: [value('st-role')], login_subject: value('st-login') });
      say(t('registered'));
      await render();
    } catch (error) { fail(error); }
  });
  return h('div', {},
    h('h1', {}, t('staff')),
    h('p', {}, organisation.name + ' (' + organisation.business_id + ')'),
    h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, [t('name'), t('title'), t('profession'), t('role'), t('status'), '—'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, staff.map((s) => h('tr', {}, h('td', {}, s.name), h('td', {}, s.title), h('td', {}, t('prof_' + s.profession)), h('td', {}, s.roles.map((r) => t('role_' + r)).join(', ')),
        h('td', {}, t('status_' + (s.status || 'active'))),
        h('td', {}, (s.status || 'active') === 'deactivated' || s.id === app.me.id ? '' : h('button', { type: 'button', class: 'danger',
          onclick: async () => { try { await api('POST', '/api/v1/admin/professionals/' + s.id + '/deactivate'); say(t('deactivated')); await render(); } catch (error) { fail(error); } } }, t('deactivate')))))))),
    form);
}

// ---- start ---------------------------------------------------------------------------

// The language: the one chosen (here or on a server-rendered page: the `lang` cookie),
// else the first of the browser's languages the app speaks, else Finnish.
function initialLanguage() {
  const cookie = document.cookie.split(';').map((c) => c.trim().split('=')).find(([k]) => k === 'lang');
  const wished = [cookie && cookie[1], localStorage.getItem('omadata.lang'), ...(navigator.languages || [])];
  return wished.map((tag) => (tag || '').slice(0, 2).toLowerCase()).find((lang) => LANGUAGES.includes(lang)) || 'fi';
}

function rememberLanguage(lang) {
  localStorage.setItem('omadata.lang', lang);
  document.cookie = `lang=${lang}; Path=/; Max-Age=31536000; SameSite=Lax`;
}

// The texts of one language, from the gateway's Fluent files (each variable as `{name}`).
async function loadTexts(lang) {
  const response = await fetch('/assets/messages/' + lang + '.json');
  app.texts = response.ok ? await response.json() : {};
}

async function start() {
  app.lang = initialLanguage();
  await loadTexts(app.lang);
  for (const link of document.querySelectorAll('#languages a')) {
    link.addEventListener('click', async (event) => {
      event.preventDefault();
      app.lang = link.dataset.lang;
      rememberLanguage(app.lang);
      await loadTexts(app.lang);
      await render();
    });
  }
  document.getElementById('logout').addEventListener('click', async () => {
    try { await api('POST', '/auth/logout'); } catch (error) { /* already signed out */ }
    location.assign('/signed-out');
  });
  window.addEventListener('hashchange', async () => { document.getElementById('status').textContent = ''; await render(); document.getElementById('main').focus(); });
  try {
    app.me = await api('GET', '/api/v1/me');
  } catch (error) {
    app.me = null;
  }
  // The client's pages and the sign-in choices are rendered on the server; this app is
  // the staff's.
  if (!app.me || !NAV[app.me.role]) {
    location.replace(app.me ? '/my/' + (route().page || 'data') : '/');
    return;
  }
  app.fields = await api('GET', '/api/v1/fields');
  app.byPath = new Map(app.fields.map((f) => [f.path, f]));
  await render();
}

document.addEventListener('DOMContentLoaded', start);
