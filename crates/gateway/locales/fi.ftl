# Suomeksi. Selkeää yleiskieltä: sinuttelu, lyhyet lauseet.

service-name = OmaData
skip-to-content = Siirry sisältöön
language-menu = Kieli
signed-in-as = Kirjautunut: { $name } ({ $role })
sign-out = Kirjaudu ulos
to-front-page = Etusivulle
role-client = asiakas
role-professional = ammattilainen
role-auditor = auditoija
role-admin = ylläpitäjä

login-rate-limited = Liian monta yritystä
    .text = Kirjautumista on yritetty liian monta kertaa. Odota hetki ja yritä uudelleen.
login-unknown-role = Tuntematon rooli
    .text = Valitse rooli etusivulta ja yritä uudelleen.
login-unknown-prompt = Kirjautumista ei voitu aloittaa
    .text = Kirjautumisen osoite oli virheellinen. Aloita kirjautuminen etusivulta.
login-provider-unreachable = Tunnistus ei ole nyt käytettävissä
    .text = Tunnistuspalveluun ei saatu yhteyttä. Yritä hetken päästä uudelleen.
login-interrupted = Kirjautuminen ei onnistunut
    .text = Kirjautuminen keskeytyi tai vanheni. Aloita alusta.
login-not-verified = Kirjautuminen ei onnistunut
    .text = Tunnistuksen tulosta ei voitu varmistaa. Aloita alusta.
login-weak-acr = Tunnistus ei ollut riittävän vahva
    .text = OmaData vaatii vahvan tunnistautumisen, esimerkiksi pankkitunnukset tai mobiilivarmenteen. Kirjaudu uudelleen vahvalla tunnistustavalla.
login-staff-not-active = Et voi kirjautua tähän rooliin
    .text = Rekisteröintisi odottaa ylläpidon vahvistusta tai se on poistettu käytöstä.
login-not-registered = Et ole rekisteröitynyt tähän rooliin
    .text = Ammattilaisen, auditoijan ja ylläpitäjän pitää olla organisaationsa rekisteröimä ennen kirjautumista.
