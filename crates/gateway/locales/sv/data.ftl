# data
my-data = Mina uppgifter
my-data-intro = Här är dina uppgifter. Du kan ändra det du själv har skrivit.
my-data-empty = Du har inte lagt till några uppgifter ännu. Lägg bara till dem du behöver.
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
