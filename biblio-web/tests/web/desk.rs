//! The librarian's desk: finding a member, their page (loans, reservations, history), lending
//! by book number or ISBN, returning and renewing there, the overdue list page by page, and
//! the account page's password change.

use crate::helpers::{MEMBER_PASSWORD, number_after, spawn_stack};

#[tokio::test]
async fn a_librarian_finds_members_by_name_or_email_and_long_searches_are_cut_politely() {
    let stack = spawn_stack().await;
    let (ada, ada_email) = stack.member("Ada Lovelace").await;
    stack.member("Grace Hopper").await;
    let librarian = stack.librarian_visitor().await;

    let found = librarian.get("/librarian/members?q=LOVEL").await;
    assert_eq!(found.status, 200);
    assert!(found.body.contains("1 member found."), "{}", found.body);
    assert!(found.body.contains(&format!(
        "<a href=\"/librarian/members/{ada}\">Ada Lovelace</a>"
    )));
    assert!(!found.body.contains("Grace Hopper"));
    assert!(
        found.body.contains("data-label=\"Email\""),
        "labelled cells"
    );

    let local_part = ada_email.split('@').next().expect("an address");
    let by_email = librarian
        .get(&format!("/librarian/members?q={}", &local_part[..12]))
        .await;
    assert!(by_email.body.contains("Ada Lovelace"), "{}", by_email.body);
    assert!(!by_email.body.contains("Grace Hopper"));

    let all = librarian.get("/librarian/members").await;
    assert!(all.body.contains("3 members."), "{}", all.body);

    let long = librarian
        .get(&format!("/librarian/members?q={}", "a".repeat(5_000)))
        .await;
    assert_eq!(long.status, 200, "{}", long.body);
    assert!(
        long.body
            .contains("Your search was too long: only its first 100 characters were used.")
    );
    assert!(
        !long.body.contains("must be at most"),
        "not the API's words"
    );
}

#[tokio::test]
async fn lending_at_the_desk_by_number_or_isbn_then_renewing_and_returning_there() {
    let stack = spawn_stack().await;
    let by_number = stack.book("Lent By Number", "A", "S", 2).await;
    let by_isbn = stack.book("Lent By Isbn", "A", "S", 2).await;
    let isbn: String = sqlx::query_scalar("SELECT isbn FROM books WHERE id = ?")
        .bind(by_isbn)
        .fetch_one(&stack.pool)
        .await
        .expect("the book");
    let (member, _) = stack.member("Desk Patron").await;
    let librarian = stack.librarian_visitor().await;
    let page_path = format!("/librarian/members/{member}");
    let lend = format!("/librarian/members/{member}/lend");

    let page = librarian.get(&page_path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<h1>Desk Patron</h1>"));
    assert!(page.body.contains("This member may borrow 10 more books"));
    assert!(
        page.body
            .contains("<label for=\"book\">Book number or ISBN</label>")
    );

    let lent = librarian
        .submit(&page_path, &lend, &[("book", &by_number.to_string())])
        .await;
    assert_eq!(lent.location(), Some(page_path.as_str()));
    let hyphenated = format!("{}-{}-{}", &isbn[..3], &isbn[3..9], &isbn[9..]);
    librarian
        .submit(&page_path, &lend, &[("book", &hyphenated)])
        .await;
    let page = librarian.get(&page_path).await;
    assert!(
        page.body
            .contains("Lent “Lent By Isbn” to Desk Patron, due back on "),
        "{}",
        page.body
    );
    assert!(page.body.contains("2 loans."));
    assert!(page.in_order(&["Current loans", "Lent By Number", "History"]));
    assert!(page.body.contains("This member may borrow 8 more books"));

    for (typed, said) in [
        (
            "9780000000002",
            "No book in the catalogue has the ISBN 9780000000002.",
        ),
        ("dune", "That is neither a book number nor an ISBN"),
        ("", "Enter the number or the ISBN of the book to lend."),
        ("99999", "No book in the catalogue has the number 99999."),
        (
            &by_number.to_string(),
            "Desk Patron has reached the loan limit",
        ),
    ] {
        if said.contains("loan limit") {
            // Eight more loans make ten.
            for n in 0..8 {
                let book = stack.book(&format!("Filler {n}"), "A", "S", 1).await;
                librarian
                    .submit(&page_path, &lend, &[("book", &book.to_string())])
                    .await;
            }
            let full = librarian.get(&page_path).await;
            assert!(full.body.contains("This member has 10 books on loan"));
            assert!(
                !full.body.contains("id=\"lend\""),
                "no Lend form at the limit"
            );
            let csrf = full.csrf();
            librarian
                .post(&lend, &[("csrf_token", csrf.as_str()), ("book", typed)])
                .await;
        } else {
            librarian
                .submit(&page_path, &lend, &[("book", typed)])
                .await;
        }
        let page = librarian.get(&page_path).await;
        assert!(page.body.contains(said), "{typed:?}: {}", page.body);
    }

    // Renew and return from the member's page, and come back to it.
    let page = librarian.get(&page_path).await;
    let loan = number_after(&page, "action=\"/loans/");
    let renewed = librarian
        .submit(
            &page_path,
            &format!("/loans/{loan}/renew"),
            &[("back", &page_path)],
        )
        .await;
    assert_eq!(renewed.location(), Some(page_path.as_str()));
    assert!(librarian.get(&page_path).await.body.contains("Renewed “"));
    let returned = librarian
        .submit(
            &page_path,
            &format!("/loans/{loan}/return"),
            &[("back", &page_path)],
        )
        .await;
    assert_eq!(returned.location(), Some(page_path.as_str()));
    let page = librarian.get(&page_path).await;
    assert!(page.body.contains("Returned. Thank you!"));
    assert!(page.body.contains("9 loans."), "{}", page.body);
    let history = &page.body[page.body.find("id=\"history\"").expect("history")..];
    assert!(history.contains("1 loan."), "{history}");
    assert!(history.contains("Returned "));
}

#[tokio::test]
async fn a_ready_reservation_is_lent_from_the_members_page() {
    let stack = spawn_stack().await;
    let book = stack.book("Set Aside", "A", "S", 1).await;
    let (borrower, _) = stack.member_visitor("First Borrower").await;
    let (reader, reader_id) = stack.member_visitor("Reserving Reader").await;
    borrower.borrow(book).await;
    reader.reserve(book).await;
    let librarian = stack.librarian_visitor().await;
    let page_path = format!("/librarian/members/{reader_id}");
    let page = librarian.get(&page_path).await;
    assert!(page.body.contains("1 reservation."), "{}", page.body);
    assert!(
        page.body
            .contains("Waiting: <span class=\"position\">next in line")
    );

    let loans = borrower.get("/loans").await;
    let loan = number_after(&loans, "action=\"/loans/");
    borrower
        .submit("/loans", &format!("/loans/{loan}/return"), &[])
        .await;
    let page = librarian.get(&page_path).await;
    assert!(page.body.contains(">Ready</strong>"), "{}", page.body);
    let lent = librarian
        .submit(
            &page_path,
            &format!("/librarian/members/{reader_id}/lend"),
            &[("book", &book.to_string())],
        )
        .await;
    assert_eq!(lent.location(), Some(page_path.as_str()));
    let page = librarian.get(&page_path).await;
    assert!(
        page.body.contains("Lent “Set Aside” to Reserving Reader"),
        "{}",
        page.body
    );
    assert!(page.body.contains("0 reservations."));
}

#[tokio::test]
async fn the_overdue_list_pages_through_every_overdue_loan_with_titles_and_names() {
    let stack = spawn_stack().await;
    let librarian = stack.librarian_visitor().await;
    let mut members = Vec::new();
    for m in 0..3 {
        let (id, _) = stack.member(&format!("Late Member {m}")).await;
        members.push(id);
    }
    // 25 overdue loans over three members (ten at most each).
    for n in 0..25 {
        let member = members[n / 10];
        let book = stack.book(&format!("Overdue Title {n}"), "A", "S", 1).await;
        librarian
            .submit(
                &format!("/librarian/members/{member}"),
                &format!("/librarian/members/{member}/lend"),
                &[("book", &book.to_string())],
            )
            .await;
    }
    for member in &members {
        stack.make_overdue(*member, 4).await;
    }
    let first = librarian.get("/librarian/overdue").await;
    assert_eq!(first.status, 200);
    assert!(first.body.contains("25 loans."), "{}", first.body);
    assert_eq!(first.count("<tr class=\"overdue\""), 20, "twenty a page");
    assert!(first.body.contains("Overdue Title"));
    // The longest overdue first: the first member's loans lead, the last one's are on page 2.
    assert!(first.body.contains(">Late Member 0</a>"));
    assert!(!first.body.contains(">Late Member 2</a>"));
    assert!(first.body.contains("(4 days overdue)"));
    assert!(
        !first.body.contains(">#"),
        "no bare numbers for books or members"
    );
    assert!(first.body.contains("data-label=\"Books\""));
    let second = librarian.get(&first.link("rel=\"next\"")).await;
    assert_eq!(second.count("<tr class=\"overdue\""), 5, "{}", second.body);
    assert!(second.body.contains("Page 2 of 2"));
    assert!(second.body.contains(">Late Member 2</a>"));

    // A return from the overdue list comes back to the same page.
    let loan = number_after(&second, "action=\"/loans/");
    let back = "/librarian/overdue?page=2";
    let returned = librarian
        .submit(back, &format!("/loans/{loan}/return"), &[("back", back)])
        .await;
    assert_eq!(returned.location(), Some(back));
    assert!(librarian.get(back).await.body.contains("24 loans."));
}

#[tokio::test]
async fn a_member_changes_their_password_on_the_account_page() {
    let stack = spawn_stack().await;
    let (_, email) = stack.member("Careful Member").await;
    let member = stack.visitor();
    member.log_in(&email, MEMBER_PASSWORD).await;
    let page = member.get("/account").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&email));
    assert!(page.body.contains("0 of 10"));
    assert!(page.body.contains("Up to 5 at a time"));

    let wrong = member
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", "not my password"),
                ("new_password", "a brand new password"),
                ("confirm_password", "a brand new password"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert!(
        wrong.body.contains("Is not your current password."),
        "{}",
        wrong.body
    );
    let mismatch = member
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", MEMBER_PASSWORD),
                ("new_password", "a brand new password"),
                ("confirm_password", "a different one"),
            ],
        )
        .await;
    assert_eq!(mismatch.status, 422);
    assert!(mismatch.body.contains("Does not match the new password."));
    let short = member
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", MEMBER_PASSWORD),
                ("new_password", "short"),
                ("confirm_password", "short"),
            ],
        )
        .await;
    assert_eq!(short.status, 422);
    assert!(
        short.body.contains("id=\"new_password-error\""),
        "{}",
        short.body
    );
    assert!(!short.body.contains("value=\"short\""), "never shown back");

    let changed = member
        .submit(
            "/account",
            "/account/password",
            &[
                ("current_password", MEMBER_PASSWORD),
                ("new_password", "a brand new password"),
                ("confirm_password", "a brand new password"),
            ],
        )
        .await;
    assert_eq!(changed.location(), Some("/account"), "{}", changed.body);
    assert!(
        member
            .get("/account")
            .await
            .body
            .contains("Your password is changed.")
    );
    assert_eq!(
        stack.visitor().log_in(&email, MEMBER_PASSWORD).await.status,
        401
    );
    assert_eq!(
        stack
            .visitor()
            .log_in(&email, "a brand new password")
            .await
            .status,
        303
    );
    let forged = member
        .post(
            "/account/password",
            &[("csrf_token", "forged"), ("new_password", "x")],
        )
        .await;
    assert_eq!(forged.status, 403);
}

/// Every form that changes something carries the session's CSRF token.
fn assert_post_forms_carry_the_token(page: &crate::helpers::Page, path: &str) {
    let posts = page.count("method=\"post\"");
    assert!(posts > 0, "{path}: no form to check");
    let token = format!("name=\"csrf_token\" value=\"{}\"", page.csrf());
    assert_eq!(
        page.count(&token),
        posts,
        "{path}: every POST form carries the token:\n{}",
        page.body
    );
}

#[tokio::test]
async fn every_new_form_carries_the_csrf_token_and_a_librarian_cancels_from_the_desk() {
    let stack = spawn_stack().await;
    let book = stack.book("Forms Everywhere", "A", "S", 1).await;
    let other = stack.book("Second Book", "A", "S", 1).await;
    let (reader, reader_id) = stack.member_visitor("Form Reader").await;
    let (borrower, _) = stack.member_visitor("Form Borrower").await;
    borrower.borrow(book).await;
    reader.borrow(other).await;
    let page = reader.get(&format!("/books/{book}")).await;
    assert_post_forms_carry_the_token(&page, "book page (Reserve)");
    reader.reserve(book).await;
    for path in ["/holds", "/loans", "/account", "/"] {
        let page = reader.get(path).await;
        assert_post_forms_carry_the_token(&page, path);
    }
    let librarian = stack.librarian_visitor().await;
    let desk = format!("/librarian/members/{reader_id}");
    for path in [
        desk.clone(),
        "/librarian/overdue".to_owned(),
        format!("/librarian/loans?member_id={reader_id}"),
        format!("/librarian/books/{book}/withdraw"),
    ] {
        let page = librarian.get(&path).await;
        assert_post_forms_carry_the_token(&page, &path);
    }

    // The librarian cancels the reader's reservation from the desk and comes back to it.
    let page = librarian.get(&desk).await;
    let hold = number_after(&page, "action=\"/holds/");
    let cancelled = librarian
        .submit(&desk, &format!("/holds/{hold}/cancel"), &[("back", &desk)])
        .await;
    assert_eq!(cancelled.location(), Some(desk.as_str()));
    let page = librarian.get(&desk).await;
    assert!(
        page.body
            .contains("The reservation of “Forms Everywhere” is cancelled."),
        "{}",
        page.body
    );
    assert!(page.body.contains("0 reservations."));
}
