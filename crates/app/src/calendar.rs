//! Dates as people in Finland mean them: a day is a day in Helsinki, and dates and times
//! are written the way each language writes them.
//!
//! A page that says "until 15.1.2027" means until that day ends in Finland, so the stored
//! instant is the day's last second in Europe/Helsinki ([`end_of_day`]), and an instant is
//! shown as its Helsinki date ([`local_date`]). The tz database is compiled in (jiff's
//! `tz::get!`): no system tz files are read at run time, so every machine agrees.
//!
//! How dates are written, by [`Language`]:
//!
//! | language | date | date and time |
//! | --- | --- | --- |
//! | Finnish | `15.1.2027` | `15.1.2027 klo 14.05` |
//! | Swedish (as in Finland) | `15.1.2027` | `15.1.2027 kl. 14.05` |
//! | English (British order, 24-hour clock) | `15 January 2027` | `15 January 2027 at 14:05` |
//!
//! Finnish and Swedish write the hour without a leading zero (`klo 9.05`) as the language
//! boards recommend; English keeps it (`at 09:05`), as 24-hour times are written in Britain.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

/// Europe/Helsinki, from the tz database jiff carries, built into the binary.
static HELSINKI: TimeZone = jiff::tz::get!("Europe/Helsinki");

/// Finnish standard time, used only for instants outside the years the tz database
/// handles (before -9999 or after 9999), where no page date can fall.
const STANDARD_OFFSET: Duration = Duration::hours(2);

/// The last second of a day.
const LAST_SECOND: NaiveTime = match NaiveTime::from_hms_opt(23, 59, 59) {
    Some(time) => time,
    None => NaiveTime::MIN,
};

/// A language the pages speak.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Fi,
    Sv,
    En,
}

impl Language {
    /// Every language, in the order the pages offer them.
    pub const ALL: [Language; 3] = [Language::Fi, Language::Sv, Language::En];

    /// The language of a tag such as `sv-FI`, `fi` or `en_GB` (its primary subtag, in any
    /// case); `None` for a language the pages do not speak.
    pub fn parse(tag: &str) -> Option<Self> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or_default();
        Self::ALL
            .into_iter()
            .find(|language| primary.eq_ignore_ascii_case(language.code()))
    }

    /// The two-letter code (`fi`, `sv`, `en`), as in `lang` attributes and the catalogue.
    pub fn code(self) -> &'static str {
        match self {
            Language::Fi => "fi",
            Language::Sv => "sv",
            Language::En => "en",
        }
    }
}

/// The last moment (23:59:59) of `date` in Helsinki, as UTC: what "until `date`" means.
pub fn end_of_day(date: NaiveDate) -> DateTime<Utc> {
    let local = date.and_time(LAST_SECOND);
    helsinki_to_utc(local).unwrap_or_else(|| (local - STANDARD_OFFSET).and_utc())
}

/// The Helsinki date of the instant `at`: the inverse of [`end_of_day`].
pub fn local_date(at: DateTime<Utc>) -> NaiveDate {
    helsinki_time(at).date()
}

/// `at` as a date in Helsinki, written in `language` (see the module's table).
pub fn format_date(at: DateTime<Utc>, language: Language) -> String {
    format_day(local_date(at), language)
}

/// A calendar day written in `language` ("15.1.2027", "15 January 2027").
pub fn format_day(day: NaiveDate, language: Language) -> String {
    let format = match language {
        Language::Fi | Language::Sv => "%-d.%-m.%Y",
        Language::En => "%-d %B %Y",
    };
    day.format(format).to_string()
}

/// `at` as a date and a time of day in Helsinki, written in `language`.
pub fn format_date_time(at: DateTime<Utc>, language: Language) -> String {
    let format = match language {
        Language::Fi => "%-d.%-m.%Y klo %-H.%M",
        Language::Sv => "%-d.%-m.%Y kl. %-H.%M",
        Language::En => "%-d %B %Y at %H:%M",
    };
    helsinki_time(at).format(format).to_string()
}

/// The wall-clock time in Helsinki at the instant `at`.
fn helsinki_time(at: DateTime<Utc>) -> NaiveDateTime {
    let offset = Timestamp::from_second(at.timestamp())
        .map(|instant| Duration::seconds(i64::from(HELSINKI.to_offset(instant).seconds())))
        .unwrap_or(STANDARD_OFFSET);
    at.naive_utc() + offset
}

/// The instant a Helsinki wall-clock time names. A time skipped when clocks go forward
/// is read as after the change and a repeated one as its first occurrence (tz's usual
/// reading); a day's last second is never either.
fn helsinki_to_utc(local: NaiveDateTime) -> Option<DateTime<Utc>> {
    use chrono::{Datelike, Timelike};
    let small = |n: u32| i8::try_from(n).ok();
    let civil = jiff::civil::DateTime::new(
        i16::try_from(local.year()).ok()?,
        small(local.month())?,
        small(local.day())?,
        small(local.hour())?,
        small(local.minute())?,
        small(local.second())?,
        0,
    )
    .ok()?;
    let instant = HELSINKI.to_ambiguous_timestamp(civil).compatible().ok()?;
    DateTime::from_timestamp(instant.as_second(), 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_day_ends_at_midnight_in_helsinki_winter_and_summer() {
        assert_eq!(end_of_day(date(2027, 1, 15)), utc("2027-01-15T21:59:59Z"));
        assert_eq!(end_of_day(date(2027, 7, 15)), utc("2027-07-15T20:59:59Z"));
    }

    #[test]
    fn the_days_clocks_change_end_in_the_new_time() {
        // 28 March 2027: clocks go forward at 03:00; 31 October 2027: back at 04:00.
        assert_eq!(end_of_day(date(2027, 3, 27)), utc("2027-03-27T21:59:59Z"));
        assert_eq!(end_of_day(date(2027, 3, 28)), utc("2027-03-28T20:59:59Z"));
        assert_eq!(end_of_day(date(2027, 10, 31)), utc("2027-10-31T21:59:59Z"));
        assert_eq!(end_of_day(date(2027, 10, 30)), utc("2027-10-30T20:59:59Z"));
    }

    #[test]
    fn local_dates_turn_at_helsinki_midnight_across_the_clock_changes() {
        // Just before and after the changes themselves (01:00 UTC both times).
        assert_eq!(local_date(utc("2027-03-28T00:59:59Z")), date(2027, 3, 28));
        assert_eq!(
            format_date_time(utc("2027-03-28T00:59:59Z"), Language::Fi),
            "28.3.2027 klo 2.59"
        );
        assert_eq!(
            format_date_time(utc("2027-03-28T01:00:00Z"), Language::Fi),
            "28.3.2027 klo 4.00"
        );
        assert_eq!(
            format_date_time(utc("2027-10-31T00:59:59Z"), Language::Fi),
            "31.10.2027 klo 3.59"
        );
        assert_eq!(
            format_date_time(utc("2027-10-31T01:00:00Z"), Language::Fi),
            "31.10.2027 klo 3.00"
        );
        // Helsinki midnight is 22:00 UTC in winter and 21:00 UTC in summer.
        assert_eq!(local_date(utc("2027-03-27T21:59:59Z")), date(2027, 3, 27));
        assert_eq!(local_date(utc("2027-03-27T22:00:00Z")), date(2027, 3, 28));
        assert_eq!(local_date(utc("2027-03-28T20:59:59Z")), date(2027, 3, 28));
        assert_eq!(local_date(utc("2027-03-28T21:00:00Z")), date(2027, 3, 29));
        assert_eq!(local_date(utc("2027-10-30T20:59:59Z")), date(2027, 10, 30));
        assert_eq!(local_date(utc("2027-10-30T21:00:00Z")), date(2027, 10, 31));
        assert_eq!(local_date(utc("2027-10-31T21:59:59Z")), date(2027, 10, 31));
        assert_eq!(local_date(utc("2027-10-31T22:00:00Z")), date(2027, 11, 1));
    }

    #[test]
    fn a_leap_day_and_new_years_eve_end_in_helsinki() {
        assert_eq!(end_of_day(date(2028, 2, 29)), utc("2028-02-29T21:59:59Z"));
        assert_eq!(local_date(utc("2028-02-29T21:59:59Z")), date(2028, 2, 29));
        assert_eq!(local_date(utc("2028-02-29T22:00:00Z")), date(2028, 3, 1));
        assert_eq!(end_of_day(date(2027, 12, 31)), utc("2027-12-31T21:59:59Z"));
        assert_eq!(
            format_date_time(utc("2027-12-31T22:00:00Z"), Language::En),
            "1 January 2028 at 00:00"
        );
        assert_eq!(
            format_date(utc("2027-12-31T21:59:59Z"), Language::Fi),
            "31.12.2027"
        );
    }

    #[test]
    fn dates_are_written_in_each_language() {
        let winter = utc("2027-01-15T12:05:00Z");
        assert_eq!(format_date(winter, Language::Fi), "15.1.2027");
        assert_eq!(format_date(winter, Language::Sv), "15.1.2027");
        assert_eq!(format_date(winter, Language::En), "15 January 2027");
        assert_eq!(
            format_date_time(winter, Language::Fi),
            "15.1.2027 klo 14.05"
        );
        assert_eq!(
            format_date_time(winter, Language::Sv),
            "15.1.2027 kl. 14.05"
        );
        assert_eq!(
            format_date_time(winter, Language::En),
            "15 January 2027 at 14:05"
        );
        let summer_morning = utc("2027-07-01T06:07:00Z");
        assert_eq!(
            format_date_time(summer_morning, Language::Fi),
            "1.7.2027 klo 9.07"
        );
        assert_eq!(
            format_date_time(summer_morning, Language::En),
            "1 July 2027 at 09:07"
        );
    }

    #[test]
    fn languages_are_read_from_tags() {
        assert_eq!(Language::parse("sv-FI"), Some(Language::Sv));
        assert_eq!(Language::parse("fi"), Some(Language::Fi));
        assert_eq!(Language::parse("EN_gb"), Some(Language::En));
        assert_eq!(Language::parse(" en "), Some(Language::En));
        assert_eq!(Language::parse("se"), None);
        assert_eq!(Language::parse("fin"), None);
        assert_eq!(Language::parse(""), None);
        for language in Language::ALL {
            assert_eq!(Language::parse(language.code()), Some(language));
        }
    }

    #[test]
    fn far_dates_fall_back_to_standard_time() {
        let far = NaiveDate::from_ymd_opt(20_000, 6, 1).unwrap();
        assert_eq!(
            end_of_day(far),
            far.and_hms_opt(21, 59, 59).unwrap().and_utc()
        );
        assert_eq!(local_date(end_of_day(far)), far);
    }

    proptest! {
        #[test]
        fn the_end_of_a_day_is_on_that_day(days in 0i64..(400 * 366)) {
            let day = date(1900, 1, 1) + Duration::days(days);
            let end = end_of_day(day);
            prop_assert_eq!(local_date(end), day);
            prop_assert_eq!(local_date(end + Duration::seconds(1)), day + Duration::days(1));
        }
    }
}
