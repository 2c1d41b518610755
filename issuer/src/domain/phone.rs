use std::fmt;

use super::calling_code::{country_code_len, keeps_leading_zero};

/// Fewest digits accepted (country code included): the shortest numbers in use (some Pacific
/// islands) have seven.
const MIN_DIGITS: usize = 7;
/// Most digits E.164 allows, country code included.
const MAX_DIGITS: usize = 15;
/// Longest input looked at; anything longer is refused before it is scanned.
const MAX_INPUT: usize = 64;

/// A phone number in its one E.164 form: `+`, a country code that does not start with 0, the
/// national number, at most 15 digits in all (`+447700900123`).
///
/// Parsing accepts what people type around the digits (spaces, `-`, `.`, `(`, `)`) and removes
/// it, so `+44 7700 900123` and `+44-7700-900123` are one account. A national trunk prefix `0`
/// right after the country code, bracketed or not, is dropped (`+44 (0)7700 900123` and
/// `+44 07700 900123` are `+447700900123`), except where national numbers may begin with 0
/// (Italy: `+39 06 1234 5678` keeps it); a second `0` there, or a `(0)` anywhere else, is refused
/// as ambiguous. Where the country code ends is read from the code itself (codes are
/// prefix-free). The leading `+` and the country code are required: a national number
/// (`07700 900123`) is ambiguous without a country, and guessing one would log a user into
/// somebody else's account. The check is syntactic; whether the number exists and can receive
/// SMS is for the provider to say (Twilio answers such numbers with an error that becomes 422).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

/// Why a string is not a [`Phone`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Empty after trimming.
    #[error("phone must not be empty")]
    Empty,
    /// No leading `+` with a country code.
    #[error("phone must be in international format: + and the country code, e.g. +447700900123")]
    NotInternational,
    /// Something other than digits and the usual separators.
    #[error("phone may hold only digits after the +, and spaces, dashes, dots or brackets")]
    Malformed,
    /// Too few or too many digits.
    #[error("phone must have 7 to 15 digits including the country code")]
    Length,
    /// A `(0)` somewhere other than right after the country code: a dropped trunk prefix or a
    /// digit of the number, nobody can tell.
    #[error(
        "phone may have a (0) only right after the country code, e.g. +44 (0)7700 900123; \
         elsewhere it is ambiguous"
    )]
    MisplacedTrunkPrefix,
    /// More than one `0` after the country code where numbers never begin with 0.
    #[error("phone may have one trunk prefix 0 after the country code, not more")]
    RepeatedTrunkPrefix,
}

impl Phone {
    /// Parses a number and brings it to its one E.164 form.
    pub fn parse(raw: &str) -> Result<Self, PhoneError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        if trimmed.len() > MAX_INPUT {
            return Err(PhoneError::Length);
        }
        let rest = trimmed
            .strip_prefix('+')
            .ok_or(PhoneError::NotInternational)?;
        let mut digits = String::with_capacity(MAX_INPUT);
        // Where each `(0)` stands, counted in digits before it; `( 0 )` counts too.
        let mut bracketed_zeros = Vec::new();
        let mut bracket_opened_at = None;
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                '(' => bracket_opened_at = Some(digits.len()),
                ')' => {
                    if let Some(at) = bracket_opened_at.take()
                        && &digits[at..] == "0"
                    {
                        bracketed_zeros.push(at);
                    }
                }
                ' ' | '-' | '.' => {}
                _ => return Err(PhoneError::Malformed),
            }
        }
        if digits.starts_with('0') {
            return Err(PhoneError::NotInternational);
        }
        let (country_code, national) = digits.split_at(country_code_len(&digits).min(digits.len()));
        if bracketed_zeros.iter().any(|&at| at != country_code.len()) {
            return Err(PhoneError::MisplacedTrunkPrefix);
        }
        let national = if keeps_leading_zero(country_code) {
            national
        } else {
            // `+44 (0)7700 900123`, `+44 07700 900123`: the trunk prefix, written for callers at
            // home, is not part of the international number; kept, it would name a second
            // account. No number there begins with 0, so dropping it names nobody else.
            let national = national.strip_prefix('0').unwrap_or(national);
            if national.starts_with('0') {
                return Err(PhoneError::RepeatedTrunkPrefix);
            }
            national
        };
        if !(MIN_DIGITS..=MAX_DIGITS).contains(&(country_code.len() + national.len())) {
            return Err(PhoneError::Length);
        }
        Ok(Self(format!("+{country_code}{national}")))
    }

    /// The E.164 form, `+` and digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form this number may be stored under by versions that kept an unbracketed trunk
    /// zero (`+4407700900123` for `+447700900123`): the country code, `0`, the rest. `None`
    /// where numbers may begin with 0 (those versions kept an unbracketed zero there too; the
    /// `(0)` they dropped left a number that does not exist there, which no SMS reaches, so no
    /// login created it) and where that form would have had too many digits to be stored.
    pub fn legacy_form(&self) -> Option<String> {
        let digits = &self.0[1..];
        let (country_code, national) = digits.split_at(country_code_len(digits));
        let fits = digits.len() < MAX_DIGITS;
        (fits && !keeps_leading_zero(country_code)).then(|| format!("+{country_code}0{national}"))
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Shows only the last three digits: enough to tell numbers apart in a debug log, not enough
/// to call anyone.
impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tail = &self.0[self.0.len().saturating_sub(3)..];
        write!(f, "Phone(+***{tail})")
    }
}

/// A one-time code as typed by the user: 4 to 10 digits (the range Twilio Verify accepts; the
/// local provider sends 6). `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct OtpCode(String);

/// Why a string is not an [`OtpCode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("code must be 4 to 10 digits")]
pub struct OtpCodeError;

impl OtpCode {
    /// Parses a code, ignoring surrounding white space.
    pub fn parse(raw: &str) -> Result<Self, OtpCodeError> {
        let code = raw.trim();
        let digits_only = code.bytes().all(|b| b.is_ascii_digit());
        if digits_only && (4..=10).contains(&code.len()) {
            Ok(Self(code.to_owned()))
        } else {
            Err(OtpCodeError)
        }
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpCode(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_international_number_is_accepted_as_is() {
        assert_eq!(
            Phone::parse("+447700900123").unwrap().as_str(),
            "+447700900123"
        );
    }

    #[test]
    fn separators_and_surrounding_space_are_removed() {
        assert_eq!(
            Phone::parse(" +1 (555) 010-0199 ").unwrap().as_str(),
            "+15550100199"
        );
        assert_eq!(
            Phone::parse("+44.7700.900123").unwrap(),
            Phone::parse("+44 7700 900123").unwrap()
        );
    }

    /// Ways people write numbers, and the one form each is stored and texted under.
    const CANONICAL_FORMS: &[(&str, &str)] = &[
        // A trunk zero right after the country code is dropped, bracketed or not.
        ("+447700900400", "+447700900400"),
        ("+44 07700 900400", "+447700900400"),
        ("+4407700900400", "+447700900400"),
        ("+44 (0)7700 900400", "+447700900400"),
        ("+44(0)7700900400", "+447700900400"),
        ("+44 ( 0 ) 7700-900-400", "+447700900400"),
        ("+44 (07700) 900400", "+447700900400"),
        ("+33 (0)1 23 45 67 89", "+33123456789"),
        ("+49 (0)30 1234567", "+49301234567"),
        // After a three-digit country code, where it ends is read from the code.
        ("+353 (0)87 123 4567", "+353871234567"),
        ("+353 087 123 4567", "+353871234567"),
        ("+971 (0)50 123 4567", "+971501234567"),
        ("+241 0 62 12 34 56", "+24162123456"),
        // Where numbers begin with 0, the 0 is kept, bracketed or not.
        ("+39 06 1234 5678", "+390612345678"),
        ("+39 (0)6 1234 5678", "+390612345678"),
        ("+39 347 123 4567", "+393471234567"),
        ("+378 0549 123456", "+3780549123456"),
        ("+225 07 12 34 56 78", "+2250712345678"),
        ("+225 (0)7 12 34 56 78", "+2250712345678"),
        ("+229 01 97 12 34 56", "+2290197123456"),
        ("+242 06 123 4567", "+242061234567"),
        // North America: area-code brackets are separators; no number there begins with 0, so
        // a 0 after +1 is dropped like any trunk zero rather than left to name a second account.
        ("+1 (415) 555-0100", "+14155550100"),
        ("+1 415 555 0100", "+14155550100"),
        ("+1 0415 555 0100", "+14155550100"),
        ("+1 (0)415 555 0100", "+14155550100"),
    ];

    #[test]
    fn each_way_of_writing_a_number_has_one_canonical_form() {
        for &(written, canonical) in CANONICAL_FORMS {
            assert_eq!(
                Phone::parse(written).map(|p| p.as_str().to_owned()),
                Ok(canonical.to_owned()),
                "{written}"
            );
        }
    }

    #[test]
    fn a_canonical_form_parses_to_itself() {
        for &(_, canonical) in CANONICAL_FORMS {
            assert_eq!(Phone::parse(canonical).unwrap().as_str(), canonical);
        }
    }

    #[test]
    fn a_bracketed_zero_anywhere_but_right_after_the_country_code_is_refused() {
        for written in [
            "+44077(0)00900400",
            "+44 7700 (0)900400",
            "+44 0 (0)7700 900400",
            "+44 (0)(0)7700 900400",
            "+4 (0)4 7700 900400",
            "+35 (0)3 87 123 4567",
            "+39 06 (0)1234 5678",
            "+1 415 (0)555 0100",
        ] {
            assert_eq!(
                Phone::parse(written),
                Err(PhoneError::MisplacedTrunkPrefix),
                "{written}"
            );
        }
        assert!(
            PhoneError::MisplacedTrunkPrefix
                .to_string()
                .contains("only right after the country code")
        );
    }

    #[test]
    fn a_second_zero_after_the_country_code_is_refused() {
        for written in [
            "+44 00 7700 900400",
            "+44 (0)07700 900400",
            "+1 00 415 555 0100",
        ] {
            assert_eq!(
                Phone::parse(written),
                Err(PhoneError::RepeatedTrunkPrefix),
                "{written}"
            );
        }
    }

    #[test]
    fn the_legacy_form_puts_back_the_trunk_zero_where_one_was_dropped() {
        let legacy = |written: &str| Phone::parse(written).unwrap().legacy_form();
        assert_eq!(legacy("+447700900400").as_deref(), Some("+4407700900400"));
        assert_eq!(legacy("+353871234567").as_deref(), Some("+3530871234567"));
        assert_eq!(legacy("+14155550100").as_deref(), Some("+104155550100"));
        assert_eq!(legacy("+390612345678"), None, "Italy keeps its zero");
        assert_eq!(legacy("+2250712345678"), None, "so does Cote d'Ivoire");
        assert_eq!(
            legacy("+123456789012345"),
            None,
            "16 digits were never stored"
        );
    }

    #[test]
    fn a_national_number_without_plus_is_rejected() {
        assert_eq!(
            Phone::parse("07700 900123"),
            Err(PhoneError::NotInternational)
        );
        assert_eq!(
            Phone::parse("00447700900123"),
            Err(PhoneError::NotInternational)
        );
    }

    #[test]
    fn a_country_code_starting_with_zero_is_rejected() {
        assert_eq!(
            Phone::parse("+07700900123"),
            Err(PhoneError::NotInternational)
        );
    }

    #[test]
    fn letters_and_other_symbols_are_rejected() {
        assert_eq!(Phone::parse("+44 7700 CALLME"), Err(PhoneError::Malformed));
        assert_eq!(Phone::parse("+447700900123;1"), Err(PhoneError::Malformed));
        assert_eq!(Phone::parse("++447700900123"), Err(PhoneError::Malformed));
        assert_eq!(Phone::parse("+٤٤٧٧٠٠٩٠٠١٢٣"), Err(PhoneError::Malformed));
    }

    #[test]
    fn too_few_or_too_many_digits_are_rejected() {
        assert_eq!(Phone::parse("+123456"), Err(PhoneError::Length));
        assert_eq!(Phone::parse("+1234567890123456"), Err(PhoneError::Length));
        assert_eq!(
            Phone::parse(&format!("+{}", " ".repeat(80))),
            Err(PhoneError::Length)
        );
        assert!(Phone::parse("+1234567").is_ok());
        assert!(Phone::parse("+123456789012345").is_ok());
    }

    #[test]
    fn an_empty_phone_is_rejected() {
        assert_eq!(Phone::parse("  "), Err(PhoneError::Empty));
        assert_eq!(Phone::parse("+ ()"), Err(PhoneError::Length));
    }

    #[test]
    fn debug_output_hides_all_but_the_last_digits() {
        let shown = format!("{:?}", Phone::parse("+447700900123").unwrap());
        assert_eq!(shown, "Phone(+***123)");
    }

    #[test]
    fn a_code_is_four_to_ten_digits() {
        assert_eq!(OtpCode::parse(" 123456 ").unwrap().as_str(), "123456");
        assert!(OtpCode::parse("1234").is_ok());
        assert!(OtpCode::parse("1234567890").is_ok());
        for bad in ["123", "12345678901", "12a456", "", "12 456", "١٢٣٤٥٦"] {
            assert_eq!(OtpCode::parse(bad), Err(OtpCodeError), "{bad}");
        }
    }

    #[test]
    fn a_code_is_not_in_debug_output() {
        assert!(!format!("{:?}", OtpCode::parse("424242").unwrap()).contains("4242"));
    }
}
