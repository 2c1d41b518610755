//! Domain types that parse untrusted input once, at the edge ("parse, don't validate").
//!
//! A value of one of these types is valid by construction, so the code that receives it never
//! checks it again.

mod calling_code;
mod email;
mod password;
mod phone;
mod role;

pub use email::{Email, EmailError};
pub use password::{
    MAX_BYTES as PASSWORD_MAX_BYTES, MIN_CHARS as PASSWORD_MIN_CHARS, Password, PasswordError,
};
pub use phone::{OtpCode, OtpCodeError, Phone, PhoneError};
pub use role::{ADMIN_ROLE, Role, RoleError};
