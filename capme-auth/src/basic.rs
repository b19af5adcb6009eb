//! The `Authorization` header: `Basic base64(name:password)` (RFC 7617) or `Bearer TOKEN`
//! (RFC 6750).

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use http::header::AUTHORIZATION;
use http::HeaderMap;

use crate::{AuthError, Schemes};

/// Standard base64, with or without the trailing `=` (some clients leave it out).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What a request's `Authorization` header sent.
pub(crate) enum Credential {
    /// The user name (as sent: an invalid one is simply unknown) and the password (which may
    /// contain `:`).
    Basic { name: String, password: String },
    /// The token, as sent.
    Bearer(String),
}

/// The credential of a request, in one of the `accepted` schemes.
pub(crate) fn credentials(headers: &HeaderMap, accepted: Schemes) -> Result<Credential, AuthError> {
    let malformed = |reason| AuthError::MalformedCredentials(accepted, reason);
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values
        .next()
        .ok_or(AuthError::MissingCredentials(accepted))?;
    if values.next().is_some() {
        return Err(malformed("more than one Authorization header"));
    }
    let value = value
        .to_str()
        .map_err(|_| malformed("not printable ASCII"))?
        .trim();
    let expected = match (accepted.basic, accepted.bearer) {
        (true, false) => "expected `Basic` and base64 credentials",
        (false, true) => "expected `Bearer` and a token",
        _ => "expected `Basic` and base64 credentials, or `Bearer` and a token",
    };
    let (scheme, rest) = value.split_once(' ').ok_or(malformed(expected))?;
    let rest = rest.trim_start();
    if accepted.basic && scheme.eq_ignore_ascii_case("basic") {
        let decoded = BASE64
            .decode(rest)
            .map_err(|_| malformed("the credentials are not valid base64"))?;
        let decoded =
            String::from_utf8(decoded).map_err(|_| malformed("the credentials are not UTF-8"))?;
        let (name, password) = decoded
            .split_once(':')
            .ok_or(malformed("no `:` between the user name and the password"))?;
        return Ok(Credential::Basic {
            name: name.to_owned(),
            password: password.to_owned(),
        });
    }
    if accepted.bearer && scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() || rest.contains(char::is_whitespace) {
            return Err(malformed("expected one token after `Bearer`"));
        }
        return Ok(Credential::Bearer(rest.to_owned()));
    }
    Err(malformed(match (accepted.basic, accepted.bearer) {
        (true, false) => "only the Basic scheme is accepted",
        (false, true) => "only the Bearer scheme is accepted",
        _ => "only the Basic and Bearer schemes are accepted",
    }))
}
