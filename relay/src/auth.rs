//! Who is calling: browser tokens (HS256 JWT, several secrets for rotation) and the
//! server API's bearer key.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rollcall_core::policy::Claims;
use rollcall_core::protocol::{ErrorCode, Identity};

/// Longest `sub` accepted; a user id, not a document.
pub const MAX_SUB_BYTES: usize = 128;
/// Longest `name` or `avatar` accepted.
pub const MAX_PROFILE_BYTES: usize = 512;

/// Verifies browser tokens against every configured secret.
pub struct Verifier {
    keys: Vec<DecodingKey>,
    validation: Validation,
}

impl Verifier {
    pub fn new(secrets: &[String]) -> Verifier {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.required_spec_claims = ["sub".to_string()].into_iter().collect();
        validation.validate_exp = true;
        // Expiry mid-session is handled by the roster (told, then a grace to renew), so
        // a token is judged exactly at its `exp`.
        validation.leeway = 0;
        Verifier {
            keys: secrets.iter().map(|s| DecodingKey::from_secret(s.as_bytes())).collect(),
            validation,
        }
    }

    /// The claims of a valid token, or `BadToken` / `TokenExpired`.
    pub fn verify(&self, token: &str) -> Result<Claims, ErrorCode> {
        let mut expired = false;
        for key in &self.keys {
            match jsonwebtoken::decode::<Claims>(token, key, &self.validation) {
                Ok(data) => return check_claims(data.claims),
                Err(e) if *e.kind() == ErrorKind::ExpiredSignature => expired = true,
                Err(_) => {}
            }
        }
        Err(if expired {
            ErrorCode::TokenExpired
        } else {
            ErrorCode::BadToken
        })
    }
}

fn check_claims(claims: Claims) -> Result<Claims, ErrorCode> {
    let profile_ok = |v: &Option<String>| v.as_ref().is_none_or(|s| s.len() <= MAX_PROFILE_BYTES);
    if claims.sub.is_empty()
        || claims.sub.len() > MAX_SUB_BYTES
        || !profile_ok(&claims.name)
        || !profile_ok(&claims.avatar)
    {
        return Err(ErrorCode::BadToken);
    }
    if claims
        .channels
        .iter()
        .any(|p| rollcall_core::channel::validate_pattern(p).is_err())
    {
        return Err(ErrorCode::BadToken);
    }
    Ok(claims)
}

/// The identity others see, from the token only.
pub fn identity(claims: &Claims) -> Identity {
    Identity {
        id: claims.sub.clone(),
        name: claims.name.clone(),
        avatar: claims.avatar.clone(),
    }
}

/// Sign a token (demo mode and tests).
pub fn sign(secret: &str, claims: &Claims) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing cannot fail")
}

/// Compare a presented API key with the configured one in constant time.
pub fn api_key_matches(expected: &str, presented: &str) -> bool {
    let (a, b) = (expected.as_bytes(), presented.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::unix_now;

    const SECRET: &str = "0123456789abcdef-secret";

    fn claims(sub: &str) -> Claims {
        Claims {
            sub: sub.into(),
            name: Some("Ann".into()),
            exp: Some(unix_now() + 60),
            ..Claims::default()
        }
    }

    #[test]
    fn a_signed_token_verifies_with_any_current_secret() {
        let v = Verifier::new(&["old-secret-0123456789".into(), SECRET.into()]);
        assert_eq!(v.verify(&sign(SECRET, &claims("7"))).unwrap().sub, "7");
    }

    #[test]
    fn forged_malformed_and_expired_tokens_are_told_apart() {
        let v = Verifier::new(&[SECRET.into()]);
        assert_eq!(
            v.verify(&sign("another-secret-012345", &claims("7"))),
            Err(ErrorCode::BadToken)
        );
        assert_eq!(v.verify("not.a.token"), Err(ErrorCode::BadToken));
        assert_eq!(v.verify(""), Err(ErrorCode::BadToken));
        let old = Claims {
            exp: Some(unix_now() - 10),
            ..claims("7")
        };
        assert_eq!(v.verify(&sign(SECRET, &old)), Err(ErrorCode::TokenExpired));
        assert_eq!(v.verify(&sign(SECRET, &claims(""))), Err(ErrorCode::BadToken));
        assert_eq!(
            v.verify(&sign(SECRET, &claims(&"x".repeat(200)))),
            Err(ErrorCode::BadToken)
        );
        // alg=none is never accepted.
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiI3In0.";
        assert_eq!(v.verify(none), Err(ErrorCode::BadToken));
    }

    #[test]
    fn api_keys_compare_exactly() {
        assert!(api_key_matches("k3y", "k3y"));
        assert!(!api_key_matches("k3y", "k3"));
        assert!(!api_key_matches("k3y", "k3z"));
    }
}
