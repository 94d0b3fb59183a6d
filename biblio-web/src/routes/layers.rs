//! The layers every page shares, as `routes::router` stacks them: the overload guard, the
//! request id handed on to the API client, the security headers, and [`pages`], which opens
//! the session cookie, writes it back when changed, and renders error pages and login
//! redirects with the visitor's navigation.

use askama::Template;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

use super::shared::AppState;
use crate::error::{AuthRedirect, ErrorPage, WebError};
use crate::session::{Flash, FlashKind, Session, SessionData, cookie_value, set_cookie};
use crate::views::Layout;

const EXPIRED: &str = "Your session has expired. Please log in again.";

/// No inline scripts or styles, nothing from elsewhere, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Serves at most `BIBLIO_WEB_MAX_IN_FLIGHT` pages at once; the next visitor gets the 503 page
/// with `Retry-After` at once instead of a queue that grows while the API is slow. Probes,
/// `/metrics` and the stylesheet are never refused.
pub async fn shed_overload(
    State(in_flight): State<std::sync::Arc<tokio::sync::Semaphore>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if matches!(path, "/healthz" | "/readyz" | "/metrics") || path.starts_with("/static/") {
        return next.run(request).await;
    }
    match in_flight.try_acquire_owned() {
        Ok(_permit) => next.run(request).await,
        Err(_) => WebError::Unavailable(anyhow::anyhow!(
            "more pages in flight than BIBLIO_WEB_MAX_IN_FLIGHT allows"
        ))
        .into_response(),
    }
}

/// API calls made for this request carry its request id (nginx's, or the one `observe` made).
pub async fn forward_request_id(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&common::http::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    common::client::with_request_id(id, next.run(request)).await
}

/// The policy headers on every answer, and `no-store` on pages that set no cache policy.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("text/html"));
    if is_html && !headers.contains_key(header::CACHE_CONTROL) {
        // Pages carry the visitor's name and CSRF token: never stored by shared caches.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorView {
    layout: Layout,
    status: u16,
    message: String,
}

/// Opens the session for the handler, then finishes the answer: error pages rendered with the
/// visitor's navigation, login redirects, and the session cookie when it changed.
pub async fn pages(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let opened = request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(cookie_value)
        .and_then(|value| state.sessions.open(value))
        .filter(|data| !state.revoked.is_revoked(&data.sid));
    // A session past the token's expiry ends here, without asking the API.
    let mut expired = false;
    let session = match opened {
        Some(mut data) => {
            expired = data
                .user
                .as_ref()
                .is_some_and(|u| u.expires_at <= chrono::Utc::now());
            if expired {
                data.user = None;
                data.flash = Some(Flash {
                    kind: FlashKind::Info,
                    message: EXPIRED.to_owned(),
                });
            }
            Session::new(data, expired)
        }
        None => Session::new(SessionData::fresh(), true),
    };
    let here = request
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    let is_get = request.method() == axum::http::Method::GET;
    request.extensions_mut().insert(session.clone());

    let mut response = next.run(request).await;

    if let Some(redirect) = response.extensions_mut().remove::<AuthRedirect>() {
        if redirect == AuthRedirect::SessionExpired || expired {
            session.expire();
            session.flash(FlashKind::Info, EXPIRED);
        } else {
            session.flash(FlashKind::Info, "Please log in to continue.");
        }
        // After login, come back to the page (GETs only: a POST cannot be replayed by a link).
        let next_page = if is_get { here.as_str() } else { "/" };
        let target = format!(
            "/login?{}",
            serde_urlencoded::to_string([("next", next_page)]).unwrap_or_default()
        );
        response = Redirect::to(&target).into_response();
    } else if let Some(page) = response.extensions_mut().remove::<ErrorPage>() {
        let view = ErrorView {
            layout: Layout::new(&session, page.title),
            status: page.status.as_u16(),
            message: page.message,
        };
        let body = view.render().unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot render the error page");
            "<!doctype html><title>Error</title><p>Something went wrong.</p>".to_owned()
        });
        let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
        response = (page.status, axum::response::Html(body)).into_response();
        if let Some(value) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }

    let (cookie, revoke) = session.to_write(&state.sessions);
    if let Some((sid, until)) = revoke {
        state.revoked.revoke(&sid, until);
    }
    if let Some(value) = cookie
        && let Ok(header_value) = HeaderValue::from_str(&set_cookie(&value, state.cookie_secure))
    {
        response
            .headers_mut()
            .append(header::SET_COOKIE, header_value);
    }
    response
}
