# history
seen-title = Vem har tittat på dina uppgifter
seen-intro = Varje gång en yrkesperson tittar på eller ändrar dina uppgifter blir det en anteckning. Det blir också en anteckning om hen försöker utan lov. De nyaste kommer först.
seen-none = Ingen har tittat på dina uppgifter ännu.
seen-no-older = Det finns inga äldre anteckningar.
seen-older = Äldre
seen-newest = Nyaste
seen-looked = tittade på de här uppgifterna:
seen-changed = ändrade de här uppgifterna:
seen-tried-look = försökte titta på de här uppgifterna, men hade inte lov:
seen-tried-change = försökte ändra de här uppgifterna, men hade inte lov:
seen-looked-any = tittade på dina uppgifter.
seen-changed-any = ändrade dina uppgifter.
seen-tried-look-any = försökte titta på dina uppgifter, men hade inte lov.
seen-tried-change-any = försökte ändra dina uppgifter, men hade inte lov.
seen-unregistered = En yrkesperson (inte längre registrerad)
seen-purpose = Ändamål: { $purpose }
seen-legal = Varje användning av dina uppgifter loggas i en logg som inte kan ändras obemärkt. Loggen innehåller inte dina uppgifter. Du har rätt att veta vem som har behandlat dina uppgifter (EU:s dataskyddsförordning, artikel 15).
