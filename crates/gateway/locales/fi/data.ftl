# data
my-data = Omat tiedot
my-data-intro = Tässä ovat tietosi. Voit muuttaa tietoja, jotka olet kirjoittanut itse.
my-data-filled = { $filled ->
        [0] Et ole vielä lisännyt tietoja. Lisää vain ne, joita tarvitset.
        [one] Olet lisännyt yhden tiedon.
       *[other] Olet lisännyt { $filled } tietoa.
    }
add-information = Lisää tieto
add-information-intro = Lisää vain se, mitä tarvitset. Voit muuttaa tai poistaa tiedon myöhemmin.
choose-field = Mikä tieto?
edit-field = Muokkaa: { $field }
written-by-you = Kirjoitit tämän { $date }
written-by = Kirjoittanut { $name }, { $title }, { $date }
written-by-professional = Kirjoittanut ammattilainen { $date }
list-hint = Kirjoita yksi asia riville.
clear-hint = Jos tyhjennät kentän ja tallennat, tieto poistuu.
done-saved = Tallennettu.
done-cleared = Tieto poistettu.
legal-data = Sinulla on oikeus saada tietää, mitä tietoja sinusta on, korjata niitä, saada ne itsellesi ja pyytää niiden poistamista (EU:n tietosuoja-asetus, artiklat 15–20).
invalid-email = Kirjoita sähköpostiosoite muodossa nimi@esimerkki.fi.
invalid-phone = Kirjoita puhelinnumero numeroina, esimerkiksi 040 123 4567 tai +358 40 123 4567.
invalid-date = Valitse päivämäärä.
