//! JWK and JWKS documents (RFC 7517), read key by key so one bad key costs only itself.

use std::str::FromStr;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::Value;

use super::{Curve, KeyRejected, KeySet, VerifyingKey};

/// A JWKS document that is not `{"keys": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a JWKS document (expected a JSON object with a \"keys\" array)")]
pub(crate) struct NotAJwks;

/// A key that was left out of a set, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SkippedKey {
    pub(crate) kid: Option<String>,
    pub(crate) reason: KeyRejected,
}

/// Reads every usable key of a JWKS; unusable ones (another `kty`, another `use`, an `alg`
/// outside `algorithms`, too small, malformed, a repeated `kid`) are skipped and reported.
pub(crate) fn parse_jwks(
    document: &[u8],
    algorithms: &Arc<[Algorithm]>,
) -> Result<(KeySet, Vec<SkippedKey>), NotAJwks> {
    let document: Value = serde_json::from_slice(document).map_err(|_| NotAJwks)?;
    let Some(Value::Array(entries)) = document.get("keys") else {
        return Err(NotAJwks);
    };
    let mut set = KeySet::default();
    let mut skipped = Vec::new();
    for entry in entries {
        let kid = entry.get("kid").and_then(Value::as_str).map(str::to_owned);
        if let Err(reason) = parse_jwk(entry, algorithms).and_then(|key| set.insert(key)) {
            skipped.push(SkippedKey { kid, reason });
        }
    }
    Ok((set, skipped))
}

/// Reads one public JWK: `kty` `RSA` (`n`, `e`), `EC` (`crv` P-256 or P-384, `x`, `y`) or
/// `OKP` (`crv` Ed25519, `x`). Its `use` must be `sig` and its `key_ops` include `verify` when
/// present; its `alg`, when present, narrows the key to that one algorithm, which must be in
/// `algorithms` and fit the kind of key.
pub(crate) fn parse_jwk(
    jwk: &Value,
    algorithms: &Arc<[Algorithm]>,
) -> Result<VerifyingKey, KeyRejected> {
    let Value::Object(fields) = jwk else {
        return Err(KeyRejected::Malformed("a JWK is a JSON object"));
    };
    let text = |name: &'static str| match fields.get(name) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.as_str())),
        Some(_) => Err(KeyRejected::Malformed(name)),
    };
    let kty = text("kty")?.ok_or(KeyRejected::Malformed("kty"))?;
    if !matches!(kty, "RSA" | "EC" | "OKP") {
        return Err(KeyRejected::UnsupportedType(kty.to_owned()));
    }
    if text("use")?.is_some_and(|usage| usage != "sig") {
        return Err(KeyRejected::NotForVerification);
    }
    if let Some(ops) = fields.get("key_ops") {
        let Value::Array(ops) = ops else {
            return Err(KeyRejected::Malformed("key_ops"));
        };
        if !ops.iter().any(|op| op == "verify") {
            return Err(KeyRejected::NotForVerification);
        }
    }
    let allowed = match text("alg")? {
        None => Arc::clone(algorithms),
        Some(name) => match Algorithm::from_str(name) {
            Ok(alg) if algorithms.contains(&alg) => Arc::from([alg]),
            _ => return Err(KeyRejected::AlgorithmNotAccepted(name.to_owned())),
        },
    };
    let bytes = |name: &'static str| {
        let value = text(name)?.ok_or(KeyRejected::Malformed(name))?;
        URL_SAFE_NO_PAD
            .decode(value)
            .map_err(|_| KeyRejected::Malformed(name))
    };
    let kid = text("kid")?.map(str::to_owned);
    if kty == "RSA" {
        return VerifyingKey::rsa(kid, &bytes("n")?, &bytes("e")?, &allowed);
    }
    let crv = text("crv")?.ok_or(KeyRejected::Malformed("crv"))?;
    let curve = match Curve::from_jwk_name(crv) {
        // EC keys name NIST curves and OKP keys Edwards curves (RFC 7518 6.2, RFC 8037 2).
        Some(curve) if (curve == Curve::Ed25519) == (kty == "OKP") => curve,
        _ => return Err(KeyRejected::UnsupportedCurve(format!("{kty} {crv}"))),
    };
    // Each coordinate at exactly the curve's size (RFC 7518 6.2.1.2, RFC 8037 2).
    let coordinate = |name: &'static str| {
        let value = bytes(name)?;
        if value.len() == curve.coordinate_bytes() {
            Ok(value)
        } else {
            Err(KeyRejected::Malformed(name))
        }
    };
    let public_key = if curve == Curve::Ed25519 {
        coordinate("x")?
    } else {
        [&[0x04][..], &coordinate("x")?, &coordinate("y")?].concat()
    };
    VerifyingKey::curve(kid, curve, &public_key, &allowed)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rs256() -> Arc<[Algorithm]> {
        Arc::from([Algorithm::RS256])
    }

    fn modulus() -> String {
        let mut n = vec![0xC5; 256];
        n[255] |= 1;
        URL_SAFE_NO_PAD.encode(n)
    }

    fn rsa_jwk(kid: &str) -> Value {
        json!({ "kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": modulus(), "e": "AQAB" })
    }

    #[test]
    fn a_jwks_keeps_its_good_keys_and_reports_the_rest() {
        let mut small = rsa_jwk("small");
        small["n"] = json!(URL_SAFE_NO_PAD.encode([0xC5; 128]));
        let mut encryption = rsa_jwk("enc");
        encryption["use"] = json!("enc");
        let mut hs = rsa_jwk("hs");
        hs["alg"] = json!("HS256");
        let document = json!({ "keys": [
            rsa_jwk("good-1"),
            { "kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA" },
            small,
            encryption,
            hs,
            { "kty": "RSA", "kid": "no-n", "e": "AQAB" },
            "not an object",
            rsa_jwk("good-1"),
            rsa_jwk("good-2"),
        ]});

        let (set, skipped) = parse_jwks(document.to_string().as_bytes(), &rs256()).unwrap();

        let mut kids = set.kids();
        kids.sort_unstable();
        assert_eq!(kids, ["good-1", "good-2"]);
        let reasons: Vec<_> = skipped.iter().map(|s| s.reason.clone()).collect();
        assert_eq!(
            reasons,
            [
                KeyRejected::Malformed("x"),
                KeyRejected::TooSmall { bits: 1024 },
                KeyRejected::NotForVerification,
                KeyRejected::AlgorithmNotAccepted("HS256".into()),
                KeyRejected::Malformed("n"),
                KeyRejected::Malformed("a JWK is a JSON object"),
                KeyRejected::DuplicateKid,
            ]
        );
    }

    #[test]
    fn a_document_without_a_keys_array_is_not_a_jwks() {
        for document in [&b"[]"[..], b"{}", b"{\"keys\":{}}", b"<html>"] {
            assert!(parse_jwks(document, &rs256()).is_err());
        }
    }

    #[test]
    fn a_key_alg_narrows_what_it_verifies() {
        let algorithms: Arc<[Algorithm]> = Arc::from([Algorithm::RS256, Algorithm::PS256]);
        let mut jwk = rsa_jwk("a");
        jwk["alg"] = json!("PS256");

        let key = parse_jwk(&jwk, &algorithms).unwrap();

        assert!(key.verifies(Algorithm::PS256));
        assert!(!key.verifies(Algorithm::RS256));
    }

    #[test]
    fn key_ops_without_verify_is_refused() {
        let mut jwk = rsa_jwk("a");
        jwk["key_ops"] = json!(["encrypt"]);

        assert_eq!(
            parse_jwk(&jwk, &rs256()).unwrap_err(),
            KeyRejected::NotForVerification
        );
    }

    #[test]
    fn a_private_jwk_is_read_as_its_public_part() {
        let mut jwk = rsa_jwk("a");
        jwk["d"] = json!("AQAB");

        assert!(parse_jwk(&jwk, &rs256()).is_ok());
    }

    /// The public JWK of a fresh key on `curve`.
    fn curve_jwk(curve: Curve) -> Value {
        use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
        let ec = |alg| {
            let pair = EcdsaKeyPair::generate(alg).unwrap();
            let point = pair.public_key().as_ref().to_vec();
            let half = (point.len() - 1) / 2;
            json!({
                "kty": "EC", "crv": curve.name(),
                "x": URL_SAFE_NO_PAD.encode(&point[1..=half]),
                "y": URL_SAFE_NO_PAD.encode(&point[1 + half..]),
            })
        };
        match curve {
            Curve::P256 => ec(&signature::ECDSA_P256_SHA256_FIXED_SIGNING),
            Curve::P384 => ec(&signature::ECDSA_P384_SHA384_FIXED_SIGNING),
            Curve::Ed25519 => {
                let pair = Ed25519KeyPair::generate().unwrap();
                json!({ "kty": "OKP", "crv": "Ed25519",
                        "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()) })
            }
        }
    }

    fn every_algorithm() -> Arc<[Algorithm]> {
        Arc::from([
            Algorithm::RS256,
            Algorithm::PS256,
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::EdDSA,
            Algorithm::HS256,
        ])
    }

    #[test]
    fn a_curve_key_verifies_its_curves_algorithm_and_nothing_else() {
        for curve in Curve::ALL {
            let key = parse_jwk(&curve_jwk(curve), &every_algorithm()).unwrap();

            for alg in every_algorithm().iter() {
                assert_eq!(
                    key.verifies(*alg),
                    *alg == curve.algorithm(),
                    "{curve:?} {alg:?}"
                );
            }
        }
    }

    #[test]
    fn a_curve_key_whose_algorithm_is_not_allowed_or_whose_alg_is_another_kinds_is_refused() {
        let jwk = curve_jwk(Curve::P256);
        assert_eq!(
            parse_jwk(&jwk, &rs256()).unwrap_err(),
            KeyRejected::NoAlgorithmForKind("P-256")
        );
        for alg in ["RS256", "ES384", "EdDSA", "HS256"] {
            let mut labelled = jwk.clone();
            labelled["alg"] = json!(alg);
            assert_eq!(
                parse_jwk(&labelled, &every_algorithm()).unwrap_err(),
                KeyRejected::NoAlgorithmForKind("P-256"),
                "{alg}"
            );
        }
        let mut rsa = rsa_jwk("r");
        rsa["alg"] = json!("ES256");
        assert_eq!(
            parse_jwk(&rsa, &every_algorithm()).unwrap_err(),
            KeyRejected::NoAlgorithmForKind("RSA")
        );
    }

    #[test]
    fn curves_other_than_p256_p384_and_ed25519_or_under_the_wrong_kty_are_refused() {
        let ed = curve_jwk(Curve::Ed25519);
        let p256 = curve_jwk(Curve::P256);
        let cases = [
            (
                json!({ "kty": "EC", "crv": "P-521", "x": "AA", "y": "AA" }),
                "EC P-521",
            ),
            (
                json!({ "kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA" }),
                "EC secp256k1",
            ),
            (
                json!({ "kty": "OKP", "crv": "Ed448", "x": "AA" }),
                "OKP Ed448",
            ),
            (
                json!({ "kty": "OKP", "crv": "X25519", "x": ed["x"] }),
                "OKP X25519",
            ),
            (
                json!({ "kty": "EC", "crv": "Ed25519", "x": ed["x"], "y": ed["x"] }),
                "EC Ed25519",
            ),
            (
                json!({ "kty": "OKP", "crv": "P-256", "x": p256["x"] }),
                "OKP P-256",
            ),
        ];
        for (jwk, named) in cases {
            assert_eq!(
                parse_jwk(&jwk, &every_algorithm()).unwrap_err(),
                KeyRejected::UnsupportedCurve(named.into())
            );
        }
    }

    #[test]
    fn coordinates_of_the_wrong_size_or_off_the_curve_are_refused() {
        let mut short = curve_jwk(Curve::P256);
        let x = URL_SAFE_NO_PAD
            .decode(short["x"].as_str().unwrap())
            .unwrap();
        short["x"] = json!(URL_SAFE_NO_PAD.encode(&x[1..]));
        let mut long = curve_jwk(Curve::P384);
        long["y"] = json!(URL_SAFE_NO_PAD.encode([7u8; 49]));
        let mut off_curve = curve_jwk(Curve::P256);
        off_curve["y"] = json!(URL_SAFE_NO_PAD.encode([7u8; 32]));

        assert_eq!(
            parse_jwk(&short, &every_algorithm()).unwrap_err(),
            KeyRejected::Malformed("x")
        );
        assert_eq!(
            parse_jwk(&long, &every_algorithm()).unwrap_err(),
            KeyRejected::Malformed("y")
        );
        assert_eq!(
            parse_jwk(&off_curve, &every_algorithm()).unwrap_err(),
            KeyRejected::Malformed("not a valid public key on its curve")
        );
    }
}
