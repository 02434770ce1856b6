# history
seen-title = Kuka on katsonut tietojasi
seen-intro = Aina kun ammattilainen katsoo tai muuttaa tietojasi, siitä jää merkintä. Merkintä jää myös, jos hän yrittää ilman lupaa. Uusimmat ovat ensin.
seen-none = Kukaan ei ole vielä katsonut tietojasi.
seen-no-older = Vanhempia merkintöjä ei ole.
seen-older = Vanhemmat
seen-newest = Uusimmat
seen-looked = katsoi näitä tietoja:
seen-changed = muutti näitä tietoja:
seen-tried-look = yritti katsoa näitä tietoja, mutta siihen ei ollut lupaa:
seen-tried-change = yritti muuttaa näitä tietoja, mutta siihen ei ollut lupaa:
seen-looked-any = katsoi tietojasi.
seen-changed-any = muutti tietojasi.
seen-tried-look-any = yritti katsoa tietojasi, mutta siihen ei ollut lupaa.
seen-tried-change-any = yritti muuttaa tietojasi, mutta siihen ei ollut lupaa.
seen-unregistered = Ammattilainen (ei enää rekisterissä)
seen-purpose = Käyttötarkoitus: { $purpose }
seen-legal = Jokainen tietojesi käyttö kirjataan lokiin, jota ei voi muuttaa huomaamatta. Lokiin ei tallenneta tietojesi sisältöä. Sinulla on oikeus tietää, kuka on käsitellyt tietojasi (EU:n tietosuoja-asetus, artikla 15).
