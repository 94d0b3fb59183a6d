//! `/librarian/books/...`: adding, editing and withdrawing books (withdrawing asks first, on
//! a page of its own). A refused form comes back
//! with what was typed and the API's messages on the fields they name.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use common::error_body::FieldError;
use common::error_code;
use serde::Deserialize;

use crate::api::{ApiError, Book, BookInput};
use crate::error::{Result, capitalise};
use crate::messages::{Who, copies, refusal};
use crate::routes::shared::{AppState, IdPath, see_other};
use crate::session::{CsrfForm, FlashKind, Librarian, Session};
use crate::views::{Field, Layout, attach_errors, render};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/librarian/books/new", get(new_book))
        .route("/librarian/books", post(create_book))
        .route("/librarian/books/{id}/edit", get(edit_book))
        .route("/librarian/books/{id}", post(update_book))
        .route("/librarian/books/{id}/withdraw", get(confirm_withdraw))
        .route("/librarian/books/{id}/delete", post(delete_book))
}

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
    fn input(&self) -> std::result::Result<BookInput, Vec<FieldError>> {
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
                problems.push(FieldError::new(name, "must be a whole number"));
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

/// The book-form field a 409 belongs on, by its error code: a duplicate ISBN on the ISBN field,
/// too few copies on the copies field. Any other conflict goes at the top of the form.
const CONFLICT_FIELDS: [(&str, &str); 2] = [
    (error_code::DUPLICATE_ISBN, "isbn"),
    (error_code::COPIES_ON_LOAN, "copies_total"),
];

/// One book form page: which form it is (add or edit) and what was typed in it, everything
/// needed to show it again with messages.
struct BookPage {
    heading: String,
    /// Where the form posts.
    action: String,
    /// The submit button's label.
    submit: &'static str,
    /// The first word of the flash message once saved: "Added" or "Saved".
    done: &'static str,
    form: BookForm,
}

impl BookPage {
    /// The form that adds a book.
    fn add(form: BookForm) -> Self {
        Self {
            heading: "Add a book".into(),
            action: "/librarian/books".into(),
            submit: "Add the book",
            done: "Added",
            form,
        }
    }

    /// The form that edits book `id`.
    fn edit(id: u64, heading: String, form: BookForm) -> Self {
        Self {
            heading,
            action: format!("/librarian/books/{id}"),
            submit: "Save changes",
            done: "Saved",
            form,
        }
    }

    /// The form, with `errors` on their fields and `extra` (and any error that names no field)
    /// at the top.
    fn render(
        &self,
        session: &Session,
        errors: &[FieldError],
        extra: Option<String>,
    ) -> Result<Html<String>> {
        let mut fields = self.form.fields();
        let mut problems = attach_errors(&mut fields, errors);
        problems.extend(extra);
        render(&BookFormView {
            layout: Layout::new(session, self.heading.clone()),
            heading: self.heading.clone(),
            action: self.action.clone(),
            submit: self.submit,
            fields,
            problems,
        })
    }

    /// The form again, answered with `status`.
    fn refused(
        &self,
        session: &Session,
        status: StatusCode,
        errors: &[FieldError],
        extra: Option<String>,
    ) -> Result<Response> {
        Ok((status, self.render(session, errors, extra)?).into_response())
    }

    /// What to do with the API's answer to this form: the book's page, or the form again.
    fn after_save(
        &self,
        session: &Session,
        saved: std::result::Result<Book, ApiError>,
    ) -> Result<Response> {
        match saved {
            Ok(book) => {
                session.flash(
                    FlashKind::Success,
                    format!("{} “{}”.", self.done, book.title),
                );
                Ok(see_other(&format!("/books/{}", book.id)))
            }
            Err(ApiError::Invalid { fields, message }) => {
                let extra = fields.is_empty().then(|| capitalise(&message));
                self.refused(session, StatusCode::UNPROCESSABLE_ENTITY, &fields, extra)
            }
            Err(ApiError::Conflict(detail)) => {
                let field = CONFLICT_FIELDS
                    .iter()
                    .find(|(code, _)| *code == detail.code)
                    .map(|(_, field)| *field);
                let errors: Vec<_> = field
                    .map(|f| FieldError::new(f, detail.message.clone()))
                    .into_iter()
                    .collect();
                let extra = errors.is_empty().then(|| refusal(&detail.code, Who::You));
                self.refused(session, StatusCode::CONFLICT, &errors, extra)
            }
            Err(other) => Err(other.into()),
        }
    }
}

#[tracing::instrument(level = "debug", skip_all)]
async fn new_book(session: Session, Librarian(_): Librarian) -> Result<Html<String>> {
    BookPage::add(BookForm {
        copies_total: "1".into(),
        ..BookForm::default()
    })
    .render(&session, &[], None)
}

#[tracing::instrument(level = "debug", skip_all)]
async fn create_book(
    State(state): State<AppState>,
    session: Session,
    Librarian(user): Librarian,
    CsrfForm(form): CsrfForm<BookForm>,
) -> Result<Response> {
    let page = BookPage::add(form);
    let input = match page.form.input() {
        Ok(input) => input,
        Err(errors) => {
            return page.refused(&session, StatusCode::UNPROCESSABLE_ENTITY, &errors, None);
        }
    };
    let saved = state.api.create_book(&user.token, &input).await;
    page.after_save(&session, saved)
}

#[tracing::instrument(level = "debug", skip_all, fields(book_id = id))]
async fn edit_book(
    State(state): State<AppState>,
    session: Session,
    Librarian(_): Librarian,
    IdPath(id): IdPath,
) -> Result<Html<String>> {
    let book = state.api.book(id).await?;
    BookPage::edit(
        id,
        format!("Edit “{}”", book.title),
        BookForm::from_book(&book),
    )
    .render(&session, &[], None)
}

#[tracing::instrument(level = "debug", skip_all, fields(book_id = id))]
async fn update_book(
    State(state): State<AppState>,
    session: Session,
    Librarian(user): Librarian,
    IdPath(id): IdPath,
    CsrfForm(form): CsrfForm<BookForm>,
) -> Result<Response> {
    let page = BookPage::edit(id, "Edit the book".into(), form);
    let input = match page.form.input() {
        Ok(input) => input,
        Err(errors) => {
            return page.refused(&session, StatusCode::UNPROCESSABLE_ENTITY, &errors, None);
        }
    };
    let saved = state.api.replace_book(&user.token, id, &input).await;
    page.after_save(&session, saved)
}

#[derive(Template)]
#[template(path = "librarian/withdraw.html")]
struct WithdrawView {
    layout: Layout,
    book: Book,
    copies: String,
}

/// The step before withdrawing: what will go, and a button that says so.
#[tracing::instrument(level = "debug", skip_all, fields(book_id = id))]
async fn confirm_withdraw(
    State(state): State<AppState>,
    session: Session,
    Librarian(_): Librarian,
    IdPath(id): IdPath,
) -> Result<Html<String>> {
    let book = state.api.book(id).await?;
    render(&WithdrawView {
        layout: Layout::new(&session, format!("Withdraw “{}”?", book.title)),
        copies: copies(book.copies_available, book.copies_total),
        book,
    })
}

/// The confirmation form: `confirm=yes` comes only from the confirmation page's button.
#[derive(Deserialize)]
struct WithdrawForm {
    #[serde(default)]
    confirm: String,
}

#[tracing::instrument(level = "debug", skip_all, fields(book_id = id))]
async fn delete_book(
    State(state): State<AppState>,
    session: Session,
    Librarian(user): Librarian,
    IdPath(id): IdPath,
    CsrfForm(form): CsrfForm<WithdrawForm>,
) -> Result<Response> {
    if form.confirm != "yes" {
        return Ok(see_other(&format!("/librarian/books/{id}/withdraw")));
    }
    match state.api.delete_book(&user.token, id).await {
        Ok(()) => {
            session.flash(
                FlashKind::Success,
                "The book was withdrawn from the catalogue.",
            );
            Ok(see_other("/books"))
        }
        Err(ApiError::Conflict(detail)) => {
            session.flash(FlashKind::Error, refusal(&detail.code, Who::You));
            Ok(see_other(&format!("/books/{id}")))
        }
        Err(other) => Err(other.into()),
    }
}
