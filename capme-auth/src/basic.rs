//! `Authorization: Basic base64(name:password)` (RFC 7617).

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use http::header::AUTHORIZATION;
use http::HeaderMap;

use crate::AuthError;

/// Standard base64, with or without the trailing `=` (some clients leave it out).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The user name and password of a request. The name is returned as sent (an invalid one is
/// simply unknown); the password may contain `:`.
pub(crate) fn credentials(headers: &HeaderMap) -> Result<(String, String), AuthError> {
    use AuthError::MalformedCredentials as Malformed;
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next().ok_or(AuthError::MissingCredentials)?;
    if values.next().is_some() {
        return Err(Malformed("more than one Authorization header"));
    }
    let value = value
        .to_str()
        .map_err(|_| Malformed("not printable ASCII"))?
        .trim();
    let (scheme, token) = value
        .split_once(' ')
        .ok_or(Malformed("expected `Basic` and base64 credentials"))?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Malformed("only the Basic scheme is accepted"));
    }
    let decoded = BASE64
        .decode(token.trim_start())
        .map_err(|_| Malformed("the credentials are not valid base64"))?;
    let decoded =
        String::from_utf8(decoded).map_err(|_| Malformed("the credentials are not UTF-8"))?;
    let (name, password) = decoded
        .split_once(':')
        .ok_or(Malformed("no `:` between the user name and the password"))?;
    Ok((name.to_owned(), password.to_owned()))
}
