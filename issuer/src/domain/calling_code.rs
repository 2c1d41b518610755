//! What a phone number's digits say about its country calling code (ITU-T E.164): where the
//! code ends, and whether a `0` after it can be a national trunk prefix. Two short lists, not
//! per-country metadata: they change when ITU assigns a code or a country renumbers, which is
//! rare and announced years ahead.

/// The two-digit country calling codes. Codes are prefix-free, so the first digits decide the
/// length: `1` (North America) and `7` (Russia, Kazakhstan) are the only one-digit codes, these
/// 44 are the two-digit ones, and every other code has three digits (`+353`, `+971`, `+800`).
/// Checked against ITU-T E.164 and libphonenumber's `PhoneNumberMetadata.xml`, which lists the
/// same 44.
const TWO_DIGIT_CODES: [u8; 44] = [
    20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49, 51, 52, 53, 54, 55, 56,
    57, 58, 60, 61, 62, 63, 64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98,
];

/// Country calling codes under which a national (significant) number may begin with `0`, so
/// that a `0` after the code is part of the number and is dialled from abroad: Italy (39, also
/// used by the Vatican), San Marino (378), the Vatican's own 379 (assigned, unused), Côte
/// d'Ivoire (225, since 2021), Burkina Faso (226), Benin (229, since 2024), the Republic of the
/// Congo (242), Tajikistan (992, trunk prefix 8) and the international services 800, 881 and
/// 888, which have no national form at all. Everywhere else no number begins with `0`, so a `0`
/// after the code can only be the trunk prefix written for callers at home.
///
/// Gabon (241) is not here: since its renumbering of November 2019 the `0` is a trunk prefix
/// that callers from abroad leave out. Sources: libphonenumber's metadata (the regions whose
/// fixed or mobile numbers may begin with 0) and the regulators' renumbering notices.
const LEADING_ZERO_CODES: [u16; 11] = [39, 225, 226, 229, 242, 378, 379, 800, 881, 888, 992];

/// How many of `digits` (the ASCII digits after the `+`, which do not start with `0`) are the
/// country calling code: 1, 2 or 3. Shorter input is not checked here (the caller checks the
/// length of the whole number).
pub(super) fn country_code_len(digits: &str) -> usize {
    let first_two = digits.get(..2).and_then(|two| two.parse::<u8>().ok());
    if digits.starts_with(['1', '7']) {
        1
    } else if first_two.is_some_and(|two| TWO_DIGIT_CODES.contains(&two)) {
        2
    } else {
        3
    }
}

/// Whether national numbers under `country_code` may begin with `0` (and so a `0` after the
/// code is never a trunk prefix).
pub(super) fn keeps_leading_zero(country_code: &str) -> bool {
    country_code
        .parse::<u16>()
        .is_ok_and(|code| LEADING_ZERO_CODES.contains(&code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_digits_decide_the_length_of_the_country_code() {
        for (digits, len) in [
            ("14155550100", 1),
            ("74951234567", 1),
            ("447700900123", 2),
            ("390612345678", 2),
            ("353871234567", 3),
            ("9715012345678", 3),
            ("2250712345678", 3),
            ("80012345678", 3),
        ] {
            assert_eq!(country_code_len(digits), len, "{digits}");
        }
    }

    #[test]
    fn the_two_digit_codes_are_sorted_two_digit_and_not_in_a_one_digit_zone() {
        assert!(
            TWO_DIGIT_CODES.is_sorted_by(|a, b| a < b),
            "sorted, no repeats"
        );
        for code in TWO_DIGIT_CODES {
            assert!((20..100).contains(&code), "{code}");
            assert!(![1, 7].contains(&(code / 10)), "{code} is inside +1 or +7");
        }
    }

    #[test]
    fn every_code_that_keeps_its_zero_is_a_whole_country_code() {
        assert!(
            LEADING_ZERO_CODES.is_sorted_by(|a, b| a < b),
            "sorted, no repeats"
        );
        for code in LEADING_ZERO_CODES {
            let code = code.to_string();
            assert_eq!(
                country_code_len(&format!("{code}0612")),
                code.len(),
                "{code}"
            );
            assert!(keeps_leading_zero(&code), "{code}");
        }
        for code in ["44", "33", "1", "7", "241", "353"] {
            assert!(!keeps_leading_zero(code), "{code}");
        }
    }
}
