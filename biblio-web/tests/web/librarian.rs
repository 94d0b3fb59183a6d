//! The librarians' pages: forms re-rendered with the API's per-field messages, members, loans,
//! overdue list and reports with SVG charts.

use crate::helpers::{MEMBER_PASSWORD, spawn_stack, unique_isbn};

#[tokio::test]
async fn adding_a_book_shows_the_apis_field_errors_next_to_the_inputs_and_keeps_the_input() {
    let stack = spawn_stack().await;
    let librarian = stack.librarian_visitor().await;
    let form = librarian.get("/librarian/books/new").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("<label for=\"isbn\">"));

    let rejected = librarian
        .submit(
            "/librarian/books/new",
            "/librarian/books",
            &[
                ("isbn", "978-0-00-000000-1"),
                ("title", "Kept <Title>"),
                ("authors", ""),
                ("copies_total", "-3"),
            ],
        )
        .await;
    assert_eq!(rejected.status, 422, "{}", rejected.body);
    assert!(
        rejected.body.contains("id=\"isbn-error\""),
        "{}",
        rejected.body
    );
    assert!(rejected.body.contains("id=\"authors-error\""));
    assert!(rejected.body.contains("id=\"copies_total-error\""));
    assert!(rejected.body.contains("aria-invalid=\"true\""));
    assert!(
        !rejected.body.contains("id=\"title-error\""),
        "the title was fine"
    );
    assert!(
        rejected.body.contains("value=\"978-0-00-000000-1\""),
        "input kept"
    );
    assert!(
        !rejected.body.contains("Kept <Title>"),
        "escaped when shown back"
    );
    assert!(rejected.body.contains("Kept &"));

    let not_a_number = librarian
        .submit(
            "/librarian/books/new",
            "/librarian/books",
            &[
                ("isbn", &unique_isbn()),
                ("title", "T"),
                ("authors", "A"),
                ("copies_total", "many"),
            ],
        )
        .await;
    assert_eq!(not_a_number.status, 422);
    assert!(not_a_number.body.contains("Must be a whole number."));

    let isbn = unique_isbn();
    let added = librarian
        .submit(
            "/librarian/books/new",
            "/librarian/books",
            &[
                ("isbn", &isbn),
                ("title", "Freshly Added"),
                ("authors", "First Author\nSecond Author"),
                ("publisher", "Pub"),
                ("year", "2001"),
                ("subjects", "Testing"),
                ("copies_total", "4"),
            ],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let location = added.location().expect("to the book").to_owned();
    let detail = librarian.get(&location).await;
    assert!(detail.body.contains("Added “Freshly Added”."));
    assert!(detail.body.contains("First Author, Second Author"));
    assert!(detail.body.contains("4 of 4 copies available"));

    let duplicate = librarian
        .submit(
            "/librarian/books/new",
            "/librarian/books",
            &[
                ("isbn", &isbn),
                ("title", "Again"),
                ("authors", "A"),
                ("copies_total", "1"),
            ],
        )
        .await;
    assert_eq!(duplicate.status, 409);
    assert!(duplicate.body.contains("id=\"isbn-error\""));
    assert!(duplicate.body.contains("already in the catalogue"));
}

#[tokio::test]
async fn a_librarian_edits_and_withdraws_a_book() {
    let stack = spawn_stack().await;
    let book = stack.book("Draft Title", "Editor", "Editing", 2).await;
    let librarian = stack.librarian_visitor().await;
    let edit = librarian
        .get(&format!("/librarian/books/{book}/edit"))
        .await;
    assert_eq!(edit.status, 200);
    assert!(edit.body.contains("value=\"Draft Title\""));
    let isbn_start = edit
        .body
        .find("name=\"isbn\" type=\"text\" value=\"")
        .expect("isbn input")
        + "name=\"isbn\" type=\"text\" value=\"".len();
    let isbn: String = edit.body[isbn_start..]
        .chars()
        .take_while(|c| *c != '"')
        .collect();
    let saved = librarian
        .submit(
            &format!("/librarian/books/{book}/edit"),
            &format!("/librarian/books/{book}"),
            &[
                ("isbn", &isbn),
                ("title", "Final Title"),
                ("authors", "Editor"),
                ("copies_total", "3"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let detail = librarian.get(&format!("/books/{book}")).await;
    assert!(detail.body.contains("<h1>Final Title</h1>"));
    assert!(detail.body.contains("3 of 3 copies available"));

    // Withdrawing asks first: the book page links to a confirmation page, no one-click form.
    assert!(!detail.body.contains("/delete\""), "{}", detail.body);
    let confirm_path = detail.link("Withdraw from the catalogue");
    assert_eq!(confirm_path, format!("/librarian/books/{book}/withdraw"));
    let confirm = librarian.get(&confirm_path).await;
    assert_eq!(confirm.status, 200);
    assert!(
        confirm.body.contains("Withdraw “Final Title”?"),
        "{}",
        confirm.body
    );
    assert!(confirm.body.contains("This cannot be undone."));
    assert!(confirm.body.contains("No, keep it"));

    // A POST without the confirmation (a forged or old one-click form) withdraws nothing.
    let unconfirmed = librarian
        .submit(
            &format!("/books/{book}"),
            &format!("/librarian/books/{book}/delete"),
            &[],
        )
        .await;
    assert_eq!(unconfirmed.status, 303);
    assert_eq!(unconfirmed.location(), Some(confirm_path.as_str()));
    assert_eq!(librarian.get(&format!("/books/{book}")).await.status, 200);

    let withdrawn = librarian
        .submit(
            &confirm_path,
            &format!("/librarian/books/{book}/delete"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(withdrawn.status, 303);
    assert_eq!(librarian.get(&format!("/books/{book}")).await.status, 404);
}

#[tokio::test]
async fn a_librarian_registers_a_member_who_can_then_log_in() {
    let stack = spawn_stack().await;
    let librarian = stack.librarian_visitor().await;
    let bad = librarian
        .submit(
            "/librarian/members/new",
            "/librarian/members",
            &[
                ("name", "New Reader"),
                ("email", "not-an-email"),
                ("password", "short"),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("id=\"email-error\""));
    assert!(bad.body.contains("id=\"password-error\""));
    assert!(bad.body.contains("value=\"New Reader\""));
    assert!(
        !bad.body.contains("value=\"short\""),
        "passwords are not shown back"
    );

    let email = format!("new{}@members.test", uuid::Uuid::new_v4().simple());
    let ok = librarian
        .submit(
            "/librarian/members/new",
            "/librarian/members",
            &[
                ("name", "New Reader"),
                ("email", &email),
                ("password", MEMBER_PASSWORD),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let list = librarian.get("/librarian/members").await;
    assert!(list.body.contains("can now log in"));
    assert!(list.body.contains(&email));

    let duplicate = librarian
        .submit(
            "/librarian/members/new",
            "/librarian/members",
            &[
                ("name", "Twin"),
                ("email", &email),
                ("password", MEMBER_PASSWORD),
                ("role", "member"),
            ],
        )
        .await;
    assert_eq!(duplicate.status, 409);
    assert!(duplicate.body.contains("already registered"));

    let reader = stack.visitor();
    assert_eq!(reader.log_in(&email, MEMBER_PASSWORD).await.status, 303);
}

#[tokio::test]
async fn librarians_see_all_loans_the_overdue_list_and_reports_as_svg_charts() {
    let stack = spawn_stack().await;
    let book = stack
        .book("Popular <Pick>", "Crowd Pleaser", "Hits", 3)
        .await;
    let (reader, member) = stack.member_visitor("Busy Reader").await;
    reader
        .submit(
            &format!("/books/{book}"),
            &format!("/books/{book}/borrow"),
            &[],
        )
        .await;
    sqlx::query("UPDATE loans SET due_at = NOW() - INTERVAL 5 DAY WHERE member_id = ?")
        .bind(member)
        .execute(&stack.pool)
        .await
        .expect("arranged");
    let librarian = stack.librarian_visitor().await;

    let loans = librarian
        .get(&format!("/librarian/loans?member_id={member}&status=all"))
        .await;
    assert_eq!(loans.status, 200);
    assert!(loans.body.contains("Popular &"), "{}", loans.body);
    assert!(
        loans.body.contains(&format!(
            "<a href=\"/librarian/members/{member}\">Busy Reader</a>"
        )),
        "the member by name, linked to their page"
    );
    let bad_filter = librarian.get("/librarian/loans?member_id=abc").await;
    assert_eq!(bad_filter.status, 200);
    assert!(
        bad_filter
            .body
            .contains("Member number must be a whole number.")
    );

    let overdue = librarian.get("/librarian/overdue").await;
    assert!(overdue.body.contains("Busy Reader"), "{}", overdue.body);
    assert!(overdue.body.contains("class=\"overdue\""));

    let reports = librarian.get("/librarian/reports").await;
    assert_eq!(reports.status, 200);
    assert_eq!(reports.count("<svg"), 2, "{}", reports.body);
    assert!(reports.body.contains("role=\"img\""));
    assert!(reports.body.contains("class=\"chart-bar\""));
    assert!(!reports.body.contains("<Pick>"), "chart labels are escaped");
    assert!(reports.body.contains("Busy Reader"));

    // The librarian takes the return from the all-loans page and comes back to it.
    let back = format!("/librarian/loans?member_id={member}&status=all");
    let start =
        loans.body.find("action=\"/loans/").expect("a return form") + "action=\"/loans/".len();
    let loan_id: String = loans.body[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let returned = librarian
        .submit(
            &back,
            &format!("/loans/{loan_id}/return"),
            &[("back", &back)],
        )
        .await;
    assert_eq!(returned.status, 303);
    assert_eq!(returned.location(), Some(back.as_str()));
    assert_eq!(stack.copies_available(book).await, 3);
}
