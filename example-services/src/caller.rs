//! Who made a request, as the routes name them in their answers.

use serde::Deserialize;

/// The claims the routes read from the verified token: the `email` of an account that logs in
/// with a password, or the `phone_number` (E.164) of one that logs in with an SMS code. The
/// issuer puts exactly one of the two in every access token.
#[derive(Deserialize)]
pub(crate) struct Caller {
    email: Option<String>,
    phone_number: Option<String>,
}

impl Caller {
    /// The e-mail address, or else the phone number.
    pub(crate) fn name(self) -> String {
        self.email.or(self.phone_number).unwrap_or_default()
    }
}
