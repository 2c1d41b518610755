use std::fmt;

/// Fewest digits accepted (country code included): the shortest numbers in use (some Pacific
/// islands) have seven.
const MIN_DIGITS: usize = 7;
/// Most digits E.164 allows, country code included.
const MAX_DIGITS: usize = 15;
/// Longest input looked at; anything longer is refused before it is scanned.
const MAX_INPUT: usize = 64;

/// A phone number in E.164 form: `+`, a country code that does not start with 0, and at most
/// 15 digits in all (`+447700900123`).
///
/// Parsing accepts what people type around the digits (spaces, `-`, `.`, `(`, `)`) and removes
/// it, so `+44 7700 900123` and `+44-7700-900123` are one account; a trunk prefix written
/// `(0)` is dropped (`+44 (0)7700 900123`). The leading `+` and the
/// country code are required: a national number (`07700 900123`) is ambiguous without a
/// country, and guessing one would log a user into somebody else's account. The check is
/// syntactic; whether the number exists and can receive SMS is for the provider to say (Twilio
/// answers such numbers with an error that becomes 422).
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
}

impl Phone {
    /// Parses and normalises a number to E.164.
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
        // `+44 (0)7700 900123`: the national trunk prefix, written for callers at home, is not
        // part of the international number; kept, it would name a second account.
        let rest = rest.replacen("(0)", "", 1);
        let mut digits = String::with_capacity(MAX_DIGITS + 1);
        digits.push('+');
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(PhoneError::Malformed),
            }
        }
        if digits.starts_with("+0") {
            return Err(PhoneError::NotInternational);
        }
        if !(MIN_DIGITS..=MAX_DIGITS).contains(&(digits.len() - 1)) {
            return Err(PhoneError::Length);
        }
        Ok(Self(digits))
    }

    /// The E.164 form, `+` and digits.
    pub fn as_str(&self) -> &str {
        &self.0
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

    #[test]
    fn a_bracketed_trunk_zero_is_dropped() {
        assert_eq!(
            Phone::parse("+44 (0)7700 900123").unwrap().as_str(),
            "+447700900123"
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
