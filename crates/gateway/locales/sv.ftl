# På svenska. Klart språk: du-tilltal, korta meningar.

service-name = OmaData
skip-to-content = Gå till innehållet
language-menu = Språk
signed-in-as = Inloggad: { $name } ({ $role })
sign-out = Logga ut
to-front-page = Till startsidan
role-client = klient
role-professional = yrkesperson
role-auditor = granskare
role-admin = administratör

login-rate-limited = För många försök
    .text = Inloggning har försökts för många gånger. Vänta en stund och försök igen.
login-unknown-role = Okänd roll
    .text = Välj en roll på startsidan och försök igen.
login-unknown-prompt = Inloggningen kunde inte börja
    .text = Inloggningsadressen var felaktig. Börja inloggningen från startsidan.
login-provider-unreachable = Identifieringen är inte tillgänglig just nu
    .text = Identifieringstjänsten kunde inte nås. Försök igen om en stund.
login-interrupted = Inloggningen lyckades inte
    .text = Inloggningen avbröts eller gick ut. Börja om från början.
login-not-verified = Inloggningen lyckades inte
    .text = Resultatet av identifieringen kunde inte bekräftas. Börja om från början.
login-weak-acr = Identifieringen var inte tillräckligt stark
    .text = OmaData kräver stark autentisering, till exempel bankkoder eller mobilcertifikat. Logga in igen med ett starkt sätt.
login-staff-not-active = Du kan inte logga in i den här rollen
    .text = Din registrering väntar på att administratören bekräftar den, eller så har den tagits ur bruk.
login-not-registered = Du är inte registrerad i den här rollen
    .text = Yrkespersoner, granskare och administratörer ska vara registrerade av sin organisation innan de loggar in.
