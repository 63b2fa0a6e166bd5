//! The web dashboard's files, embedded in the binary: the page, its stylesheet and its
//! hand-written ES modules, each with its content type and a validator (`ETag`), plus the
//! content security policy the page is written for.
//!
//! The crate knows no HTTP library: backend-api looks a path up with [`asset`] and answers with
//! the bytes and headers given here. Everything the page needs is in this table, so the
//! dashboard works offline and nothing is fetched from elsewhere at run time; the policy
//! ([`CONTENT_SECURITY_POLICY`]) makes the browser refuse anything else.
//!
//! Architecture invariant: no dependency at all (not even a workspace crate). The page talks
//! to the services only through `/api/v1`, like any other client.

/// One embedded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    /// The URL path it is served at (`/`, `/assets/app.js`, ...).
    pub path: &'static str,
    /// The file's bytes.
    pub body: &'static [u8],
    /// `Content-Type` header value.
    pub content_type: &'static str,
    /// Strong validator: a hash of the bytes in quotes, as `ETag` wants it.
    pub etag: &'static str,
}

/// `Content-Security-Policy` of every dashboard answer: scripts, styles, images and API calls
/// only from the serving origin; no inline script, no plugin, no framing. Images may be
/// `data:` URLs because none is needed from elsewhere but the browser's own form controls
/// use them.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// `Cache-Control` of every dashboard file: the URLs do not change with the content, so the
/// browser keeps a copy but revalidates it (a cheap 304 with the `ETag`), and a new binary is
/// never hidden behind an old cached script.
pub const CACHE_CONTROL: &str = "no-cache";

/// FNV-1a (64 bit): stable across builds and platforms, computed at compile time.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

/// `"` + 16 hex digits + `"`, built at compile time.
const fn etag_of(bytes: &[u8]) -> [u8; 18] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let h = fnv1a(bytes);
    let mut out = [b'"'; 18];
    let mut i = 0;
    while i < 16 {
        out[1 + i] = HEX[((h >> (60 - 4 * i)) & 0xf) as usize];
        i += 1;
    }
    out
}

macro_rules! assets {
    ($($path:literal => $file:literal, $ctype:literal;)*) => {
        /// Every file of the dashboard.
        pub const ASSETS: &[Asset] = &[$(
            Asset {
                path: $path,
                body: include_bytes!(concat!("../assets/", $file)),
                content_type: $ctype,
                etag: {
                    const TAG: [u8; 18] = etag_of(include_bytes!(concat!("../assets/", $file)));
                    match std::str::from_utf8(&TAG) {
                        Ok(s) => s,
                        Err(_) => panic!("an etag is ASCII"),
                    }
                },
            },
        )*];
    };
}

assets! {
    "/" => "index.html", "text/html; charset=utf-8";
    "/assets/style.css" => "style.css", "text/css; charset=utf-8";
    "/assets/app.js" => "app.js", "text/javascript; charset=utf-8";
    "/assets/api.js" => "api.js", "text/javascript; charset=utf-8";
    "/assets/pages.js" => "pages.js", "text/javascript; charset=utf-8";
    "/assets/dom.js" => "dom.js", "text/javascript; charset=utf-8";
    "/assets/favicon.svg" => "favicon.svg", "image/svg+xml";
}

/// The file served at `path`, if the dashboard has one (`/index.html` is `/`).
#[must_use]
pub fn asset(path: &str) -> Option<&'static Asset> {
    let path = if path == "/index.html" { "/" } else { path };
    ASSETS.iter().find(|a| a.path == path)
}

/// Whether a request's `If-None-Match` value names this asset's current version (a 304 answer).
#[must_use]
pub fn is_current(asset: &Asset, if_none_match: &str) -> bool {
    if_none_match.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == asset.etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_differ_per_file_and_are_quoted_hex() {
        let tags: std::collections::HashSet<_> = ASSETS.iter().map(|a| a.etag).collect();
        assert_eq!(tags.len(), ASSETS.len());
        for a in ASSETS {
            assert_eq!(a.etag.len(), 18);
            assert!(a.etag.starts_with('"') && a.etag.ends_with('"'));
            assert!(a.etag[1..17].bytes().all(|b| b.is_ascii_hexdigit()), "{}", a.etag);
        }
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn revalidation_matches_only_the_current_tag() {
        let a = asset("/").unwrap();
        assert!(is_current(a, a.etag));
        assert!(is_current(a, &format!("\"0000000000000000\", W/{}", a.etag)));
        assert!(!is_current(a, "\"0000000000000000\""));
        assert_eq!(asset("/index.html"), asset("/"));
        assert!(asset("/assets/nope.js").is_none());
    }
}
