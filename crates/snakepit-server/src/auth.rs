//! Bearer-token authentication: the token, its constant-time check, the middleware that
//! guards every route but the open ones, and the dashboard's login (token → cookie).
//!
//! A request is let through when it carries `Authorization: Bearer TOKEN` or the
//! `snakepit_token` cookie that `POST /login` sets (HttpOnly, SameSite=Strict), so the
//! dashboard's page and its EventSource, which cannot send headers, use the same token.
//! Without a configured token every request is let through (the server then only listens on
//! loopback; see [`crate::ServerConfig`]).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// The cookie the dashboard's login sets.
pub const COOKIE: &str = "snakepit_token";

/// Routes anyone may call: liveness, readiness, the API description and the login form.
const OPEN: [&str; 4] = ["/healthz", "/readyz", "/openapi.json", "/login"];

/// The token requests must carry. Never printed by `Debug`.
#[derive(Clone, Default)]
pub struct Token(Option<Arc<str>>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Token(set)"
        } else {
            "Token(none)"
        })
    }
}

impl Token {
    /// No token: every request is let through.
    pub fn none() -> Self {
        Self(None)
    }

    /// A token; surrounding whitespace (a file's trailing newline) is trimmed. An empty
    /// token is no token.
    pub fn new(token: &str) -> Self {
        let token = token.trim();
        if token.is_empty() {
            Self(None)
        } else {
            Self(Some(Arc::from(token)))
        }
    }

    /// Whether a token is set.
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// Whether `candidate` is the token, compared in constant time (the length of the token
    /// is not secret).
    pub fn matches(&self, candidate: &str) -> bool {
        self.0
            .as_deref()
            .is_some_and(|token| bool::from(token.as_bytes().ct_eq(candidate.as_bytes())))
    }

    /// Whether the request's headers carry the token (or no token is needed).
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        if !self.is_set() {
            return true;
        }
        bearer(headers).is_some_and(|given| self.matches(given))
            || cookie(headers).is_some_and(|given| self.matches(given))
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE).then_some(value)
        })
}

/// The middleware: open routes pass; others need the token. The dashboard page answers an
/// unauthenticated browser with the login form instead of a JSON error.
pub async fn guard(State(token): State<Token>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if OPEN.contains(&path) || token.admits(request.headers()) {
        return next.run(request).await;
    }
    if path == "/" {
        return (StatusCode::UNAUTHORIZED, Html(LOGIN_PAGE)).into_response();
    }
    ApiError::unauthorized().into_response()
}

/// The login form the dashboard shows without a token.
const LOGIN_PAGE: &str = r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>snakepit — sign in</title></head><body style="font-family:sans-serif;margin:3em">
<h1>snakepit</h1><form method="post" action="/login">
<label>Token <input type="password" name="token" id="token" autofocus></label>
<button type="submit" id="sign-in">Sign in</button></form></body></html>"#;

/// `POST /login` with a form field `token`: sets the cookie and goes to the dashboard when
/// the token is right; 401 otherwise.
pub async fn login(State(token): State<Token>, body: String) -> Response {
    let given = body
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .map(form_decode)
        .unwrap_or_default();
    if !token.is_set() || !token.matches(&given) {
        return ApiError::unauthorized().into_response();
    }
    let cookie = format!("{COOKIE}={given}; HttpOnly; SameSite=Strict; Path=/");
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Decodes one `application/x-www-form-urlencoded` value.
fn form_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = value.get(index + 1..index + 3);
                match hex.and_then(|hex| u8::from_str_radix(hex, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        index += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_compared_exactly() {
        let token = Token::new("s3cret\n");
        assert!(token.matches("s3cret"));
        assert!(!token.matches("s3cre"));
        assert!(!token.matches("s3cret2"));
        assert!(!Token::none().matches(""));
        assert!(!Token::new("  ").is_set());
    }

    #[test]
    fn bearer_and_cookie_are_accepted() {
        let token = Token::new("abc");
        let mut headers = HeaderMap::new();
        assert!(!token.admits(&headers));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert!(token.admits(&headers));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abd"),
        );
        assert!(!token.admits(&headers));
        headers.remove(header::AUTHORIZATION);
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; snakepit_token=abc"),
        );
        assert!(token.admits(&headers));
        assert!(Token::none().admits(&HeaderMap::new()));
    }

    #[test]
    fn form_values_are_decoded() {
        assert_eq!(form_decode("a%2Bb+c"), "a+b c");
        assert_eq!(form_decode("100%"), "100%");
        assert_eq!(form_decode("%zz"), "%zz");
    }
}
