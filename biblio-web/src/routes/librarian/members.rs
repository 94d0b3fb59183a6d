//! `/librarian/members`: the member list, searched by name or email, and the form that
//! registers a member. A member's own page (the desk) is [`super::desk`].

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use common::error_body::FieldError;
use serde::Deserialize;

use crate::api::{ApiError, Member, MemberInput, Paginated, Role};
use crate::error::{Result, capitalise};
use crate::messages::{count, cut, shortened, without_controls};
use crate::routes::shared::{AppState, page_number, see_other};
use crate::session::{CsrfForm, FlashKind, Librarian, Session};
use crate::views::{Field, Layout, Pager, attach_errors, query_string, render};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/librarian/members", get(members).post(create_member))
        .route("/librarian/members/new", get(new_member))
}

#[derive(Debug, Default, Deserialize)]
struct ListParams {
    q: Option<String>,
    page: Option<String>,
}

/// The longest member search the API takes, in characters.
const MAX_QUERY_CHARS: usize = 100;

/// Lists members, or those a search finds; the template names each one's [`Role`].
#[derive(Template)]
#[template(path = "librarian/members.html")]
struct MembersView {
    layout: Layout,
    q: String,
    members: Vec<Member>,
    total: u64,
    pager: Pager,
    notice: Option<String>,
}

impl MembersView {
    /// "1 member", "12 members" (found by the search, when there is one).
    fn total_text(&self) -> String {
        let members = count(self.total, "member", "members");
        if self.q.is_empty() {
            format!("{members}.")
        } else {
            format!("{members} found.")
        }
    }
}

#[tracing::instrument(level = "debug", skip_all)]
async fn members(
    State(state): State<AppState>,
    session: Session,
    Librarian(user): Librarian,
    Query(params): Query<ListParams>,
) -> Result<Html<String>> {
    let page = page_number(params.page.as_deref());
    let (q, cleaned) = without_controls(params.q.as_deref().unwrap_or("").trim());
    let (q, was_cut) = cut(&q, MAX_QUERY_CHARS);
    let notice = if was_cut {
        Some(shortened(MAX_QUERY_CHARS))
    } else if cleaned {
        Some("Characters that cannot be searched (such as tabs) were left out.".to_owned())
    } else {
        None
    };
    let found = match state.api.members(&user.token, &q, page).await {
        Ok(found) => found,
        Err(ApiError::Invalid { .. }) => Paginated::default(),
        Err(other) => return Err(other.into()),
    };
    let base = format!("/librarian/members?{}", query_string(&[("q", &q)]));
    render(&MembersView {
        layout: Layout::new(&session, "Members"),
        pager: Pager::new(base.trim_end_matches('?'), page, found.pages()),
        total: found.total,
        members: found.items,
        q,
        notice,
    })
}

#[derive(Template)]
#[template(path = "librarian/member_form.html")]
struct MemberFormView {
    layout: Layout,
    fields: Vec<Field>,
    role: String,
    role_error: Option<String>,
    problems: Vec<String>,
}

impl MemberFormView {
    fn has_field_errors(&self) -> bool {
        self.fields.iter().any(|f| f.error.is_some())
    }
}

/// The member form as submitted.
#[derive(Debug, Default, Deserialize)]
struct MemberForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: String,
}

impl MemberForm {
    /// The form with what was typed (never the password), `errors` on their fields and
    /// `extra` (and any error that names no field) at the top.
    fn render(
        &self,
        session: &Session,
        errors: &[FieldError],
        extra: Option<String>,
    ) -> Result<Html<String>> {
        let mut fields = vec![
            Field::new("name", "Name", "text")
                .value(&self.name)
                .required(),
            Field::new("email", "Email", "email")
                .value(&self.email)
                .required(),
            // A password is never shown back.
            Field::new("password", "Password", "password")
                .hint("At least 8 characters.")
                .required(),
            Field::new("role", "Role", "select"),
        ];
        let mut problems = attach_errors(&mut fields, errors);
        problems.extend(extra);
        let role_error = fields.pop().and_then(|f| f.error);
        render(&MemberFormView {
            layout: Layout::new(session, "Add a member"),
            fields,
            role: if self.role == "librarian" {
                "librarian".into()
            } else {
                "member".into()
            },
            role_error,
            problems,
        })
    }

    /// The API's input.
    fn input(&self) -> MemberInput {
        MemberInput {
            name: self.name.trim().to_owned(),
            email: self.email.trim().to_owned(),
            password: self.password.clone(),
            role: if self.role.is_empty() {
                "member".into()
            } else {
                self.role.clone()
            },
        }
    }
}

#[tracing::instrument(level = "debug", skip_all)]
async fn new_member(session: Session, Librarian(_): Librarian) -> Result<Html<String>> {
    MemberForm::default().render(&session, &[], None)
}

#[tracing::instrument(level = "debug", skip_all)]
async fn create_member(
    State(state): State<AppState>,
    session: Session,
    Librarian(user): Librarian,
    CsrfForm(form): CsrfForm<MemberForm>,
) -> Result<Response> {
    match state.api.create_member(&user.token, &form.input()).await {
        Ok(member) => {
            session.flash(
                FlashKind::Success,
                format!("{} ({}) can now log in.", member.name, member.email),
            );
            Ok(see_other("/librarian/members"))
        }
        Err(ApiError::Invalid { fields, message }) => {
            let extra = fields.is_empty().then(|| capitalise(&message));
            let page = form.render(&session, &fields, extra)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(ApiError::Conflict(detail)) => {
            let errors = vec![FieldError::new("email", detail.message)];
            let page = form.render(&session, &errors, None)?;
            Ok((StatusCode::CONFLICT, page).into_response())
        }
        Err(other) => Err(other.into()),
    }
}
