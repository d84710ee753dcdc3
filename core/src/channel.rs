//! Channel names and the glob patterns that match them.
//!
//! A name looks like `/prefix/rest` (Discourse style): a leading slash, at least two
//! non-empty segments, at most [`MAX_CHANNEL_NAME_BYTES`] bytes of a small ASCII set.
//! Patterns use `*` for any run within one segment and `**` for any run across segments.

use crate::protocol::ErrorCode;

/// Longest channel name accepted, in bytes.
pub const MAX_CHANNEL_NAME_BYTES: usize = 200;

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_-.:@~=+,!$".contains(&b)
}

/// Check a channel name; `Err(BadChannel)` says why in the protocol's terms.
pub fn validate_name(name: &str) -> Result<(), ErrorCode> {
    let bytes = name.as_bytes();
    if bytes.len() > MAX_CHANNEL_NAME_BYTES || bytes.first() != Some(&b'/') {
        return Err(ErrorCode::BadChannel);
    }
    let mut segments = 0;
    // Bytes, not `str` slicing: the browser's wasm then needs none of the char-boundary
    // panic's formatting.
    for segment in bytes[1..].split(|b| *b == b'/') {
        if segment.is_empty() || !segment.iter().all(|b| is_name_byte(*b)) {
            return Err(ErrorCode::BadChannel);
        }
        segments += 1;
    }
    if segments < 2 {
        return Err(ErrorCode::BadChannel);
    }
    Ok(())
}

/// Check a pattern as it appears in a config file or a token's `channels` claim.
pub fn validate_pattern(pattern: &str) -> Result<(), String> {
    if !pattern.starts_with('/') {
        return Err(format!("pattern {pattern:?} must start with '/'"));
    }
    if pattern.len() > MAX_CHANNEL_NAME_BYTES * 2 {
        return Err(format!("pattern {pattern:?} is too long"));
    }
    if let Some(bad) = pattern.bytes().find(|&b| !(is_name_byte(b) || b == b'/' || b == b'*')) {
        return Err(format!("pattern {pattern:?} has the character {:?}", bad as char));
    }
    if pattern.contains("***") {
        return Err(format!("pattern {pattern:?} has '***'; use '*' or '**'"));
    }
    Ok(())
}

/// Does `name` match `pattern`? `*` stays within a segment, `**` crosses segments.
pub fn matches(pattern: &str, name: &str) -> bool {
    glob(pattern.as_bytes(), name.as_bytes())
}

fn glob(p: &[u8], n: &[u8]) -> bool {
    // Iterative with backtracking to the last star: linear in practice, never recursive
    // on peer input (names come from peers, patterns from the operator or a signed token).
    // Two restart points: the last `**`, and the last `*` after it. A `*` cannot take a
    // '/', so when it would have to, the `**` before it takes one more byte instead
    // (`/**/*` matches `/a/b/c`).
    let (mut pi, mut ni) = (0, 0);
    let mut single: Option<(usize, usize)> = None; // (pattern index after `*`, name index)
    let mut double: Option<(usize, usize)> = None; // (pattern index after `**`, name index)
    while ni < n.len() {
        if pi < p.len() && p[pi] == b'*' {
            if p.get(pi + 1) == Some(&b'*') {
                pi += 2;
                double = Some((pi, ni));
                single = None;
            } else {
                pi += 1;
                single = Some((pi, ni));
            }
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = single.filter(|&(_, sn)| n[sn] != b'/') {
            pi = sp;
            ni = sn + 1;
            single = Some((sp, sn + 1));
        } else if let Some((dp, dn)) = double {
            pi = dp;
            ni = dn + 1;
            double = Some((dp, dn + 1));
            single = None;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_look_like_prefix_rest() {
        for ok in ["/site/online", "/topic/123", "/doc/a-b_c.d/edit", "/chat/room:7"] {
            assert_eq!(validate_name(ok), Ok(()), "{ok}");
        }
        let long = format!("/a/{}", "x".repeat(MAX_CHANNEL_NAME_BYTES));
        for bad in [
            "",
            "site/online",
            "/site",
            "/",
            "//a",
            "/a//b",
            "/a/b/",
            "/a/b c",
            "/a/ü",
            "/a/*",
            long.as_str(),
        ] {
            assert_eq!(validate_name(bad), Err(ErrorCode::BadChannel), "{bad}");
        }
    }

    #[test]
    fn single_star_stays_within_a_segment() {
        assert!(matches("/topic/*", "/topic/12"));
        assert!(!matches("/topic/*", "/topic/12/replies"));
        assert!(matches("/topic/*/replies", "/topic/12/replies"));
        assert!(matches("/t*c/1", "/topic/1"));
        assert!(!matches("/topic/*", "/topics/1"));
    }

    #[test]
    fn double_star_crosses_segments() {
        assert!(matches("/**", "/a/b/c"));
        assert!(matches("/doc/**", "/doc/1/edit"));
        assert!(matches("/doc/**/edit", "/doc/1/2/edit"));
        assert!(!matches("/doc/**/edit", "/doc/1/2/view"));
        assert!(matches("/site/online", "/site/online"));
        assert!(matches("/**/*", "/a/b/c"));
        assert!(matches("/**/x/*", "/a/b/x/c"));
        assert!(!matches("/**/x/*", "/a/x/b/c"));
        assert!(!matches("/site/online", "/site/online2"));
    }

    #[test]
    fn patterns_are_checked() {
        assert!(validate_pattern("/chat/**").is_ok());
        assert!(validate_pattern("chat/**").is_err());
        assert!(validate_pattern("/chat/***").is_err());
        assert!(validate_pattern("/chat/ x").is_err());
    }
}
