# data
my-data = Omat tiedot
my-data-intro = Tässä ovat tietosi. Voit muuttaa tietoja, jotka olet kirjoittanut itse.
my-data-empty = Et ole vielä lisännyt tietoja. Lisää vain ne, joita tarvitset.
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
