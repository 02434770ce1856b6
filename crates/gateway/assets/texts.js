// OmaData web app's texts: every text once, in Finnish, Swedish and English, and the
// code lists the forms offer. Loaded before app.js, which uses them.
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
  navClients: ['Asiakkaat', 'Klienter', 'Clients'], navAsk: ['Pyydä lupaa', 'Be om lov', 'Ask for access'], navSent: ['Lähetetyt pyynnöt', 'Skickade begäranden', 'Sent requests'],
  sentIntro: ['Pyynnöt, jotka olet lähettänyt, ja mitä asiakas vastasi.', 'Begäranden du har skickat, och vad klienten svarade.', 'The requests you have sent, and what the client answered.'], noSent: ['Et ole vielä lähettänyt pyyntöjä.', 'Du har inte skickat några begäranden ännu.', 'You have not sent any requests yet.'], sentOn: ['Lähetetty', 'Skickad', 'Sent'], navEvents: ['Tapahtumat', 'Händelser', 'Events'], navStaff: ['Henkilöstö', 'Personal', 'Staff'],
  noValue: ['Ei tietoa vielä', 'Inga uppgifter ännu', 'Nothing yet'], edit: ['Muokkaa', 'Ändra', 'Edit'], save: ['Tallenna', 'Spara', 'Save'], cancel: ['Peruuta', 'Avbryt', 'Cancel'], saved: ['Tallennettu.', 'Sparat.', 'Saved.'],
  writtenBy: ['Kirjoittanut {name}, {title}, {date}', 'Skrivet av {name}, {title}, {date}', 'Written by {name}, {title}, {date}'], writtenByClient: ['Asiakkaan kirjoittama, {date}', 'Skrivet av klienten, {date}', 'Written by the client, {date}'],
  listHint: ['Yksi asia riville.', 'En sak per rad.', 'One item per line.'],
  requests: ['Pyynnöt', 'Förfrågningar', 'Requests'],
  who: ['Kuka', 'Vem', 'Who'], which: ['Mitä tietoja', 'Vilka uppgifter', 'Which data'], why: ['Miksi', 'Varför', 'Why'], until: ['Mihin asti', 'Till och med', 'Until'],
  approved: ['Hyväksytty. Voit perua luvan milloin vain.', 'Godkänt. Du kan ta tillbaka lovet när som helst.', 'Approved. You can take it back at any time.'],
  status_pending: ['odottaa', 'väntar', 'waiting'], status_approved: ['hyväksytty', 'godkänd', 'approved'], status_denied: ['kielletty', 'nekad', 'refused'], status_expired: ['vanhentunut', 'föråldrad', 'expired'],
  professional: ['Ammattilainen', 'Yrkesperson', 'Professional'], fields: ['Tiedot', 'Uppgifter', 'Data'], purpose: ['Käyttötarkoitus', 'Ändamål', 'Purpose'], purposeText: ['Tarkemmin (vapaaehtoinen)', 'Mer exakt (frivilligt)', 'More detail (optional)'],
  actions: ['Mitä saa tehdä', 'Vad får göras', 'What they may do'], actionRead: ['Katsoa', 'Se', 'See'], actionWrite: ['Kirjoittaa', 'Skriva', 'Write'],
  grants: ['Kuka näkee tietojani nyt', 'Vem ser mina uppgifter nu', 'Who can see my data now'],
  may: ['Saa', 'Får', 'May'], maySee: ['nähdä tiedot', 'se uppgifterna', 'see the data'], mayChange: ['nähdä ja myös muuttaa tietoja', 'se och också ändra uppgifterna', 'see and also change the data'],
  cancel: ['Peruuta', 'Avbryt', 'Cancel'],
  download: ['Lataa kaikki tietoni', 'Ladda ner alla mina uppgifter', 'Download all my data'],
  clients: ['Asiakkaani', 'Mina klienter', 'My clients'], clientsIntro: ['Asiakkaat, joilta sinulla on voimassa oleva lupa.', 'Klienter som gett dig ett gällande lov.', 'Clients who have given you a valid permission.'], noClients: ['Ei voimassa olevia lupia.', 'Inga gällande lov.', 'No valid permissions.'],
  open: ['Avaa', 'Öppna', 'Open'], client: ['Asiakas', 'Klient', 'Client'], clientSince: ['Asiakas, lupa {date} alkaen', 'Klient, lov från {date}', 'Client, permission from {date}'], record: ['Asiakkaan tiedot', 'Klientens uppgifter', 'Client\'s data'], noAccess: ['Ei pääsyä: lupaa ei ole, se on päättynyt tai se on peruttu.', 'Ingen åtkomst: lov saknas, har gått ut eller har återkallats.', 'No access: there is no permission, or it has ended or been taken back.'],
  ask: ['Pyydä lupaa', 'Be om lov', 'Ask for access'], askIntro: ['Kysy asiakkaalta koodi. Pyydä vain ne tiedot, joita tehtävä vaatii.', 'Fråga klienten efter koden. Be bara om de uppgifter uppdraget kräver.', 'Ask the client for their code. Ask only for the data the task needs.'], pairingCode: ['Asiakkaan koodi', 'Klientens kod', 'Client\'s code'], send: ['Lähetä pyyntö', 'Skicka förfrågan', 'Send request'], sent: ['Pyyntö lähetetty. Asiakas päättää.', 'Förfrågan skickad. Klienten bestämmer.', 'Request sent. The client decides.'],
  sensitive: ['arkaluonteinen', 'känslig', 'sensitive'],
  ev_request: ['Pyyntö', 'Begäran', 'Request'], ev_approve: ['Hyväksytty', 'Godkänd', 'Approved'], ev_deny: ['Kielletty', 'Nekad', 'Denied'], ev_request_expire: ['Pyyntö vanheni', 'Begäran gick ut', 'Request expired'],
  ev_grant: ['Lupa annettu', 'Lov givet', 'Permission given'], ev_narrow: ['Lupaa kavennettu', 'Lovet begränsat', 'Permission narrowed'], ev_revoke: ['Lupa peruttu', 'Lovet återkallat', 'Permission withdrawn'], ev_expire: ['Lupa päättyi', 'Lovet gick ut', 'Permission expired'],
  ev_access: ['Tietojen käyttö', 'Användning av uppgifter', 'Use of data'], ev_pairing_code: ['Jakokoodi', 'Delningskod', 'Sharing code'], ev_erase: ['Tiedot poistettu', 'Uppgifterna raderade', 'Data erased'],
  ev_login: ['Kirjautuminen', 'Inloggning', 'Sign-in'], ev_login_refused: ['Kirjautuminen estetty', 'Inloggning nekad', 'Sign-in refused'], ev_logout: ['Uloskirjautuminen', 'Utloggning', 'Sign-out'],
  ev_admin: ['Ylläpito', 'Administration', 'Administration'], ev_lockout: ['Lukitus', 'Spärr', 'Lockout'],
  out_permit: ['sallittu', 'tillåten', 'permitted'], out_deny: ['estetty', 'nekad', 'refused'], act_read: ['katsominen', 'visning', 'looking'], act_write: ['muuttaminen', 'ändring', 'changing'], action: ['Mitä', 'Vad', 'What'],
  exportAll: ['Haetaan kaikki rajatut tapahtumat…', 'Hämtar alla valda händelser…', 'Fetching every filtered event…'],
  events: ['Tapahtumat', 'Händelser', 'Events'], eventsIntro: ['Lupien ja katselujen historia. Lokissa ei ole tietojen sisältöä.', 'Historik över lov och visningar. Loggen innehåller inga uppgifter.', 'History of permissions and views. The log holds no data contents.'], filter: ['Hae', 'Sök', 'Search'],
  from: ['Alkaen', 'Från', 'From'], to: ['Päättyen', 'Till', 'To'], more: ['Näytä lisää', 'Visa fler', 'Show more'], exportCsv: ['Lataa CSV', 'Ladda ner CSV', 'Download CSV'], exportJson: ['Lataa JSON', 'Ladda ner JSON', 'Download JSON'], when: ['Milloin', 'När', 'When'], event: ['Tapahtuma', 'Händelse', 'Event'], outcome: ['Tulos', 'Resultat', 'Outcome'],
  clientRef: ['asiakas {ref}', 'klient {ref}', 'client {ref}'], clientRefLabel: ['Asiakkaan lyhyt tunnus', 'Klientens korta kod', 'Client\'s short reference'],
  clientRefHelp: ['8 merkkiä taulukon Asiakas-sarakkeesta, esimerkiksi 1a2b3c4d.', '8 tecken från tabellens kolumn Klient, till exempel 1a2b3c4d.', '8 characters from the Client column of the table, for example 1a2b3c4d.'],
  everyone: ['Kaikki', 'Alla', 'Everyone'], unknownStaff: ['tuntematon henkilö', 'okänd person', 'unknown person'], reason: ['Syy', 'Orsak', 'Reason'],
  badClientRef: ['Kirjoita lyhyt tunnus: 8 merkkiä, numeroita 0–9 ja kirjaimia a–f.', 'Skriv den korta koden: 8 tecken, siffror 0–9 och bokstäver a–f.', 'Type the short reference: 8 characters, digits 0–9 and letters a–f.'],
  bothFilters: ['Hae joko asiakkaan tai ammattilaisen mukaan, ei molempien.', 'Sök antingen efter klient eller yrkesperson, inte båda.', 'Search by client or by professional, not both.'],
  badRange: ['Päättymispäivä ei voi olla ennen alkamispäivää.', 'Slutdagen kan inte vara före startdagen.', 'The last day cannot be before the first day.'],
  filterFailed: ['Haku ei onnistunut. Tarkista rajaukset ja yritä uudelleen.', 'Sökningen lyckades inte. Kontrollera urvalet och försök igen.', 'The search did not work. Check the filters and try again.'],
  exported: ['Ladattu {n} tapahtumaa.', 'Laddade ner {n} händelser.', 'Downloaded {n} events.'],
  why_no_grant: ['ei lupaa', 'inget lov', 'no permission'], why_field_not_granted: ['tietoa ei ole luvassa', 'uppgiften ingår inte i lovet', 'the data is not in the permission'], why_action_not_granted: ['lupa ei salli tätä', 'lovet tillåter inte detta', 'the permission does not allow this'],
  why_expired: ['lupa on päättynyt', 'lovet har gått ut', 'the permission has ended'], why_revoked: ['lupa on peruttu', 'lovet har återkallats', 'the permission was taken back'], why_not_yet_valid: ['lupa ei ole vielä alkanut', 'lovet har inte börjat ännu', 'the permission has not started yet'], why_unknown_field: ['tuntematon tieto', 'okänd uppgift', 'unknown data'],
  why_pairing_code_guessing: ['liian monta väärää koodia', 'för många fel koder', 'too many wrong codes'], why_refused_reads: ['liian monta estettyä yritystä', 'för många nekade försök', 'too many refused attempts'],
  why_staff_registered: ['rekisteröi henkilön {name}', 'registrerade {name}', 'registered {name}'], why_staff_deactivated: ['poisti käytöstä henkilön {name}', 'inaktiverade {name}', 'deactivated {name}'], why_staff_confirmed: ['vahvisti henkilön {name}', 'bekräftade {name}', 'confirmed {name}'],
  why_other: ['muu syy (katso vienti)', 'annan orsak (se exporten)', 'other reason (see the export)'],
  verify: ['Lokin eheys', 'Loggens integritet', 'Log integrity'], verifyOk: ['Loki on eheä: {n} merkintää, {c} allekirjoitettua tarkistuspistettä.', 'Loggen är hel: {n} poster, {c} signerade kontrollpunkter.', 'The log is intact: {n} entries, {c} signed checkpoints.'], verifyBad: ['Loki EI ole eheä: {why}', 'Loggen är INTE hel: {why}', 'The log is NOT intact: {why}'],
  checkpoint: ['Viimeisin tarkistuspiste', 'Senaste kontrollpunkt', 'Latest checkpoint'], treeSize: ['Merkintöjä', 'Poster', 'Entries'], rootHash: ['Juurisumma', 'Rotsumma', 'Root hash'], signedAt: ['Allekirjoitettu', 'Signerad', 'Signed'],
  staff: ['Organisaation henkilöstö', 'Organisationens personal', 'Organisation staff'], register: ['Rekisteröi henkilö', 'Registrera person', 'Register a person'], name: ['Nimi', 'Namn', 'Name'], title: ['Tehtävänimike', 'Titel', 'Title'], profession: ['Ammatti', 'Yrke', 'Profession'], role: ['Rooli', 'Roll', 'Role'], loginSubject: ['Tunnistuksen tunniste', 'Identifieringens id', 'Login identifier'], registered: ['Rekisteröity.', 'Registrerad.', 'Registered.'],
  status: ['Tila', 'Status', 'Status'], status_active: ['Käytössä', 'Aktiv', 'Active'], status_pending_confirmation: ['Odottaa ylläpidon vahvistusta', 'Väntar på operatörens bekräftelse', 'Awaits the operator\'s confirmation'], status_deactivated: ['Poistettu käytöstä', 'Inaktiverad', 'Deactivated'], deactivate: ['Poista käytöstä', 'Inaktivera', 'Deactivate'], deactivated: ['Poistettu käytöstä: istunnot päättyivät.', 'Inaktiverad: sessionerna avslutades.', 'Deactivated: their sessions ended.'],
  signedInAs: ['Kirjautuneena: {name}, {role}', 'Inloggad: {name}, {role}', 'Signed in: {name}, {role}'],
  role_client: ['asiakas', 'klient', 'client'], role_professional: ['ammattilainen', 'yrkesperson', 'professional'], role_auditor: ['auditoija', 'granskare', 'auditor'], role_admin: ['ylläpitäjä', 'administratör', 'admin'],
  choice_work: ['työ', 'arbete', 'work'], choice_study: ['opiskelu', 'studier', 'study'], choice_other: ['muu syy', 'annat skäl', 'other reason'],
  error: ['Jokin meni vikaan: {detail}', 'Något gick fel: {detail}', 'Something went wrong: {detail}'],
  cat_identity: ['Henkilö- ja yhteystiedot', 'Person- och kontaktuppgifter', 'Identity and contact'], cat_background: ['Tausta', 'Bakgrund', 'Background'], cat_situation: ['Nykytilanne', 'Nuvarande situation', 'Current situation'], cat_needs: ['Tarpeet', 'Behov', 'Needs'], cat_plan: ['Yhteinen suunnitelma', 'Gemensam plan', 'Shared plan'],
  cat_encounters: ['Asiointi', 'Kontakter', 'Encounters'], cat_self_assessment: ['Itsearviot', 'Självskattningar', 'Self-assessments'], cat_health: ['Terveys ja toimintakyky', 'Hälsa och funktionsförmåga', 'Health and functional capacity'], cat_social_welfare: ['Sosiaalihuolto', 'Socialvård', 'Social welfare'], cat_employment_services: ['Työllisyyspalvelut', 'Arbetskraftstjänster', 'Employment services'],
  p_guidance: ['Ohjaus', 'Vägledning', 'Guidance'], p_service_need_assessment: ['Palvelutarpeen arviointi', 'Bedömning av servicebehov', 'Service-need assessment'], p_service_decision: ['Palvelupäätös', 'Servicebeslut', 'Service decision'], p_employer_cooperation: ['Yhteistyö työnantajan kanssa', 'Samarbete med arbetsgivare', 'Employer cooperation'], p_shared_plan: ['Yhteinen suunnitelma', 'Gemensam plan', 'Shared plan'],
  prof_youth_work: ['Nuorisotyö', 'Ungdomsarbete', 'Youth work'], prof_social_work: ['Sosiaalityö', 'Socialt arbete', 'Social work'], prof_employment_services: ['Työllisyyspalvelut', 'Arbetskraftstjänster', 'Employment services'], prof_health_care: ['Terveydenhuolto', 'Hälso- och sjukvård', 'Health care'], prof_education: ['Opetus ja ohjaus', 'Utbildning och vägledning', 'Education and guidance'], prof_other: ['Muu', 'Annat', 'Other'],
});

const PURPOSES = ['guidance', 'service_need_assessment', 'service_decision', 'employer_cooperation', 'shared_plan'];
const PROFESSIONS = ['youth_work', 'social_work', 'employment_services', 'health_care', 'education', 'other'];
