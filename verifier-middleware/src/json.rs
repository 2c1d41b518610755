//! Reading the members a check needs out of a JSON object (a token's header or payload), in
//! one pass: each wanted member reduced to a [`Field`], strings borrowed from the text where
//! they have no escapes, every other member checked as strictly as a full parse would (escapes,
//! number range, nesting depth) but not built. Maps of every member
//! are made later, and only if a handler asks for one
//! ([`VerifiedClaims::payload`](crate::VerifiedClaims::payload)).
//!
//! Strict: the text must be one JSON object, and no top-level key may appear twice
//! (serde_json would keep the last of two `alg`s or `exp`s, another parser the first: a gap
//! attackers use to make two parties read one token differently).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// One member's value, reduced to what the checks tell apart.
#[derive(Debug, PartialEq)]
pub(crate) enum Field<'a> {
    /// A string.
    Str(Cow<'a, str>),
    /// An array of strings only (possibly empty).
    Strs(Vec<Cow<'a, str>>),
    /// A number, read down to whole seconds: fractions floored, beyond `i64` saturated.
    Number(i64),
    /// Anything else: an array holding a non-string, an object, a boolean, `null`.
    Other,
}

impl Field<'_> {
    /// The string, if the member is one.
    pub(crate) fn into_str(self) -> Option<Box<str>> {
        match self {
            Field::Str(text) => Some(Box::from(text.as_ref())),
            _ => None,
        }
    }
}

/// The members of the object `json` named by `names`, in that order (`None`: absent).
///
/// # Errors
/// `json` is not one JSON object, or repeats a key.
pub(crate) fn fields<'a, const N: usize>(
    json: &'a str,
    names: [&str; N],
) -> Result<[Option<Field<'a>>; N], serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let found = Wanted(names).deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(found)
}

/// The names to read, as a serde seed.
struct Wanted<'n, const N: usize>([&'n str; N]);

impl<'de, const N: usize> DeserializeSeed<'de> for Wanted<'_, N> {
    type Value = [Option<Field<'de>>; N];

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for Wanted<'_, N> {
    type Value = [Option<Field<'de>>; N];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut found = [const { None }; N];
        // Every key, to refuse duplicates once all are known: sorting beats a set here.
        let mut keys: Vec<Cow<'de, str>> = Vec::new();
        while let Some(Text(key)) = access.next_key()? {
            match self.0.iter().position(|name| *name == key) {
                Some(slot) => found[slot] = Some(access.next_value()?),
                None => {
                    access.next_value::<Skipped>()?;
                }
            }
            keys.push(key);
        }
        keys.sort_unstable();
        if keys.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(de::Error::custom("duplicate key"));
        }
        Ok(found)
    }
}

/// A string, borrowed from the text when it has no escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Borrowed(text)))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(text.to_owned())))
    }
}

impl<'de> Deserialize<'de> for Field<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Field<'de>, E> {
        Ok(Field::Str(Cow::Borrowed(text)))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Field<'de>, E> {
        Ok(Field::Str(Cow::Owned(text.to_owned())))
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Field<'de>, E> {
        Ok(Field::Number(number))
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Field<'de>, E> {
        Ok(Field::Number(i64::try_from(number).unwrap_or(i64::MAX)))
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<Field<'de>, E> {
        // `as` saturates, so 1e300 becomes i64::MAX: far future, which is what it means.
        // JSON has no NaN or infinity.
        #[allow(clippy::cast_possible_truncation)]
        Ok(Field::Number(number.floor() as i64))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Field<'de>, E> {
        Ok(Field::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Field<'de>, E> {
        Ok(Field::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut entries: A) -> Result<Field<'de>, A::Error> {
        let mut strings = Vec::new();
        while let Some(entry) = entries.next_element::<Field<'de>>()? {
            let Field::Str(text) = entry else {
                while entries.next_element::<Skipped>()?.is_some() {}
                return Ok(Field::Other);
            };
            strings.push(text);
        }
        Ok(Field::Strs(strings))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut members: A) -> Result<Field<'de>, A::Error> {
        while members.next_entry::<Skipped, Skipped>()?.is_some() {}
        Ok(Field::Other)
    }
}

/// A value read and dropped: unlike serde's `IgnoredAny`, which serde_json skips without
/// checking, every string, number and nesting level goes through the same checks a full parse
/// makes (lone surrogate escapes, numbers out of range and nesting beyond 128 refused), so
/// the text is valid JSON for [`VerifiedClaims::payload`](crate::VerifiedClaims::payload)
/// and `Claims<T>` later.
struct Skipped;

impl<'de> Deserialize<'de> for Skipped {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SkippedVisitor)
    }
}

struct SkippedVisitor;

impl<'de> Visitor<'de> for SkippedVisitor {
    type Value = Skipped;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Skipped, E> {
        Ok(Skipped)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Skipped, E> {
        Ok(Skipped)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Skipped, E> {
        Ok(Skipped)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Skipped, E> {
        Ok(Skipped)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Skipped, E> {
        Ok(Skipped)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Skipped, E> {
        Ok(Skipped)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut entries: A) -> Result<Skipped, A::Error> {
        while entries.next_element::<Skipped>()?.is_some() {}
        Ok(Skipped)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut members: A) -> Result<Skipped, A::Error> {
        while members.next_entry::<Skipped, Skipped>()?.is_some() {}
        Ok(Skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wanted_members_are_read_by_type_and_the_rest_skipped() {
        let json = r#"{"exp": 1800000000.9, "iss": "https://a", "aud": ["x", "y"],
            "roles": ["a", 1], "scope": {"nested": [1]}, "sid": null, "extra": {"k": [1, 2]},
            "nbf": 18446744073709551615, "role": "caf\u00e9"}"#;

        let [exp, nbf, iss, aud, roles, scope, sid, role, iat] = fields(
            json,
            [
                "exp", "nbf", "iss", "aud", "roles", "scope", "sid", "role", "iat",
            ],
        )
        .unwrap();

        assert_eq!(exp, Some(Field::Number(1_800_000_000)));
        assert_eq!(nbf, Some(Field::Number(i64::MAX)));
        assert_eq!(iss, Some(Field::Str(Cow::Borrowed("https://a"))));
        assert_eq!(
            aud,
            Some(Field::Strs(vec![Cow::Borrowed("x"), Cow::Borrowed("y")]))
        );
        assert_eq!(roles, Some(Field::Other));
        assert_eq!(scope, Some(Field::Other));
        assert_eq!(sid, Some(Field::Other));
        assert_eq!(role, Some(Field::Str(Cow::Owned("café".to_owned()))));
        assert_eq!(iat, None);
    }

    #[test]
    fn a_duplicate_key_wanted_or_not_is_refused() {
        assert!(fields(r#"{"exp": 1, "exp": 2}"#, ["exp"]).is_err());
        assert!(fields(r#"{"x": 1, "y": 2, "x": 3}"#, ["exp"]).is_err());
        // The same name spelt with an escape is the same key.
        assert!(fields(r#"{"exp": 1, "\u0065xp": 2}"#, ["exp"]).is_err());
    }

    #[test]
    fn members_not_read_are_still_checked_like_a_full_parse() {
        let deep = format!("{{\"x\": {}1{}}}", "[".repeat(200), "]".repeat(200));
        for json in [
            r#"{"x": "\udc00"}"#,
            r#"{"x": ["\ud800"]}"#,
            r#"{"x": {"y": 1e400}}"#,
            r#"{"roles": [1e400]}"#,
            deep.as_str(),
        ] {
            assert!(fields(json, ["exp", "roles"]).is_err(), "{json}");
            assert!(
                serde_json::from_str::<serde_json::Value>(json).is_err(),
                "{json}"
            );
        }
        // What a full parse accepts, this does too.
        let fine = format!("{{\"x\": {}1{}}}", "[".repeat(100), "]".repeat(100));
        assert!(fields(&fine, ["exp"]).is_ok());
    }

    #[test]
    fn anything_but_one_json_object_is_refused() {
        for json in ["[]", "\"exp\"", "1", "{", r#"{"exp": 1} {}"#, ""] {
            assert!(fields(json, ["exp"]).is_err(), "{json}");
        }
    }
}
