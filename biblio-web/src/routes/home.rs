//! `/`: the home page with the search box. It calls nothing, so it shows even when the API is
//! down.

use askama::Template;
use axum::Router;
use axum::response::Html;
use axum::routing::get;

use super::shared::AppState;
use crate::error::Result;
use crate::session::Session;
use crate::views::{Layout, render};

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(home))
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomeView {
    layout: Layout,
}

#[tracing::instrument(level = "debug", skip_all)]
async fn home(session: Session) -> Result<Html<String>> {
    render(&HomeView {
        layout: Layout::new(&session, "Welcome"),
    })
}
