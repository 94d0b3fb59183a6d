//! The patron's circulation pages: reserving a book with no copy (queue, next due date),
//! My holds (place, ready until, Cancel), a copy set aside and collected, renewals and their
//! refusals, "due soon" marks, the loan limit said before clicking, the home page summary.

use crate::helpers::{number_after, spawn_stack};

#[tokio::test]
async fn a_member_reserves_a_book_with_no_copy_and_borrows_it_when_it_comes_back() {
    let stack = spawn_stack().await;
    let book = stack
        .book("The Word for World Is Forest", "Ursula K. Le Guin", "SF", 1)
        .await;
    let (holder, _) = stack.member_visitor("Borrowing Bea").await;
    let (first, _) = stack.member_visitor("Waiting Wanda").await;
    let (second, _) = stack.member_visitor("Patient Pat").await;
    assert_eq!(holder.borrow(book).await.status, 303);

    // The book page says who has it, when it is due back, and offers Reserve.
    let page = first.get(&format!("/books/{book}")).await;
    assert!(
        page.body.contains("The only copy is on loan"),
        "{}",
        page.body
    );
    assert!(page.body.contains("No one has reserved it yet."));
    assert!(page.body.contains("The next copy is due back on"));
    assert!(page.body.contains("id=\"reserve\""), "a Reserve button");
    assert!(!page.body.contains("id=\"borrow\""));
    assert!(
        page.body
            .contains("You may borrow 10 more books (up to 10 at a time)."),
        "the limit before clicking: {}",
        page.body
    );
    let mine = holder.get(&format!("/books/{book}")).await;
    assert!(
        mine.body.contains("You have this book, due "),
        "{}",
        mine.body
    );
    assert!(
        !mine.body.contains("id=\"reserve\""),
        "not for its borrower"
    );

    let reserved = first.reserve(book).await;
    assert_eq!(reserved.status, 303, "{}", reserved.body);
    assert_eq!(reserved.location(), Some("/holds"));
    let holds = first.get("/holds").await;
    assert!(
        holds
            .body
            .contains("Reserved “The Word for World Is Forest”. You are next in line."),
        "{}",
        holds.body
    );
    assert!(
        holds
            .body
            .contains("Waiting: <span class=\"position\">next in line")
    );
    assert!(holds.body.contains("data-label=\"Book\""), "labelled cells");
    let page = first.get(&format!("/books/{book}")).await;
    assert!(
        page.body
            .contains("You reserved this book: you are next in line.")
    );
    assert!(!page.body.contains("id=\"reserve\""), "not twice");

    assert_eq!(second.reserve(book).await.status, 303);
    assert!(
        second
            .get("/holds")
            .await
            .body
            .contains("You are 2nd in the queue.")
    );
    let public = stack.visitor().get(&format!("/books/{book}")).await;
    assert!(
        public.body.contains("2 readers are waiting for it."),
        "{}",
        public.body
    );
    assert!(public.body.contains("Log in to reserve this book"));

    // The copy comes back: set aside for the first in the queue, nobody else.
    let loans = holder.get("/loans").await;
    let loan = number_after(&loans, "action=\"/loans/");
    assert_eq!(
        holder
            .submit("/loans", &format!("/loans/{loan}/return"), &[])
            .await
            .status,
        303
    );
    let holds = first.get("/holds").await;
    assert!(holds.body.contains(">Ready</strong>"), "{}", holds.body);
    assert!(holds.body.contains("to collect by "));
    let home = first.get("/").await;
    assert!(home.body.contains("id=\"holds-ready\""), "{}", home.body);
    assert!(home.body.contains("The Word for World Is Forest"));
    let others = second.get(&format!("/books/{book}")).await;
    assert!(!others.body.contains("id=\"borrow\""), "{}", others.body);
    let grabbed = second.borrow(book).await;
    assert_eq!(grabbed.location(), Some(format!("/books/{book}").as_str()));
    let refused = second.get(&format!("/books/{book}")).await;
    assert!(
        refused.body.contains("It can be reserved instead."),
        "the web's sentence: {}",
        refused.body
    );

    let page = first.get(&format!("/books/{book}")).await;
    assert!(page.body.contains("A copy is set aside for you until "));
    assert!(page.body.contains("Borrow the copy set aside for you"));
    let borrowed = first.borrow(book).await;
    assert_eq!(borrowed.location(), Some("/loans"), "{}", borrowed.body);
    let all = first.get("/holds?status=all").await;
    assert!(all.body.contains("Collected"), "{}", all.body);
    assert!(first.get("/holds").await.body.contains("0 reservations."));
    assert!(
        second
            .get("/holds")
            .await
            .body
            .contains("Waiting: <span class=\"position\">next in line")
    );
}

#[tokio::test]
async fn a_member_cancels_a_reservation_with_the_forms_token_and_a_second_cancel_is_explained() {
    let stack = spawn_stack().await;
    let book = stack.book("Always Coming Home", "Le Guin", "SF", 1).await;
    let (holder, _) = stack.member_visitor("Holder").await;
    let (member, _) = stack.member_visitor("Changes Mind").await;
    holder.borrow(book).await;
    member.reserve(book).await;
    let holds = member.get("/holds").await;
    let hold = number_after(&holds, "action=\"/holds/");

    let forged = member
        .post(
            &format!("/holds/{hold}/cancel"),
            &[("csrf_token", "not-the-token")],
        )
        .await;
    assert_eq!(forged.status, 403);
    let cancelled = member
        .submit("/holds", &format!("/holds/{hold}/cancel"), &[])
        .await;
    assert_eq!(cancelled.location(), Some("/holds"));
    let after = member.get("/holds").await;
    assert!(
        after
            .body
            .contains("The reservation of “Always Coming Home” is cancelled."),
        "{}",
        after.body
    );
    assert!(after.body.contains("0 reservations."));
    let again = member
        .submit("/holds", &format!("/holds/{hold}/cancel"), &[])
        .await;
    assert_eq!(again.status, 303);
    let page = member.get("/holds?status=all").await;
    assert!(
        page.body.contains("This reservation is no longer active"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Cancelled"));
}

#[tokio::test]
async fn refused_reservations_are_explained_in_the_webs_words() {
    let stack = spawn_stack().await;
    let on_shelf = stack.book("On The Shelf", "A", "S", 2).await;
    let (member, _) = stack.member_visitor("Eager Reader").await;
    let (other, _) = stack.member_visitor("Other Reader").await;

    // A copy on the shelf: borrow it instead.
    assert_eq!(
        member.reserve(on_shelf).await.location(),
        Some(format!("/books/{on_shelf}").as_str())
    );
    let page = member.get(&format!("/books/{on_shelf}")).await;
    assert!(
        page.body
            .contains("A copy is on the shelf now: borrow it instead of reserving it."),
        "{}",
        page.body
    );

    // Already borrowed by this member.
    let single = stack.book("Single Copy", "A", "S", 1).await;
    member.borrow(single).await;
    member.reserve(single).await;
    let page = member.get(&format!("/books/{single}")).await;
    assert!(
        page.body.contains("You have this book on loan already."),
        "{}",
        page.body
    );

    // Past five active reservations.
    for n in 0..6 {
        let book = stack.book(&format!("Wanted {n}"), "A", "S", 1).await;
        other.borrow(book).await;
        let placed = member.reserve(book).await;
        if n < 5 {
            assert_eq!(placed.location(), Some("/holds"), "hold {n}");
        } else {
            assert_eq!(placed.location(), Some(format!("/books/{book}").as_str()));
            let page = member.get(&format!("/books/{book}")).await;
            assert!(
                page.body
                    .contains("You have as many active reservations as allowed"),
                "{}",
                page.body
            );
        }
    }
    for page in [
        member.get("/holds").await,
        member.get(&format!("/books/{single}")).await,
    ] {
        for code in [
            "hold_limit",
            "already_borrowed",
            "copy_available",
            "conflict",
        ] {
            assert!(!page.body.contains(code), "no API code or wording: {code}");
        }
    }
}

#[tokio::test]
async fn renewals_move_the_due_date_twice_at_most_and_never_past_a_waiting_reader() {
    let stack = spawn_stack().await;
    let book = stack.book("Renewable", "A", "S", 2).await;
    let wanted = stack.book("Wanted By Others", "A", "S", 1).await;
    let (member, id) = stack.member_visitor("Renewing Reader").await;
    let (waiting, _) = stack.member_visitor("Waiting Reader").await;
    member.borrow(book).await;

    // Due tomorrow: marked on My loans and on the home page.
    sqlx::query("UPDATE loans SET due_at = NOW() + INTERVAL 1 DAY WHERE member_id = ?")
        .bind(id)
        .execute(&stack.pool)
        .await
        .expect("arranged");
    let loans = member.get("/loans").await;
    assert!(loans.body.contains("class=\"due-soon\""), "{}", loans.body);
    assert!(loans.body.contains(">Due soon</strong>"));
    assert!(loans.body.contains("(due tomorrow)"));
    assert!(
        loans
            .body
            .contains("You may borrow 9 more books (up to 10 at a time).")
    );
    let home = member.get("/").await;
    assert!(home.body.contains("id=\"due-soon\""), "{}", home.body);
    assert!(home.body.contains("Renewable</a> — due tomorrow"));

    let loan = number_after(&loans, "action=\"/loans/");
    let renewed = member
        .submit("/loans", &format!("/loans/{loan}/renew"), &[])
        .await;
    assert_eq!(renewed.location(), Some("/loans"));
    let loans = member.get("/loans").await;
    assert!(
        loans.body.contains("Renewed “Renewable”: now due on "),
        "{}",
        loans.body
    );
    assert!(loans.body.contains("It can be renewed once more."));
    assert!(loans.body.contains("renewed once"));
    assert!(!loans.body.contains(">Due soon</strong>"), "14 days again");
    member
        .submit("/loans", &format!("/loans/{loan}/renew"), &[])
        .await;
    let loans = member.get("/loans").await;
    assert!(
        loans.body.contains("It cannot be renewed again."),
        "{}",
        loans.body
    );
    assert!(loans.body.contains("renewed 2 times"));
    assert!(!loans.body.contains("/renew\""), "no Renew button left");
    member
        .submit("/loans", &format!("/loans/{loan}/renew"), &[])
        .await;
    assert!(
        member
            .get("/loans")
            .await
            .body
            .contains("This loan cannot be renewed again: it has been renewed 2 times")
    );

    // Someone waits for the book: no renewal.
    member.borrow(wanted).await;
    waiting.reserve(wanted).await;
    let loans = member.get("/loans").await;
    let loan = number_after(&loans, "action=\"/loans/");
    member
        .submit("/loans", &format!("/loans/{loan}/renew"), &[])
        .await;
    let loans = member.get("/loans").await;
    assert!(
        loans
            .body
            .contains("This loan cannot be renewed: another reader is waiting"),
        "{}",
        loans.body
    );
}

#[tokio::test]
async fn the_loan_limit_is_said_before_clicking_and_borrow_disappears_at_it() {
    let stack = spawn_stack().await;
    let (member, _) = stack.member_visitor("Bookworm").await;
    let mut last = 0;
    for n in 0..10 {
        last = stack.book(&format!("Pile {n}"), "A", "S", 2).await;
        assert_eq!(member.borrow(last).await.location(), Some("/loans"));
    }
    let next = stack.book("One Too Many", "A", "S", 2).await;
    let page = member.get(&format!("/books/{next}")).await;
    assert!(
        page.body.contains(
            "You have 10 books on loan, the most allowed: a book must come back before another can be borrowed."
        ),
        "{}",
        page.body
    );
    assert!(!page.body.contains("id=\"borrow\""));
    let loans = member.get("/loans").await;
    assert!(loans.body.contains("You have 10 books on loan"));
    assert!(loans.body.contains("10 loans."));
    // Someone who still tries (an old page): the web's sentence, not the API's.
    let csrf = page.csrf();
    let tried = member
        .post(
            &format!("/books/{next}/borrow"),
            &[("csrf_token", csrf.as_str())],
        )
        .await;
    assert_eq!(tried.status, 303);
    let page = member.get(&format!("/books/{next}")).await;
    assert!(
        page.body.contains("You have reached the loan limit"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("would pass the limit"));
    let mine = member.get(&format!("/books/{last}")).await;
    assert!(mine.body.contains("You have this book, due "));
}

#[tokio::test]
async fn the_home_page_shows_new_arrivals_the_months_most_borrowed_and_an_empty_summary() {
    let stack = spawn_stack().await;
    let older = stack.book("Older Arrival", "A", "S", 2).await;
    let newer = stack.book("Newest Arrival", "A", "S", 2).await;
    let (member, _) = stack.member_visitor("Home Reader").await;
    member.borrow(older).await;

    let home = stack.visitor().get("/").await;
    assert_eq!(home.status, 200);
    assert!(
        home.body
            .contains("<h2 id=\"new-heading\">New arrivals</h2>")
    );
    assert!(
        home.in_order(&["Newest Arrival", "Older Arrival"]),
        "newest first: {}",
        home.body
    );
    assert!(home.body.contains(&format!("href=\"/books/{newer}\"")));
    assert!(
        home.body.contains("Most borrowed this month"),
        "{}",
        home.body
    );
    assert!(home.body.contains("1 loan<"), "singular: {}", home.body);
    assert!(
        !home.body.contains("id=\"summary\""),
        "no summary for visitors"
    );

    let mine = member.get("/").await;
    assert!(mine.body.contains("id=\"summary\""));
    assert!(
        mine.body.contains("Nothing needs your attention"),
        "{}",
        mine.body
    );
}
