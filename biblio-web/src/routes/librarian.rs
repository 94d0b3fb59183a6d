//! `/librarian/...`: the librarians' pages — catalogue management, members, all loans, overdue
//! loans and reports. Every handler takes [`Librarian`]: members get the 403 page, visitors the
//! login page. The API checks the role again on every call.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use common::error_code;
use serde::Deserialize;

use super::loans::{LoanRow, STATUSES, rows, status_filter};
use super::shared::{AppState, IdPath, page_number, see_other};
use crate::api::{ApiError, Book, BookInput, Member, MemberInput, OverdueLoan, Role};
use crate::error::{Result, capitalise};
use crate::session::{CsrfForm, FlashKind, Librarian, Session};
use crate::views::{BarChart, Field, Layout, Pager, attach_errors, day, query_string, render};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/librarian", get(index))
        .route("/librarian/books/new", get(new_book))
        .route("/librarian/books", post(create_book))
        .route("/librarian/books/{id}/edit", get(edit_book))
        .route("/librarian/books/{id}", post(update_book))
        .route("/librarian/books/{id}/delete", post(delete_book))
        .route("/librarian/members", get(members).post(create_member))
        .route("/librarian/members/new", get(new_member))
        .route("/librarian/loans", get(loans))
        .route("/librarian/overdue", get(overdue))
        .route("/librarian/reports", get(reports))
}

#[derive(Template)]
#[template(path = "librarian/index.html")]
struct IndexView {
    layout: Layout,
}

#[tracing::instrument(skip_all)]
async fn index(session: Session, Librarian(_): Librarian) -> Result<Html<String>> {
    render(&IndexView {
        layout: Layout::new(&session, "Librarian"),
    })
}

// ---- books -------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "librarian/book_form.html")]
struct BookFormView {
    layout: Layout,
    heading: String,
    action: String,
    submit: &'static str,
    fields: Vec<Field>,
    problems: Vec<String>,
}

impl BookFormView {
    fn has_field_errors(&self) -> bool {
        self.fields.iter().any(|f| f.error.is_some())
    }
}

/// The book form as submitted (every field as text, so it can be shown back unchanged).
#[derive(Debug, Default, Deserialize)]
struct BookForm {
    #[serde(default)]
    isbn: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    authors: String,
    #[serde(default)]
    publisher: String,
    #[serde(default)]
    year: String,
    #[serde(default)]
    subjects: String,
    #[serde(default)]
    copies_total: String,
}

impl BookForm {
    fn from_book(book: &Book) -> Self {
        Self {
            isbn: book.isbn.clone(),
            title: book.title.clone(),
            authors: book.authors.join("\n"),
            publisher: book.publisher.clone().unwrap_or_default(),
            year: book.year.map(|y| y.to_string()).unwrap_or_default(),
            subjects: book.subjects.join("\n"),
            copies_total: book.copies_total.to_string(),
        }
    }

    fn fields(&self) -> Vec<Field> {
        vec![
            Field::new("isbn", "ISBN", "text")
                .value(&self.isbn)
                .hint("ISBN-13 or ISBN-10, with or without hyphens.")
                .required(),
            Field::new("title", "Title", "text")
                .value(&self.title)
                .required(),
            Field::new("authors", "Authors", "textarea")
                .value(&self.authors)
                .hint("One author per line.")
                .required(),
            Field::new("publisher", "Publisher", "text").value(&self.publisher),
            Field::new("year", "Year", "number").value(&self.year),
            Field::new("subjects", "Subjects", "textarea")
                .value(&self.subjects)
                .hint("One subject per line."),
            Field::new("copies_total", "Copies", "number")
                .value(&self.copies_total)
                .required(),
        ]
    }

    /// The API's input, or the fields that are not even numbers.
    fn input(&self) -> Result<BookInput, Vec<common::error_body::FieldError>> {
        let lines = |text: &str| -> Vec<String> {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let mut problems = Vec::new();
        let mut number = |name: &str, raw: &str| -> Option<i64> {
            let raw = raw.trim();
            if raw.is_empty() {
                return None;
            }
            raw.parse::<i64>().ok().or_else(|| {
                problems.push(common::error_body::FieldError::new(
                    name,
                    "must be a whole number",
                ));
                None
            })
        };
        let year = number("year", &self.year);
        let copies_total = number("copies_total", &self.copies_total);
        if !problems.is_empty() {
            return Err(problems);
        }
        let publisher = self.publisher.trim();
        Ok(BookInput {
            isbn: self.isbn.trim().to_owned(),
            title: self.title.trim().to_owned(),
            authors: lines(&self.authors),
            publisher: (!publisher.is_empty()).then(|| publisher.to_owned()),
            year,
            subjects: lines(&self.subjects),
            copies_total,
        })
    }
}

fn book_form(
    session: &Session,
    heading: String,
    action: String,
    submit: &'static str,
    form: &BookForm,
    errors: &[common::error_body::FieldError],
    extra: Option<String>,
) -> Result<Html<String>> {
    let mut fields = form.fields();
    let mut problems = attach_errors(&mut fields, errors);
    problems.extend(extra);
    render(&BookFormView {
        layout: Layout::new(session, heading.clone()),
        heading,
        action,
        submit,
        fields,
        problems,
    })
}

#[tracing::instrument(skip_all)]
async fn new_book(session: Session, Librarian(_): Librarian) -> Result<Html<String>> {
    book_form(
        &session,
        "Add a book".into(),
        "/librarian/books".into(),
        "Add the book",
        &BookForm {
            copies_total: "1".into(),
            ..BookForm::default()
        },
        &[],
        None,
    )
}

/// The book-form field a 409 belongs on, by its error code: a duplicate ISBN on the ISBN field,
/// too few copies on the copies field. Any other conflict goes at the top of the form.
const CONFLICT_FIELDS: [(&str, &str); 2] = [
    (error_code::DUPLICATE_ISBN, "isbn"),
    (error_code::COPIES_ON_LOAN, "copies_total"),
];

/// What to do with the API's answer to a book form: the page to go to, or the form again.
fn after_book_save(
    session: &Session,
    saved: Result<Book, ApiError>,
    form: &BookForm,
    heading: String,
    action: String,
    submit: &'static str,
    done: &str,
) -> Result<Response> {
    match saved {
        Ok(book) => {
            session.flash(FlashKind::Success, format!("{} “{}”.", done, book.title));
            Ok(see_other(&format!("/books/{}", book.id)))
        }
        Err(ApiError::Invalid { fields, message }) => {
            let extra = fields.is_empty().then(|| capitalise(&message));
            let page = book_form(session, heading, action, submit, form, &fields, extra)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(ApiError::Conflict(detail)) => {
            let field = CONFLICT_FIELDS
                .iter()
                .find(|(code, _)| *code == detail.code)
                .map(|(_, field)| *field);
            let errors: Vec<_> = field
                .map(|f| common::error_body::FieldError::new(f, detail.message.clone()))
                .into_iter()
                .collect();
            let extra = errors.is_empty().then(|| capitalise(&detail.message));
            let page = book_form(session, heading, action, submit, form, &errors, extra)?;
            Ok((StatusCode::CONFLICT, page).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

#[tracing::instrument(skip_all)]
async fn create_book(
    State(state): State<AppState>,
    session: Session,
    Librarian(user): Librarian,
    CsrfForm(form): CsrfForm<BookForm>,
) -> Result<Response> {
    let heading = "Add a book".to_owned();
    let action = "/librarian/books".to_owned();
    let input = match form.input() {
        Ok(input) => input,
        Err(errors) => {
            let page = book_form(
                &session,
                heading,
                action,
                "Add the book",
                &form,
                &errors,
                None,
            )?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let saved = state.api.create_book(&user.token, &input).await;
    after_book_save(
        &session,
        saved,
        &form,
        heading,
        action,
        "Add the book",
        "Added",
    )
}

#[tracing::instrument(skip_all, fields(book_id = id))]
async fn edit_book(
    State(state): State<AppState>,
    session: Session,
    Librarian(_): Librarian,
    IdPath(id): IdPath,
) -> Result<Html<String>> {
    let book = state.api.book(id).await?;
    book_form(
        &session,
        format!("Edit “{}”", book.title),
        format!("/librarian/books/{id}"),
        "Save changes",
        &BookForm::from_book(&book),
        &[],
        None,
    )
}

#[tracing::instrument(skip_all, fields(book_id = id))]
async fn update_book(
    State(state): State<AppState>,
    session: Session,
    Librarian(user): Librarian,
    IdPath(id): IdPath,
    CsrfForm(form): CsrfForm<BookForm>,
) -> Result<Response> {
    let heading = "Edit the book".to_owned();
    let action = format!("/librarian/books/{id}");
    let input = match form.input() {
        Ok(input) => input,
        Err(errors) => {
            let page = book_form(
                &session,
                heading,
                action,
                "Save changes",
                &form,
                &errors,
                None,
            )?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let saved = state.api.replace_book(&user.token, id, &input).await;
    after_book_save(
        &session,
        saved,
        &form,
        heading,
        action,
        "Save changes",
        "Saved",
    )
}

#[derive(Deserialize)]
struct Empty {}

#[tracing::instrument(skip_all, fields(book_id = id))]
async fn delete_book(
    State(state): State<AppState>,
    session: Session,
    Librarian(user): Librarian,
    IdPath(id): IdPath,
    CsrfForm(_): CsrfForm<Empty>,
) -> Result<Response> {
    match state.api.delete_book(&user.token, id).await {
        Ok(()) => {
            session.flash(
                FlashKind::Success,
                "The book was withdrawn from the catalogue.",
            );
            Ok(see_other("/books"))
        }
        Err(ApiError::Conflict(detail)) => {
            session.flash(FlashKind::Error, capitalise(&detail.message));
            Ok(see_other(&format!("/books/{id}")))
        }
        Err(other) => Err(other.into()),
    }
}

// ---- members -----------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct PageParam {
    page: Option<String>,
}

#[derive(Template)]
#[template(path = "librarian/members.html")]
struct MembersView {
    layout: Layout,
    members: Vec<Member>,
    total: u64,
    pager: Pager,
}

#[tracing::instrument(skip_all)]
async fn members(
    State(state): State<AppState>,
    session: Session,
    Librarian(user): Librarian,
    Query(params): Query<PageParam>,
) -> Result<Html<String>> {
    let page = page_number(params.page.as_deref());
    let found = state.api.members(&user.token, page).await?;
    render(&MembersView {
        layout: Layout::new(&session, "Members"),
        pager: Pager::new("/librarian/members", page, found.pages()),
        total: found.total,
        members: found.items,
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

fn member_form(
    session: &Session,
    form: &MemberForm,
    errors: &[common::error_body::FieldError],
    extra: Option<String>,
) -> Result<Html<String>> {
    let mut fields = vec![
        Field::new("name", "Name", "text")
            .value(&form.name)
            .required(),
        Field::new("email", "Email", "email")
            .value(&form.email)
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
        role: if form.role == "librarian" {
            "librarian".into()
        } else {
            "member".into()
        },
        role_error,
        problems,
    })
}

#[tracing::instrument(skip_all)]
async fn new_member(session: Session, Librarian(_): Librarian) -> Result<Html<String>> {
    member_form(&session, &MemberForm::default(), &[], None)
}

#[tracing::instrument(skip_all)]
async fn create_member(
    State(state): State<AppState>,
    session: Session,
    Librarian(user): Librarian,
    CsrfForm(form): CsrfForm<MemberForm>,
) -> Result<Response> {
    let input = MemberInput {
        name: form.name.trim().to_owned(),
        email: form.email.trim().to_owned(),
        password: form.password.clone(),
        role: if form.role.is_empty() {
            "member".into()
        } else {
            form.role.clone()
        },
    };
    match state.api.create_member(&user.token, &input).await {
        Ok(member) => {
            session.flash(
                FlashKind::Success,
                format!("{} ({}) can now log in.", member.name, member.email),
            );
            Ok(see_other("/librarian/members"))
        }
        Err(ApiError::Invalid { fields, message }) => {
            let extra = fields.is_empty().then(|| capitalise(&message));
            let page = member_form(&session, &form, &fields, extra)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(ApiError::Conflict(detail)) => {
            let errors = vec![common::error_body::FieldError::new("email", detail.message)];
            let page = member_form(&session, &form, &errors, None)?;
            Ok((StatusCode::CONFLICT, page).into_response())
        }
        Err(other) => Err(other.into()),
    }
}

// ---- loans -------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct LoanParams {
    member_id: Option<String>,
    status: Option<String>,
    page: Option<String>,
}

#[derive(Template)]
#[template(path = "librarian/loans.html")]
struct LoansView {
    layout: Layout,
    member_id: String,
    status: &'static str,
    statuses: &'static [(&'static str, &'static str)],
    loans: Vec<LoanRow>,
    total: u64,
    pager: Pager,
    back: String,
    problem: Option<String>,
}

impl LoansView {
    fn show_member(&self) -> bool {
        true
    }

    fn back_link(&self) -> &str {
        &self.back
    }
}

#[tracing::instrument(skip_all)]
async fn loans(
    State(state): State<AppState>,
    session: Session,
    Librarian(user): Librarian,
    Query(params): Query<LoanParams>,
) -> Result<Html<String>> {
    let status = status_filter(params.status.as_deref());
    let page = page_number(params.page.as_deref());
    let raw_member = params.member_id.unwrap_or_default().trim().to_owned();
    let (member_id, problem) = if raw_member.is_empty() {
        (None, None)
    } else {
        match raw_member.parse::<u64>() {
            Ok(id) if id > 0 => (Some(id), None),
            _ => (
                None,
                Some("Member number must be a whole number.".to_owned()),
            ),
        }
    };
    let base = format!(
        "/librarian/loans?{}",
        query_string(&[("member_id", &raw_member), ("status", status)])
    );
    let (items, total, pages) = if problem.is_some() {
        (Vec::new(), 0, 1)
    } else {
        let found = state
            .api
            .loans(
                &user.token,
                member_id,
                if status == "all" { "" } else { status },
                page,
            )
            .await?;
        let pages = found.pages();
        (found.items, found.total, pages)
    };
    let loans = rows(&state.api, items).await?;
    render(&LoansView {
        layout: Layout::new(&session, "All loans"),
        back: format!("{base}&page={page}"),
        pager: Pager::new(&base, page, pages),
        member_id: raw_member,
        status,
        statuses: STATUSES,
        loans,
        total,
        problem,
    })
}

#[derive(Template)]
#[template(path = "librarian/overdue.html")]
struct OverdueView {
    layout: Layout,
    loans: Vec<OverdueLoan>,
    generated_at: String,
}

#[tracing::instrument(skip_all)]
async fn overdue(
    State(state): State<AppState>,
    session: Session,
    Librarian(user): Librarian,
) -> Result<Html<String>> {
    let report = state.api.overdue(&user.token, 100).await?;
    render(&OverdueView {
        layout: Layout::new(&session, "Overdue loans"),
        generated_at: report
            .generated_at
            .format("%-d %b %Y %H:%M UTC")
            .to_string(),
        loans: report.items,
    })
}

impl OverdueLoan {
    pub fn due_day(&self) -> String {
        day(&self.due_at)
    }
}

// ---- reports -----------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "librarian/reports.html")]
struct ReportsView {
    layout: Layout,
    books: BarChart,
    members: BarChart,
    generated_at: String,
}

#[tracing::instrument(skip_all)]
async fn reports(
    State(state): State<AppState>,
    session: Session,
    Librarian(_): Librarian,
) -> Result<Html<String>> {
    let (books, members) = tokio::join!(state.api.top_books(10), state.api.top_members(10));
    let (books, members) = (books?, members?);
    render(&ReportsView {
        layout: Layout::new(&session, "Reports"),
        generated_at: books.generated_at.format("%-d %b %Y %H:%M UTC").to_string(),
        books: BarChart::new(
            "top-books",
            "Most borrowed books",
            "Number of loans of each of the ten most borrowed books.",
            books
                .items
                .into_iter()
                .map(|b| (b.title, b.loans))
                .collect(),
        ),
        members: BarChart::new(
            "top-members",
            "Most active members",
            "Number of books borrowed by each of the ten most active members.",
            members
                .items
                .into_iter()
                .map(|m| (m.name, m.books_borrowed))
                .collect(),
        ),
    })
}
