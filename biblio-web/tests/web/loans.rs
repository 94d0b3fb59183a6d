//! Borrowing and returning through the pages: availability follows.

use crate::helpers::spawn_stack;

#[tokio::test]
async fn borrowing_and_returning_change_availability_and_my_loans() {
    let stack = spawn_stack().await;
    let book = stack
        .book("The Lathe of Heaven", "Ursula K. Le Guin", "Fiction", 2)
        .await;
    let (visitor, _) = stack.member_visitor("George Orr").await;

    let detail = visitor.get(&format!("/books/{book}")).await;
    assert!(detail.body.contains("2 of 2 copies available"));
    assert!(detail.body.contains("id=\"borrow\""), "a Borrow button");
    let borrowed = visitor
        .submit(
            &format!("/books/{book}"),
            &format!("/books/{book}/borrow"),
            &[],
        )
        .await;
    assert_eq!(borrowed.status, 303, "{}", borrowed.body);
    assert_eq!(borrowed.location(), Some("/loans"));
    assert_eq!(stack.copies_available(book).await, 1);

    let loans = visitor.get("/loans").await;
    assert_eq!(loans.status, 200);
    assert!(
        loans.body.contains("Borrowed. Please return it by"),
        "{}",
        loans.body
    );
    assert!(loans.body.contains("The Lathe of Heaven"));
    assert!(loans.body.contains("On loan"));
    assert_eq!(loans.count("/return\""), 1, "one Return button");
    assert_eq!(loans.count("/renew\""), 1, "one Renew button");
    let detail = visitor.get(&format!("/books/{book}")).await;
    assert!(detail.body.contains("1 of 2 copies available"));

    let start =
        loans.body.find("action=\"/loans/").expect("a return form") + "action=\"/loans/".len();
    let loan_id: String = loans.body[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let returned = visitor
        .submit("/loans", &format!("/loans/{loan_id}/return"), &[])
        .await;
    assert_eq!(returned.status, 303);
    assert_eq!(returned.location(), Some("/loans"));
    assert_eq!(stack.copies_available(book).await, 2);
    let after = visitor.get("/loans").await;
    assert!(after.body.contains("Returned. Thank you!"));
    assert!(
        after.body.contains("0 loans"),
        "nothing current: {}",
        after.body
    );
    let history = visitor.get("/loans?status=returned").await;
    assert!(history.body.contains("The Lathe of Heaven"));
    assert!(history.body.contains("Returned "), "with its return date");
    assert!(
        visitor
            .get(&format!("/books/{book}"))
            .await
            .body
            .contains("2 of 2 copies available")
    );

    // Returning twice: a message, not an error page.
    let again = visitor
        .submit("/loans", &format!("/loans/{loan_id}/return"), &[])
        .await;
    assert_eq!(again.status, 303);
    assert!(visitor.get("/loans").await.body.contains("flash-error"));
}

#[tokio::test]
async fn the_last_copy_goes_to_one_member_and_the_next_gets_a_message() {
    let stack = spawn_stack().await;
    let book = stack
        .book("Only One Copy", "Solo Writer", "Rarity", 1)
        .await;
    let (first, _) = stack.member_visitor("First Reader").await;
    let (second, _) = stack.member_visitor("Second Reader").await;
    // Both have the page open while the copy is on the shelf.
    let first_csrf = first.get(&format!("/books/{book}")).await.csrf();
    let second_csrf = second.get(&format!("/books/{book}")).await.csrf();
    let won = first
        .post(
            &format!("/books/{book}/borrow"),
            &[("csrf_token", first_csrf.as_str())],
        )
        .await;
    assert_eq!(won.location(), Some("/loans"));
    let lost = second
        .post(
            &format!("/books/{book}/borrow"),
            &[("csrf_token", second_csrf.as_str())],
        )
        .await;
    assert_eq!(lost.status, 303);
    assert_eq!(lost.location(), Some(format!("/books/{book}").as_str()));
    let page = second.get(&format!("/books/{book}")).await;
    assert!(page.body.contains("flash-error"), "{}", page.body);
    assert!(
        page.body.contains("The only copy is on loan"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("All 1 copies"));
    assert!(
        !page.body.contains("id=\"borrow\""),
        "no Borrow button without a copy"
    );
    assert_eq!(stack.copies_available(book).await, 0);
}

#[tokio::test]
async fn overdue_loans_are_marked_in_my_loans() {
    let stack = spawn_stack().await;
    let book = stack.book("Late Again", "Tardy Author", "Time", 1).await;
    let (visitor, member) = stack.member_visitor("Late Reader").await;
    visitor
        .submit(
            &format!("/books/{book}"),
            &format!("/books/{book}/borrow"),
            &[],
        )
        .await;
    sqlx::query("UPDATE loans SET due_at = NOW() - INTERVAL 3 DAY WHERE member_id = ?")
        .bind(member)
        .execute(&stack.pool)
        .await
        .expect("arranged");
    let page = visitor.get("/loans").await;
    assert!(page.body.contains("class=\"overdue\""), "{}", page.body);
    assert!(page.body.contains(">Overdue</strong>"));
    let overdue = visitor.get("/loans?status=overdue").await;
    assert!(overdue.body.contains("Late Again"));
    assert!(overdue.body.contains("aria-current=\"page\">Overdue"));
}
