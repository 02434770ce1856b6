# data
my-data = My data
my-data-intro = Here is your data. You can change what you wrote yourself.
my-data-filled = { $filled ->
        [0] You have not added any information yet. Add only what you need.
        [one] You have added one item.
       *[other] You have added { $filled } items.
    }
add-information = Add information
add-information-intro = Add only what you need. You can change or remove it later.
choose-field = Which information?
edit-field = Change: { $field }
written-by-you = You wrote this on { $date }
written-by = Written by { $name }, { $title }, { $date }
written-by-professional = Written by a professional on { $date }
list-hint = Write one item per line.
clear-hint = If you empty the field and save, the information is removed.
done-saved = Saved.
done-cleared = Information removed.
legal-data = You have the right to know what data is held about you, to correct it, to get it and to ask for it to be erased (EU General Data Protection Regulation, Articles 15–20).
invalid-email = Write the e-mail address in the form name@example.fi.
invalid-phone = Write the phone number in digits, for example 040 123 4567 or +358 40 123 4567.
invalid-date = Choose a date.
