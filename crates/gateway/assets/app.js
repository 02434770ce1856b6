// OmaData web app: plain JavaScript, no framework, no inline code (CSP).
// Finnish by default; Swedish and English. Everyday words first; the legal facts are one
// tap away under "Lisätietoa".
'use strict';

// Every text once, as [Finnish, Swedish, English], so no language can miss a key;
// byLanguage turns the list into one table per language.
const LANGUAGES = ['fi', 'sv', 'en'];
function byLanguage(texts) {
  const tables = Object.fromEntries(LANGUAGES.map((lang) => [lang, {}]));
  for (const [key, versions] of Object.entries(texts)) LANGUAGES.forEach((lang, i) => { tables[lang][key] = versions[i]; });
  return tables;
}

const T = byLanguage({
  skip: ['Siirry sisältöön', 'Till innehållet', 'Skip to content'], language: ['Kieli', 'Språk', 'Language'], logout: ['Kirjaudu ulos', 'Logga ut', 'Sign out'], loading: ['Ladataan…', 'Laddar…', 'Loading…'], menu: ['Päävalikko', 'Huvudmeny', 'Main menu'],
  welcome: ['Omat tietosi yhdessä paikassa', 'Dina egna uppgifter på ett ställe', 'Your own data in one place'], intro: ['Sinä päätät, kuka näkee tietojasi, mitä tietoja ja kuinka kauan. Voit perua luvan milloin vain.', 'Du bestämmer vem som ser dina uppgifter, vilka uppgifter och hur länge. Du kan ta tillbaka ditt lov när som helst.', 'You decide who sees your data, which data and for how long. You can take your permission back at any time.'],
  signInClient: ['Kirjaudu sisään', 'Logga in', 'Sign in'], signInClientText: ['Nuorelle: katso ja hallitse omia tietojasi.', 'För unga: se och hantera dina uppgifter.', 'For young people: see and manage your own data.'],
  signInPro: ['Ammattilainen', 'Yrkesperson', 'Professional'], signInProText: ['Pyydä lupaa ja katso asiakkaan jakamat tiedot.', 'Be om lov och se uppgifter som klienten delat.', 'Ask for permission and see what a client shares.'],
  signInAuditor: ['Auditoija', 'Granskare', 'Auditor'], signInAuditorText: ['Tarkista lupien ja katselujen historia.', 'Granska historiken över lov och visningar.', 'Check the history of permissions and views.'],
  signInAdmin: ['Ylläpitäjä', 'Administratör', 'Admin'], signInAdminText: ['Organisaation ammattilaiset.', 'Organisationens yrkespersoner.', 'Your organisation\'s professionals.'],
  navData: ['Omat tiedot', 'Mina uppgifter', 'My data'], navRequests: ['Pyynnöt', 'Förfrågningar', 'Requests'], navShare: ['Jaa', 'Dela', 'Share'], navGrants: ['Kuka näkee', 'Vem ser', 'Who can see'], navSeen: ['Kuka on katsonut', 'Vem har tittat', 'Who has looked'], navAccount: ['Lataa tai poista', 'Ladda ner eller radera', 'Download or delete'],
  navClients: ['Asiakkaat', 'Klienter', 'Clients'], navAsk: ['Pyydä lupaa', 'Be om lov', 'Ask for access'], navSent: ['Lähetetyt pyynnöt', 'Skickade begäranden', 'Sent requests'],
  sentIntro: ['Pyynnöt, jotka olet lähettänyt, ja mitä asiakas vastasi.', 'Begäranden du har skickat, och vad klienten svarade.', 'The requests you have sent, and what the client answered.'], noSent: ['Et ole vielä lähettänyt pyyntöjä.', 'Du har inte skickat några begäranden ännu.', 'You have not sent any requests yet.'], sentOn: ['Lähetetty', 'Skickad', 'Sent'], navEvents: ['Tapahtumat', 'Händelser', 'Events'], navStaff: ['Henkilöstö', 'Personal', 'Staff'],
  myData: ['Omat tiedot', 'Mina uppgifter', 'My data'], myDataIntro: ['Tässä ovat tietosi. Voit muuttaa tietoja, jotka olet kirjoittanut itse.', 'Här är dina uppgifter. Du kan ändra det du själv har skrivit.', 'Here is your data. You can change what you wrote yourself.'],
  noValue: ['Ei tietoa vielä', 'Inga uppgifter ännu', 'Nothing yet'], edit: ['Muokkaa', 'Ändra', 'Edit'], add: ['Lisää', 'Lägg till', 'Add'], save: ['Tallenna', 'Spara', 'Save'], cancel: ['Peruuta', 'Avbryt', 'Cancel'], saved: ['Tallennettu.', 'Sparat.', 'Saved.'],
  writtenBy: ['Kirjoittanut {name}, {title}, {date}', 'Skrivet av {name}, {title}, {date}', 'Written by {name}, {title}, {date}'], writtenByYou: ['Sinä, {date}', 'Du, {date}', 'You, {date}'],
  listHint: ['Yksi asia riville.', 'En sak per rad.', 'One item per line.'],
  requests: ['Pyynnöt', 'Förfrågningar', 'Requests'], requestsIntro: ['Ammattilainen pyytää lupaa nähdä tietojasi. Sinä päätät. Jos kiellät, saat silti palvelua.', 'En yrkesperson ber om lov att se dina uppgifter. Du bestämmer. Om du säger nej får du ändå service.', 'A professional asks to see your data. You decide. If you say no, you still get help.'],
  noRequests: ['Ei uusia pyyntöjä.', 'Inga nya förfrågningar.', 'No new requests.'], who: ['Kuka', 'Vem', 'Who'], which: ['Mitä tietoja', 'Vilka uppgifter', 'Which data'], why: ['Miksi', 'Varför', 'Why'], until: ['Mihin asti', 'Till och med', 'Until'],
  approve: ['Hyväksy', 'Godkänn', 'Approve'], approveLess: ['Hyväksy vähemmän', 'Godkänn mindre', 'Approve less'], deny: ['Kiellä', 'Säg nej', 'Say no'], approved: ['Hyväksytty. Voit perua luvan milloin vain.', 'Godkänt. Du kan ta tillbaka lovet när som helst.', 'Approved. You can take it back at any time.'], denied: ['Kielletty.', 'Nekat.', 'Refused.'],
  chooseFields: ['Valitse tiedot, jotka haluat näyttää', 'Välj de uppgifter du vill visa', 'Choose the data you want to show'], shorterTime: ['Lupa päättyy', 'Lovet slutar', 'Permission ends'], approveChosen: ['Hyväksy valitut', 'Godkänn valda', 'Approve chosen'],
  oldRequests: ['Aiemmat pyynnöt', 'Tidigare förfrågningar', 'Earlier requests'], status_pending: ['odottaa', 'väntar', 'waiting'], status_approved: ['hyväksytty', 'godkänd', 'approved'], status_denied: ['kielletty', 'nekad', 'refused'], status_expired: ['vanhentunut', 'föråldrad', 'expired'],
  share: ['Jaa tietoja', 'Dela uppgifter', 'Share data'], shareIntro: ['Näytä koodi ammattilaiselle, joka on nyt kanssasi. Hän lähettää sinulle pyynnön. Koodi toimii kerran ja vain vähän aikaa.', 'Visa koden för yrkespersonen som är med dig nu. Hen skickar dig en förfrågan. Koden fungerar en gång och bara en kort stund.', 'Show the code to the professional who is with you now. They send you a request. The code works once and only for a short time.'],
  showCode: ['Näytä koodi', 'Visa kod', 'Show code'], codeValid: ['Koodi toimii {time} asti.', 'Koden fungerar till {time}.', 'The code works until {time}.'],
  grantYourself: ['Anna lupa itse', 'Ge lov själv', 'Give permission yourself'], professional: ['Ammattilainen', 'Yrkesperson', 'Professional'], fields: ['Tiedot', 'Uppgifter', 'Data'], purpose: ['Käyttötarkoitus', 'Ändamål', 'Purpose'], purposeText: ['Tarkemmin (vapaaehtoinen)', 'Mer exakt (frivilligt)', 'More detail (optional)'],
  actions: ['Mitä saa tehdä', 'Vad får göras', 'What they may do'], actionRead: ['Katsoa', 'Se', 'See'], actionWrite: ['Kirjoittaa', 'Skriva', 'Write'], give: ['Anna lupa', 'Ge lov', 'Give permission'], given: ['Lupa annettu.', 'Lov givet.', 'Permission given.'],
  lessIsMore: ['Vinkki: jaa vain se, mitä tarvitaan.', 'Tips: dela bara det som behövs.', 'Tip: share only what is needed.'],
  grants: ['Kuka näkee tietojani nyt', 'Vem ser mina uppgifter nu', 'Who can see my data now'], grantsIntro: ['Nämä ammattilaiset saavat nyt nähdä valitsemasi tiedot.', 'Dessa yrkespersoner får nu se de uppgifter du valt.', 'These professionals may now see the data you chose.'], noGrants: ['Kukaan ei näe tietojasi nyt.', 'Ingen ser dina uppgifter nu.', 'Nobody can see your data now.'],
  stopNow: ['Lopeta heti', 'Stoppa nu', 'Stop now'], stopped: ['Lupa lopetettu. Ammattilainen ei enää näe näitä tietoja.', 'Lovet stoppat. Yrkespersonen ser inte längre uppgifterna.', 'Permission stopped. The professional no longer sees this data.'], pastGrants: ['Päättyneet luvat', 'Avslutade lov', 'Ended permissions'],
  state_active: ['voimassa', 'gäller', 'valid'], state_revoked: ['peruttu', 'återkallat', 'taken back'], state_expired: ['päättynyt', 'slut', 'ended'], state_not_yet_valid: ['ei vielä voimassa', 'gäller inte ännu', 'not yet valid'],
  receipt: ['Kuitti luvasta', 'Kvitto på lovet', 'Receipt of permission'],
  seen: ['Kuka on katsonut tietojani', 'Vem har tittat på mina uppgifter', 'Who has looked at my data'], seenIntro: ['Jokainen katselu tallentuu. Tässä näet, kuka katsoi, mitä ja milloin.', 'Varje visning sparas. Här ser du vem som tittade, på vad och när.', 'Every view is recorded. Here you see who looked, at what and when.'], noneSeen: ['Kukaan ei ole vielä katsonut tietojasi.', 'Ingen har tittat på dina uppgifter ännu.', 'Nobody has looked at your data yet.'],
  sawFields: ['katsoi', 'tittade på', 'looked at'], triedFields: ['yritti katsoa ilman lupaa', 'försökte titta utan lov', 'tried to look without permission'],
  changedFields: ['muutti', 'ändrade', 'changed'], triedChange: ['yritti muuttaa ilman lupaa', 'försökte ändra utan lov', 'tried to change without permission'],
  may: ['Saa', 'Får', 'May'], maySee: ['nähdä tiedot', 'se uppgifterna', 'see the data'], mayChange: ['nähdä ja myös muuttaa tietoja', 'se och också ändra uppgifterna', 'see and also change the data'],
  alsoChange: ['Saa myös muuttaa tietoja', 'Får också ändra uppgifterna', 'May also change the data'], cancel: ['Peruuta', 'Avbryt', 'Cancel'],
  account: ['Lataa tai poista tietosi', 'Ladda ner eller radera dina uppgifter', 'Download or delete your data'], download: ['Lataa kaikki tietoni', 'Ladda ner alla mina uppgifter', 'Download all my data'], downloadText: ['Saat kaiken, mitä sinusta on tallennettu, yhtenä tiedostona.', 'Du får allt som sparats om dig i en fil.', 'You get everything stored about you in one file.'],
  deleteAll: ['Poista kaikki tietoni', 'Radera alla mina uppgifter', 'Delete all my data'], deleteText: ['Kaikki tietosi poistetaan lopullisesti. Kaikki luvat loppuvat heti. Tätä ei voi perua. Lokiin jää vain merkintä, että tiedot poistettiin, ilman nimeäsi.', 'Alla dina uppgifter raderas för alltid. Alla lov slutar direkt. Det går inte att ångra. I loggen blir bara en anteckning om att uppgifterna raderades, utan ditt namn.', 'All your data is deleted for good. Every permission ends at once. This cannot be undone. The log keeps only a note that data was deleted, without your name.'],
  deleteConfirm: ['Ymmärrän, että tietoja ei saa takaisin.', 'Jag förstår att uppgifterna inte kan fås tillbaka.', 'I understand the data cannot be brought back.'], deletedBye: ['Tietosi on poistettu. Kiitos, että käytit OmaDataa.', 'Dina uppgifter är raderade. Tack för att du använde OmaData.', 'Your data has been deleted. Thank you for using OmaData.'],
  reauth: ['Poistaminen vaatii tuoreen tunnistautumisen. Sinut ohjataan tunnistautumaan uudelleen; paina sen jälkeen poista uudelleen.', 'Radering kräver en färsk identifiering. Du skickas för att identifiera dig igen; tryck sedan på radera igen.', 'Deleting needs a fresh sign-in. You are sent to sign in again; then press delete once more.'],
  legal: ['Lisätietoa (laki)', 'Mer information (lag)', 'More information (law)'],
  legalData: ['Sinulla on oikeus saada tietää, mitä tietoja sinusta on, korjata niitä, saada ne itsellesi ja pyytää niiden poistamista (EU:n tietosuoja-asetus, artiklat 15–20).', 'Du har rätt att få veta vilka uppgifter som finns om dig, rätta dem, få dem och begära att de raderas (EU:s dataskyddsförordning, artiklarna 15–20).', 'You have the right to know what data is held about you, to correct it, to get it and to ask for it to be erased (EU General Data Protection Regulation, Articles 15–20).'],
  legalConsent: ['Suostumus on vapaaehtoinen, ja sen voi perua yhtä helposti kuin antaa. Peruminen lopettaa käsittelyn heti. Terveystietoja saa näyttää vain terveydenhuollon ammattilaiselle.', 'Samtycket är frivilligt och kan tas tillbaka lika lätt som det ges. Då upphör behandlingen direkt. Hälsouppgifter får visas bara för hälso- och sjukvårdspersonal.', 'Consent is voluntary and can be withdrawn as easily as it is given; withdrawal ends processing at once. Health data may be shown only to health-care staff.'],
  legalLog: ['Jokainen tietojesi käyttö kirjataan lokiin, jota ei voi muuttaa huomaamatta. Lokiin ei tallenneta tietojesi sisältöä.', 'Varje användning av dina uppgifter loggas i en logg som inte kan ändras obemärkt. Loggen innehåller inte dina uppgifter.', 'Every use of your data is written to a log that cannot be altered unnoticed. The log never holds the contents of your data.'],
  clients: ['Asiakkaani', 'Mina klienter', 'My clients'], clientsIntro: ['Asiakkaat, joilta sinulla on voimassa oleva lupa.', 'Klienter som gett dig ett gällande lov.', 'Clients who have given you a valid permission.'], noClients: ['Ei voimassa olevia lupia.', 'Inga gällande lov.', 'No valid permissions.'],
  open: ['Avaa', 'Öppna', 'Open'], client: ['Asiakas', 'Klient', 'Client'], record: ['Asiakkaan tiedot', 'Klientens uppgifter', 'Client\'s data'], noAccess: ['Ei pääsyä: lupaa ei ole, se on päättynyt tai se on peruttu.', 'Ingen åtkomst: lov saknas, har gått ut eller har återkallats.', 'No access: there is no permission, or it has ended or been taken back.'],
  ask: ['Pyydä lupaa', 'Be om lov', 'Ask for access'], askIntro: ['Kysy asiakkaalta koodi. Pyydä vain ne tiedot, joita tehtävä vaatii.', 'Fråga klienten efter koden. Be bara om de uppgifter uppdraget kräver.', 'Ask the client for their code. Ask only for the data the task needs.'], pairingCode: ['Asiakkaan koodi', 'Klientens kod', 'Client\'s code'], send: ['Lähetä pyyntö', 'Skicka förfrågan', 'Send request'], sent: ['Pyyntö lähetetty. Asiakas päättää.', 'Förfrågan skickad. Klienten bestämmer.', 'Request sent. The client decides.'],
  sensitive: ['arkaluonteinen', 'känslig', 'sensitive'],
  ev_request: ['Pyyntö', 'Begäran', 'Request'], ev_approve: ['Hyväksytty', 'Godkänd', 'Approved'], ev_deny: ['Kielletty', 'Nekad', 'Denied'], ev_request_expire: ['Pyyntö vanheni', 'Begäran gick ut', 'Request expired'],
  ev_grant: ['Lupa annettu', 'Lov givet', 'Permission given'], ev_narrow: ['Lupaa kavennettu', 'Lovet begränsat', 'Permission narrowed'], ev_revoke: ['Lupa peruttu', 'Lovet återkallat', 'Permission withdrawn'], ev_expire: ['Lupa päättyi', 'Lovet gick ut', 'Permission expired'],
  ev_access: ['Tietojen käyttö', 'Användning av uppgifter', 'Use of data'], ev_pairing_code: ['Jakokoodi', 'Delningskod', 'Sharing code'], ev_erase: ['Tiedot poistettu', 'Uppgifterna raderade', 'Data erased'],
  ev_login: ['Kirjautuminen', 'Inloggning', 'Sign-in'], ev_login_refused: ['Kirjautuminen estetty', 'Inloggning nekad', 'Sign-in refused'], ev_logout: ['Uloskirjautuminen', 'Utloggning', 'Sign-out'],
  ev_admin: ['Ylläpito', 'Administration', 'Administration'], ev_lockout: ['Lukitus', 'Spärr', 'Lockout'],
  out_permit: ['sallittu', 'tillåten', 'permitted'], out_deny: ['estetty', 'nekad', 'refused'], act_read: ['katsominen', 'visning', 'looking'], act_write: ['muuttaminen', 'ändring', 'changing'], action: ['Mitä', 'Vad', 'What'],
  exportAll: ['Haetaan kaikki rajatut tapahtumat…', 'Hämtar alla valda händelser…', 'Fetching every filtered event…'],
  events: ['Tapahtumat', 'Händelser', 'Events'], eventsIntro: ['Lupien ja katselujen historia. Lokissa ei ole tietojen sisältöä.', 'Historik över lov och visningar. Loggen innehåller inga uppgifter.', 'History of permissions and views. The log holds no data contents.'], filter: ['Hae', 'Sök', 'Search'], clientId: ['Asiakkaan tunnus', 'Klientens id', 'Client id'], professionalId: ['Ammattilaisen tunnus', 'Yrkespersonens id', 'Professional id'],
  from: ['Alkaen', 'Från', 'From'], to: ['Päättyen', 'Till', 'To'], more: ['Näytä lisää', 'Visa fler', 'Show more'], exportCsv: ['Lataa CSV', 'Ladda ner CSV', 'Download CSV'], exportJson: ['Lataa JSON', 'Ladda ner JSON', 'Download JSON'], when: ['Milloin', 'När', 'When'], event: ['Tapahtuma', 'Händelse', 'Event'], outcome: ['Tulos', 'Resultat', 'Outcome'],
  verify: ['Lokin eheys', 'Loggens integritet', 'Log integrity'], verifyOk: ['Loki on eheä: {n} merkintää, {c} allekirjoitettua tarkistuspistettä.', 'Loggen är hel: {n} poster, {c} signerade kontrollpunkter.', 'The log is intact: {n} entries, {c} signed checkpoints.'], verifyBad: ['Loki EI ole eheä: {why}', 'Loggen är INTE hel: {why}', 'The log is NOT intact: {why}'],
  checkpoint: ['Viimeisin tarkistuspiste', 'Senaste kontrollpunkt', 'Latest checkpoint'], treeSize: ['Merkintöjä', 'Poster', 'Entries'], rootHash: ['Juurisumma', 'Rotsumma', 'Root hash'], signedAt: ['Allekirjoitettu', 'Signerad', 'Signed'],
  staff: ['Organisaation henkilöstö', 'Organisationens personal', 'Organisation staff'], register: ['Rekisteröi henkilö', 'Registrera person', 'Register a person'], name: ['Nimi', 'Namn', 'Name'], title: ['Tehtävänimike', 'Titel', 'Title'], profession: ['Ammatti', 'Yrke', 'Profession'], role: ['Rooli', 'Roll', 'Role'], loginSubject: ['Tunnistuksen tunniste', 'Identifieringens id', 'Login identifier'], registered: ['Rekisteröity.', 'Registrerad.', 'Registered.'],
  status: ['Tila', 'Status', 'Status'], status_active: ['Käytössä', 'Aktiv', 'Active'], status_pending_confirmation: ['Odottaa ylläpidon vahvistusta', 'Väntar på operatörens bekräftelse', 'Awaits the operator\'s confirmation'], status_deactivated: ['Poistettu käytöstä', 'Inaktiverad', 'Deactivated'], deactivate: ['Poista käytöstä', 'Inaktivera', 'Deactivate'], deactivated: ['Poistettu käytöstä: istunnot päättyivät.', 'Inaktiverad: sessionerna avslutades.', 'Deactivated: their sessions ended.'],
  signedInAs: ['Kirjautuneena: {name}, {role}', 'Inloggad: {name}, {role}', 'Signed in: {name}, {role}'],
  role_client: ['asiakas', 'klient', 'client'], role_professional: ['ammattilainen', 'yrkesperson', 'professional'], role_auditor: ['auditoija', 'granskare', 'auditor'], role_admin: ['ylläpitäjä', 'administratör', 'admin'],
  choice_work: ['työ', 'arbete', 'work'], choice_study: ['opiskelu', 'studier', 'study'], choice_other: ['muu syy', 'annat skäl', 'other reason'],
  error: ['Jokin meni vikaan: {detail}', 'Något gick fel: {detail}', 'Something went wrong: {detail}'], signedOut: ['Olet kirjautunut ulos.', 'Du har loggat ut.', 'You have signed out.'],
  cat_identity: ['Henkilö- ja yhteystiedot', 'Person- och kontaktuppgifter', 'Identity and contact'], cat_background: ['Tausta', 'Bakgrund', 'Background'], cat_situation: ['Nykytilanne', 'Nuvarande situation', 'Current situation'], cat_needs: ['Tarpeet', 'Behov', 'Needs'], cat_plan: ['Yhteinen suunnitelma', 'Gemensam plan', 'Shared plan'],
  cat_encounters: ['Asiointi', 'Kontakter', 'Encounters'], cat_self_assessment: ['Itsearviot', 'Självskattningar', 'Self-assessments'], cat_health: ['Terveys ja toimintakyky', 'Hälsa och funktionsförmåga', 'Health and functional capacity'], cat_social_welfare: ['Sosiaalihuolto', 'Socialvård', 'Social welfare'], cat_employment_services: ['Työllisyyspalvelut', 'Arbetskraftstjänster', 'Employment services'],
  p_guidance: ['Ohjaus', 'Vägledning', 'Guidance'], p_service_need_assessment: ['Palvelutarpeen arviointi', 'Bedömning av servicebehov', 'Service-need assessment'], p_service_decision: ['Palvelupäätös', 'Servicebeslut', 'Service decision'], p_employer_cooperation: ['Yhteistyö työnantajan kanssa', 'Samarbete med arbetsgivare', 'Employer cooperation'], p_shared_plan: ['Yhteinen suunnitelma', 'Gemensam plan', 'Shared plan'],
  prof_youth_work: ['Nuorisotyö', 'Ungdomsarbete', 'Youth work'], prof_social_work: ['Sosiaalityö', 'Socialt arbete', 'Social work'], prof_employment_services: ['Työllisyyspalvelut', 'Arbetskraftstjänster', 'Employment services'], prof_health_care: ['Terveydenhuolto', 'Hälso- och sjukvård', 'Health care'], prof_education: ['Opetus ja ohjaus', 'Utbildning och vägledning', 'Education and guidance'], prof_other: ['Muu', 'Annat', 'Other'],
});

const PURPOSES = ['guidance', 'service_need_assessment', 'service_decision', 'employer_cooperation', 'shared_plan'];
const PROFESSIONS = ['youth_work', 'social_work', 'employment_services', 'health_care', 'education', 'other'];
const app = { lang: 'fi', me: null, fields: [], byPath: new Map() };

function t(key, vars) {
  let text = (T[app.lang] && T[app.lang][key]) || T.fi[key] || key;
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
// An id in the auditor's table: its first eight characters, the whole id on hover, and
// a link that filters the events by it.
const idLink = (kind, id) => (id ? h('a', { href: '#/events?' + kind + '=' + encodeURIComponent(id), title: id }, String(id).slice(0, 8)) : '');
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

// What the field is, in one plain line in the person's language.
function fieldHelp(field) {
  return field.help ? field.help[app.lang] || field.help.fi : '';
}

// A value as words: a choice's code and a date never appear raw.
function formatValue(value, field) {
  if (value === null || value === undefined || value === '') return t('noValue');
  if (Array.isArray(value)) return value.join(', ');
  if (field && field.type.kind === 'choice') return t('choice_' + value);
  if (field && field.type.kind === 'date') return fmtDate(value);
  return String(value);
}

function legal(...keys) {
  return h('details', {}, h('summary', {}, t('legal')), ...keys.map((k) => h('p', {}, t(k))));
}

// ---- page frame ----------------------------------------------------------------------

const NAV = {
  client: [['data', 'navData'], ['requests', 'navRequests'], ['share', 'navShare'], ['grants', 'navGrants'], ['seen', 'navSeen'], ['account', 'navAccount']],
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
  document.getElementById('lang-label').textContent = t('language');
  const logout = document.getElementById('logout');
  logout.textContent = t('logout');
  logout.hidden = !app.me;
  // Who is signed in, on a shared computer too.
  const who = document.getElementById('who');
  who.textContent = app.me ? t('signedInAs', { name: app.me.display_name, role: t('role_' + app.me.role) }) : '';
  who.hidden = !app.me;
  const nav = document.getElementById('nav');
  nav.setAttribute('aria-label', t('menu'));
  nav.textContent = '';
  if (!app.me) return;
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
    client: { data: myData, requests: myRequests, share: share, grants: myGrants, seen: seen, account: account },
    professional: { clients: myClients, client: clientRecord, ask: askAccess, sent: sentRequests },
    auditor: { events: auditEvents },
    admin: { staff: staffPage },
  };
  let content;
  try {
    if (!app.me) content = signIn();
    else {
      const { page, arg } = route();
      const pages = views[app.me.role];
      const view = pages[page] || pages[NAV[app.me.role][0][0]];
      content = await view(arg);
    }
  } catch (error) {
    content = h('p', { class: 'error' }, t('error', { detail: error.message }));
  }
  main.textContent = '';
  main.append(content);
  const heading = main.querySelector('h1');
  document.title = (heading ? heading.textContent + ' – ' : '') + 'OmaData';
}

function signIn() {
  const role = (key, textKey, query) => h('div', { class: 'card' },
    h('h2', {}, h('a', { href: '/auth/login' + query }, t(key))), h('p', {}, t(textKey)));
  return h('div', {},
    h('h1', {}, t('welcome')),
    h('p', {}, t('intro')),
    h('div', { class: 'roles' },
      role('signInClient', 'signInClientText', ''),
      role('signInPro', 'signInProText', '?role=professional'),
      role('signInAuditor', 'signInAuditorText', '?role=auditor'),
      role('signInAdmin', 'signInAdminText', '?role=admin')),
    legal('legalConsent', 'legalLog'));
}

// ---- client -------------------------------------------------------------------------

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
  return t('writtenByYou', { date: fmtDate(record.written_at) });
}

async function myData() {
  const records = await api('GET', '/api/v1/me/record');
  const byPath = new Map(records.map((r) => [r.path, r]));
  const categories = [...new Set(app.fields.map((f) => f.category))];
  return h('div', {},
    h('h1', {}, t('myData')),
    h('p', {}, t('myDataIntro')),
    categories.map((category) => {
      const fields = app.fields.filter((f) => f.category === category && (byPath.has(f.path) || f.author !== 'professional'));
      if (!fields.length) return null;
      return h('section', { class: 'card', 'aria-labelledby': 'cat-' + category },
        h('h2', { id: 'cat-' + category }, t('cat_' + category)),
        fields.map((field) => {
          const record = byPath.get(field.path);
          const editable = field.author !== 'professional';
          const holder = h('div', { class: 'field' });
          const show = () => {
            holder.textContent = '';
            // (DOM append would write an absent part as the text "null".)
            holder.append(...[
              h('span', { class: 'label' }, fieldLabel(field.path), field.sensitivity === 'special' ? [' ', h('span', { class: 'badge special' }, t('sensitive'))] : null),
              h('p', { class: 'help' }, fieldHelp(field)),
              h('div', { class: 'value' }, formatValue(record && record.value, field)),
              record ? h('p', { class: 'meta' }, authorLine(record)) : null,
              editable ? h('button', { type: 'button', class: 'secondary', 'aria-label': (record ? t('edit') : t('add')) + ': ' + fieldLabel(field.path),
                onclick: () => {
                  holder.textContent = '';
                  holder.append(editForm(field, record && record.value, (value) => api('PUT', '/api/v1/me/record/' + field.path, { value })));
                  holder.querySelector('input, textarea, select').focus();
                } }, record ? t('edit') : t('add')) : null].filter((part) => part));
          };
          show();
          return holder;
        }));
    }),
    legal('legalData'));
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

function fieldChecklist(name, paths, checkedPaths) {
  return h('fieldset', {}, h('legend', {}, t('chooseFields')),
    [...paths].map((p, i) => {
      const id = name + '-' + i;
      return h('div', { class: 'check' },
        h('input', { type: 'checkbox', id, name, value: p, checked: checkedPaths.has(p) }),
        h('label', { for: id }, fieldLabel(p)));
    }));
}

// What a request or grant lets the professional do, in words: whether they may change
// the data too is never left out.
function rightsLine(actions) {
  const text = actions.includes('write') ? t('mayChange') : t('maySee');
  return h('p', {}, h('strong', {}, t('may') + ': '), actions.includes('write') ? h('strong', { class: 'badge' }, text) : text);
}

async function myRequests() {
  const requests = await api('GET', '/api/v1/me/access-requests');
  const pending = requests.filter((r) => r.current_status === 'pending');
  const older = requests.filter((r) => r.current_status !== 'pending');
  const card = (r) => {
    const who = r.requester;
    const box = h('article', { class: 'card', 'aria-labelledby': 'req-' + r.id },
      h('h2', { id: 'req-' + r.id }, who.name + ', ' + who.title),
      h('p', {}, h('strong', {}, t('who') + ': '), who.name + ', ' + who.title + ', ' + who.organisation.name),
      h('div', {}, h('strong', {}, t('which') + ':'), fieldList(r.fields)),
      rightsLine(r.actions),
      h('p', {}, h('strong', {}, t('why') + ': '), purposeText(r.purpose)),
      h('p', {}, h('strong', {}, t('until') + ': '), fmtDate(r.valid_until)));
    const answer = async (path, body, message) => {
      try { await api('POST', path, body); say(message); await render(); } catch (error) { fail(error); }
    };
    let lessForm = null;
    const less = () => {
      // Opened once; a second press goes back to the open form.
      if (lessForm) { lessForm.querySelector('input').focus(); return; }
      const until = h('input', { type: 'date', id: 'until-' + r.id, max: helsinkiDay(r.valid_until), value: helsinkiDay(r.valid_until) });
      const write = r.actions.includes('write')
        ? h('div', { class: 'check' }, h('input', { type: 'checkbox', id: 'write-' + r.id, checked: true }), h('label', { for: 'write-' + r.id }, t('alsoChange')))
        : null;
      const form = h('form', { class: 'card soft' },
        fieldChecklist('f-' + r.id, r.fields, new Set(r.fields)),
        write,
        h('div', { class: 'row' }, h('label', { for: 'until-' + r.id, class: 'label' }, t('shorterTime')), until),
        h('div', { class: 'actions' },
          h('button', { type: 'submit' }, t('approveChosen')),
          h('button', { type: 'button', class: 'secondary', onclick: () => { form.remove(); lessForm = null; } }, t('cancel'))));
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        const fields = [...form.querySelectorAll('input[name="f-' + r.id + '"]:checked')].map((c) => ({ path: c.value }));
        const body = { fields };
        if (write && !form.querySelector('#write-' + r.id).checked) body.actions = r.actions.filter((a) => a !== 'write');
        if (until.value && until.value < helsinkiDay(r.valid_until)) body.valid_until = endOfDay(until.value);
        answer('/api/v1/me/access-requests/' + r.id + '/approve', body, t('approved'));
      });
      lessForm = form;
      box.append(form);
      form.querySelector('input').focus();
    };
    box.append(h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: () => answer('/api/v1/me/access-requests/' + r.id + '/approve', {}, t('approved')) }, t('approve')),
      h('button', { type: 'button', class: 'secondary', onclick: less }, t('approveLess')),
      h('button', { type: 'button', class: 'secondary', onclick: () => answer('/api/v1/me/access-requests/' + r.id + '/deny', undefined, t('denied')) }, t('deny'))));
    return box;
  };
  return h('div', {},
    h('h1', {}, t('requests')),
    h('p', {}, t('requestsIntro')),
    pending.length ? pending.map(card) : h('p', {}, t('noRequests')),
    older.length ? h('details', {}, h('summary', {}, t('oldRequests')),
      h('ul', {}, older.map((r) => h('li', {}, r.requester.name + ' – ' + fmtDate(r.created_at) + ' – ' + t('status_' + r.current_status))))) : null,
    legal('legalConsent'));
}

async function share() {
  const codeBox = h('div', { 'aria-live': 'polite' });
  const showCode = async () => {
    try {
      const code = await api('POST', '/api/v1/me/pairing-codes');
      codeBox.textContent = '';
      const svg = new DOMParser().parseFromString(code.qr_svg, 'image/svg+xml').documentElement;
      svg.setAttribute('role', 'img');
      svg.setAttribute('aria-label', 'QR: ' + code.code);
      codeBox.append(h('p', { class: 'code' }, code.code), h('div', { class: 'qr' }, document.importNode(svg, true)),
        h('p', {}, t('codeValid', { time: fmtTime(code.expires_at) })));
    } catch (error) { fail(error); }
  };
  const professionals = await api('GET', '/api/v1/directory/professionals');
  const basicPaths = app.fields.map((f) => f.path);
  const terms = termsForm('grant');
  const form = h('form', {},
    h('div', { class: 'row' }, h('label', { for: 'grant-pro', class: 'label' }, t('professional')),
      h('select', { id: 'grant-pro', required: true }, professionals.map((p) => h('option', { value: p.id }, p.name + ', ' + p.title + ' (' + p.organisation + ')')))),
    fieldChecklist('grant-field', basicPaths, new Set()),
    h('p', { class: 'meta' }, t('lessIsMore')),
    terms.controls,
    h('button', { type: 'submit' }, t('give')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await api('POST', '/api/v1/me/grants', { professional: form.querySelector('#grant-pro').value, ...terms.read(form) });
      say(t('given'));
      location.hash = '#/grants';
    } catch (error) { fail(error); }
  });
  return h('div', {},
    h('h1', {}, t('share')),
    h('p', {}, t('shareIntro')),
    h('button', { type: 'button', onclick: showCode }, t('showCode')),
    codeBox,
    h('h2', {}, t('grantYourself')),
    form,
    legal('legalConsent'));
}

async function myGrants() {
  const grants = await api('GET', '/api/v1/me/grants');
  const active = grants.filter((g) => g.state === 'active');
  const ended = grants.filter((g) => g.state !== 'active');
  const card = (g) => h('article', { class: 'card', 'aria-labelledby': 'grant-' + g.id },
    h('h2', { id: 'grant-' + g.id }, g.grantee.name + ', ' + g.grantee.title),
    h('p', { class: 'meta' }, g.grantee.organisation.name),
    h('div', {}, h('strong', {}, t('which') + ':'), fieldList(g.fields)),
    rightsLine(g.actions),
    h('p', {}, h('strong', {}, t('why') + ': '), purposeText(g.purpose)),
    h('p', {}, h('strong', {}, t('until') + ': '), fmtDate(g.valid_until), ' ', h('span', { class: 'badge ok' }, t('state_' + g.state))),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'danger', 'aria-label': t('stopNow') + ': ' + g.grantee.name,
        onclick: async () => { try { await api('DELETE', '/api/v1/me/grants/' + g.id); say(t('stopped')); await render(); } catch (error) { fail(error); } } }, t('stopNow')),
      h('a', { href: '/api/v1/me/grants/' + g.id + '/receipt', download: 'omadata-receipt-' + g.id + '.json', class: 'button secondary' }, t('receipt'))));
  return h('div', {},
    h('h1', {}, t('grants')),
    h('p', {}, t('grantsIntro')),
    active.length ? active.map(card) : h('p', {}, t('noGrants')),
    ended.length ? h('details', {}, h('summary', {}, t('pastGrants')),
      h('ul', {}, ended.map((g) => h('li', {}, g.grantee.name + ' – ' + t('state_' + g.state) + ' – ' + fmtDate(g.revoked_at || g.valid_until))))) : null,
    legal('legalConsent'));
}

async function seen() {
  const log = await api('GET', '/api/v1/me/access-log');
  return h('div', {},
    h('h1', {}, t('seen')),
    h('p', {}, t('seenIntro')),
    log.length ? h('ol', { class: 'timeline' }, log.map((e) => h('li', { class: e.outcome === 'permit' ? '' : 'denied' },
      h('p', {}, h('strong', {}, fmtTime(e.at))),
      h('p', {}, (e.professional_name || '?') + (e.organisation_name ? ' (' + e.organisation_name + ')' : '') + ' ' + t(e.action === 'write' ? (e.outcome === 'permit' ? 'changedFields' : 'triedChange') : (e.outcome === 'permit' ? 'sawFields' : 'triedFields')) + ':'),
      h('p', {}, e.fields.filter((f) => f !== '*').map(fieldLabel).join(', '))))) : h('p', {}, t('noneSeen')),
    legal('legalLog'));
}

function account() {
  const confirm = h('input', { type: 'checkbox', id: 'confirm-delete' });
  const button = h('button', { type: 'button', class: 'danger', disabled: true }, t('deleteAll'));
  confirm.addEventListener('change', () => { button.disabled = !confirm.checked; });
  button.addEventListener('click', async () => {
    try {
      await api('DELETE', '/api/v1/me');
      app.me = null;
      const main = document.getElementById('main');
      renderFrame();
      main.textContent = '';
      main.append(h('h1', {}, t('deletedBye')));
      main.focus();
    } catch (error) {
      if (error.code === 'reauthentication_required') {
        // Irreversible: prove it is you again, then come back here and press delete.
        say(t('reauth'));
        location.assign('/auth/login?role=client&prompt=login&next=account');
      } else fail(error);
    }
  });
  return h('div', {},
    h('h1', {}, t('account')),
    h('section', { class: 'card' }, h('h2', {}, t('download')), h('p', {}, t('downloadText')),
      h('a', { href: '/api/v1/me/export', download: 'omadata.json', class: 'button' }, t('download'))),
    h('section', { class: 'card' }, h('h2', {}, t('deleteAll')), h('p', {}, t('deleteText')),
      h('div', { class: 'check' }, confirm, h('label', { for: 'confirm-delete' }, t('deleteConfirm'))),
      h('div', { class: 'actions' }, button)),
    legal('legalData'));
}

// ---- professional --------------------------------------------------------------------

async function myClients() {
  const clients = await api('GET', '/api/v1/clients');
  return h('div', {},
    h('h1', {}, t('clients')),
    h('p', {}, t('clientsIntro')),
    clients.length ? clients.map((c) => h('article', { class: 'card' },
      h('h2', {}, t('client') + ' ' + c.client.slice(0, 8)),
      c.grants.map((g) => h('div', {}, fieldList(g.fields), h('p', { class: 'meta' }, purposeText(g.purpose) + ' – ' + t('until') + ' ' + fmtDate(g.valid_until)))),
      h('a', { href: '#/client/' + c.client, class: 'button' }, t('open')))) : h('p', {}, t('noClients')));
}

async function clientRecord(id) {
  let record;
  try {
    record = await api('GET', '/api/v1/clients/' + encodeURIComponent(id) + '/record');
  } catch (error) {
    if (error.status === 403) return h('div', {}, h('h1', {}, t('record')), h('p', { class: 'error', role: 'alert' }, t('noAccess')));
    throw error;
  }
  const clients = await api('GET', '/api/v1/clients');
  const mine = clients.find((c) => c.client === id);
  const writable = new Set((mine ? mine.grants : []).filter((g) => g.actions.includes('write')).flatMap((g) => g.fields)
    .filter((p) => app.byPath.get(p) && app.byPath.get(p).author !== 'client'));
  const shown = new Set(record.fields.map((f) => f.path));
  return h('div', {},
    h('h1', {}, t('record')),
    h('p', { class: 'meta' }, t('client') + ' ' + id),
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
  const columns = ['seq', 'at', 'event', 'client', 'professional', 'organisation', 'grant', 'request', 'fields', 'action', 'purpose', 'outcome', 'reason'];
  const cell = (v) => { const s = Array.isArray(v) ? v.join(' ') : v === null || v === undefined ? '' : String(v); return '"' + s.replace(/"/g, '""') + '"'; };
  return [columns.join(',')].concat(events.map((e) => columns.map((c) => cell(e[c])).join(','))).join('\n') + '\n';
}

async function auditEvents() {
  const params = new URLSearchParams(location.hash.split('?')[1] || '');
  // Sign a checkpoint first (only if the log has grown), so the verification anchors
  // everything up to now.
  const checkpoint = await api('POST', '/api/v1/audit/checkpoint');
  const verify = await api('GET', '/api/v1/audit/verify').then((r) => ({ ok: true, r })).catch((e) => ({ ok: false, e }));
  let before = null;
  const tbody = h('tbody');
  const more = h('button', { type: 'button', class: 'secondary' }, t('more'));
  const filterQuery = () => {
    const query = new URLSearchParams();
    for (const key of ['client', 'professional', 'from', 'to']) if (params.get(key)) query.set(key, params.get(key));
    return query;
  };
  const load = async () => {
    const query = filterQuery();
    if (before !== null) query.set('before', before);
    query.set('limit', '50');
    const page = await api('GET', '/api/v1/audit/events?' + query);
    before = page.next_before;
    more.hidden = before === null || before === undefined;
    for (const e of page.events) {
      tbody.append(h('tr', {}, h('td', {}, fmtTime(e.at)), h('td', {}, t('ev_' + e.event)), h('td', {}, idLink('client', e.client)), h('td', {}, idLink('professional', e.professional)),
        h('td', {}, e.fields.filter((f) => f !== '*').map(fieldLabel).join(', ')), h('td', {}, e.action ? t('act_' + e.action) : ''),
        h('td', {}, e.outcome ? t('out_' + e.outcome) : ''), h('td', {}, e.reason || '')));
    }
  };
  // The export holds every event the filters select, not only the rows loaded so far.
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
    return all;
  };
  more.addEventListener('click', () => load().catch(fail));
  await load();
  const input = (name, label, type) => h('div', { class: 'row' }, h('label', { for: 'q-' + name, class: 'label' }, label),
    h('input', { type: type || 'text', id: 'q-' + name, name, value: params.get(name) ? (type === 'date' ? helsinkiDay(params.get(name)) : params.get(name)) : '' }));
  const filters = h('form', { class: 'card soft' }, input('client', t('clientId')), input('professional', t('professionalId')),
    input('from', t('from'), 'date'), input('to', t('to'), 'date'), h('button', { type: 'submit' }, t('filter')));
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    const q = new URLSearchParams();
    for (const name of ['client', 'professional']) { const v = filters.querySelector('#q-' + name).value.trim(); if (v) q.set(name, v); }
    // Whole Finnish days: from the start of the first to the end of the last (one day is
    // a range too).
    const from = filters.querySelector('#q-from').value;
    const to = filters.querySelector('#q-to').value;
    if (from) q.set('from', startOfDay(from));
    if (to) q.set('to', new Date(Date.parse(endOfDay(to)) + 999).toISOString());
    location.hash = '#/events?' + q;
  });
  return h('div', {},
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
      h('button', { type: 'button', class: 'secondary', onclick: () => everything().then((all) => download('omadata-audit.csv', 'text/csv', toCsv(all))).catch(fail) }, t('exportCsv')),
      h('button', { type: 'button', class: 'secondary', onclick: () => everything().then((all) => download('omadata-audit.json', 'application/json', JSON.stringify(all, null, 2))).catch(fail) }, t('exportJson'))),
    h('div', { class: 'table-wrap' }, h('table', {},
      h('caption', { class: 'visually-hidden' }, t('events')),
      h('thead', {}, h('tr', {}, [t('when'), t('event'), t('client'), t('professional'), t('fields'), t('action'), t('outcome'), '—'].map((c) => h('th', { scope: 'col' }, c)))),
      tbody)),
    more);
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
  return wished.map((tag) => (tag || '').slice(0, 2).toLowerCase()).find((lang) => T[lang]) || 'fi';
}

function rememberLanguage(lang) {
  localStorage.setItem('omadata.lang', lang);
  document.cookie = `lang=${lang}; Path=/; Max-Age=31536000; SameSite=Lax`;
}

async function start() {
  app.lang = initialLanguage();
  const select = document.getElementById('lang');
  select.value = app.lang;
  select.addEventListener('change', () => { app.lang = select.value; rememberLanguage(app.lang); render(); });
  document.getElementById('logout').addEventListener('click', async () => {
    try { await api('POST', '/auth/logout'); } catch (error) { /* already signed out */ }
    app.me = null;
    location.hash = '';
    await render();
    say(t('signedOut'));
  });
  window.addEventListener('hashchange', async () => { document.getElementById('status').textContent = ''; await render(); document.getElementById('main').focus(); });
  try {
    app.me = await api('GET', '/api/v1/me');
  } catch (error) {
    app.me = null;
  }
  app.fields = await api('GET', '/api/v1/fields');
  app.byPath = new Map(app.fields.map((f) => [f.path, f]));
  await render();
}

document.addEventListener('DOMContentLoaded', start);
