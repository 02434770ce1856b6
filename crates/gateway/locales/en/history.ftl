# history
seen-title = Who has looked at your data
seen-intro = Each time someone at a service looks at or changes your data, a note is kept. A note is kept also when they try without your permission. The newest come first.
seen-none = Nobody has looked at your data yet.
seen-no-older = There are no older notes.
seen-older = Older
seen-newest = Newest
seen-looked = looked at this:
seen-changed = changed this:
seen-tried-look = tried to look at this, without permission:
seen-tried-change = tried to change this, without permission:
seen-looked-any = looked at your data.
seen-changed-any = changed your data.
seen-tried-look-any = tried to look at your data, without permission.
seen-tried-change-any = tried to change your data, without permission.
seen-unregistered = Someone (no longer registered)
seen-purpose = Purpose: { $purpose }
seen-legal = Every use of your data is written to a log that cannot be altered unnoticed. The log never holds the contents of your data. You have the right to know who has handled your data (EU General Data Protection Regulation, Article 15).
