# data
my-data = Mina uppgifter
my-data-intro = Här är dina uppgifter. Du kan ändra det du själv har skrivit.
my-data-filled = { $filled ->
        [0] Du har inte lagt till några uppgifter ännu. Lägg bara till dem du behöver.
        [one] Du har lagt till en uppgift.
       *[other] Du har lagt till { $filled } uppgifter.
    }
add-information = Lägg till en uppgift
add-information-intro = Lägg bara till det du behöver. Du kan ändra eller ta bort uppgiften senare.
choose-field = Vilken uppgift?
edit-field = Ändra: { $field }
written-by-you = Du skrev detta { $date }
written-by = Skrivet av { $name }, { $title }, { $date }
written-by-professional = Skrivet av en yrkesperson { $date }
list-hint = Skriv en sak per rad.
clear-hint = Om du tömmer fältet och sparar tas uppgiften bort.
done-saved = Sparat.
done-cleared = Uppgiften borttagen.
legal-data = Du har rätt att få veta vilka uppgifter som finns om dig, rätta dem, få dem och begära att de raderas (EU:s dataskyddsförordning, artiklarna 15–20).
invalid-email = Skriv e-postadressen i formen namn@exempel.fi.
invalid-phone = Skriv telefonnumret med siffror, till exempel 040 123 4567 eller +358 40 123 4567.
invalid-date = Välj ett datum.
