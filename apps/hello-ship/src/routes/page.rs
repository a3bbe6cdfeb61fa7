//! `GET /`, `/app.js` and `/style.css`: the browser chat page.
//!
//! The three files under `src/page/` are embedded in the binary, so the page
//! needs no build step and no static file directory. Every response carries a
//! Content-Security-Policy that allows scripts, styles and fetches from this
//! origin only, so model output that reached the DOM as markup could not run
//! script. The page itself only ever writes model output as text.

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};

use crate::server::response::{Body, full};

/// The policy on every page response. `script-src 'self'` without
/// `'unsafe-inline'` is why the page keeps its script in `/app.js`.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

const INDEX_HTML: Asset = Asset::new(
    include_str!("../page/index.html"),
    "text/html; charset=utf-8",
);
const APP_JS: Asset = Asset::new(
    include_str!("../page/app.js"),
    "text/javascript; charset=utf-8",
);
const STYLE_CSS: Asset = Asset::new(include_str!("../page/style.css"), "text/css; charset=utf-8");

/// `GET /`: the chat page.
pub(crate) fn index(request_headers: &HeaderMap) -> Response<Body> {
    INDEX_HTML.respond(request_headers)
}

/// `GET /app.js`: the page's script.
pub(crate) fn app_js(request_headers: &HeaderMap) -> Response<Body> {
    APP_JS.respond(request_headers)
}

/// `GET /style.css`: the page's stylesheet.
pub(crate) fn style_css(request_headers: &HeaderMap) -> Response<Body> {
    STYLE_CSS.respond(request_headers)
}

/// A file embedded in the binary, with the hash that becomes its `ETag`.
struct Asset {
    body: &'static str,
    content_type: &'static str,
    hash: u64,
}

impl Asset {
    const fn new(body: &'static str, content_type: &'static str) -> Self {
        Self {
            body,
            content_type,
            hash: fnv1a(body.as_bytes()),
        }
    }

    /// Builds a 200 with the file, or a 304 when `If-None-Match` names its
    /// `ETag`. `Cache-Control: no-cache` makes browsers revalidate every time,
    /// so a new binary's page is used at once.
    fn respond(&self, request_headers: &HeaderMap) -> Response<Body> {
        let etag = format!("\"{:016x}\"", self.hash);
        let not_modified = request_headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .any(|value| etag_matches(value, &etag));

        let mut response = if not_modified {
            let mut response = Response::new(full(""));
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response
        } else {
            let mut response = Response::new(full(self.body));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(self.content_type),
            );
            response
        };
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&etag) {
            headers.insert(header::ETAG, value);
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        response
    }
}

/// Checks whether an `If-None-Match` value names `etag`. The header uses weak
/// comparison, so a `W/` prefix still matches.
fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

/// Computes the 64-bit FNV-1a hash of `bytes`, at compile time for each
/// embedded file.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut index = 0;
    while index < bytes.len() {
        hash ^= bytes[index] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        index += 1;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_matching_is_weak() {
        let etag = "\"00ff\"";
        assert!(etag_matches("\"00ff\"", etag));
        assert!(etag_matches("W/\"00ff\"", etag));
        assert!(etag_matches("\"aaaa\", \"00ff\"", etag));
        assert!(etag_matches("*", etag));
        assert!(!etag_matches("\"aaaa\"", etag));
        assert!(!etag_matches("00ff", etag));
        assert!(!etag_matches("", etag));
    }

    #[test]
    fn fnv1a_matches_reference_values() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn page_has_no_inline_script_or_style() {
        let html = INDEX_HTML.body.to_ascii_lowercase();
        for (offset, _) in html.match_indices("<script") {
            let tag_end = html[offset..].find('>').expect("script tag is closed") + offset;
            assert!(
                html[offset..tag_end].contains(" src="),
                "inline <script> at byte {offset} is blocked by the CSP"
            );
            assert!(
                html[tag_end..].starts_with("></script>"),
                "<script> at byte {offset} has inline content"
            );
        }
        assert!(
            !html.contains(" style="),
            "style attributes are blocked by the CSP"
        );
        assert!(
            !html.contains("<style"),
            "<style> elements are blocked by the CSP"
        );
        for (offset, _) in html.match_indices(" on") {
            let name: String = html[offset + 3..]
                .chars()
                .take_while(char::is_ascii_alphabetic)
                .collect();
            let after = &html[offset + 3 + name.len()..];
            assert!(
                name.is_empty() || !after.starts_with('='),
                "inline handler on{name} at byte {offset} is blocked by the CSP"
            );
        }
        assert!(
            !html.contains("javascript:"),
            "javascript: URLs are blocked by the CSP"
        );
    }

    #[test]
    fn page_loads_only_its_own_files() {
        let html = INDEX_HTML.body;
        assert!(html.contains(r#"<script src="/app.js" defer></script>"#));
        assert!(html.contains(r#"<link rel="stylesheet" href="/style.css">"#));
        assert!(
            !html.contains("http://"),
            "the page loads nothing from another origin"
        );
        assert!(
            !html.contains("https://"),
            "the page loads nothing from another origin"
        );
    }
}
