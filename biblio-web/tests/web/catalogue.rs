//! The public pages: home, catalogue search and pagination, book detail, escaping.

use crate::helpers::spawn_stack;

#[tokio::test]
async fn the_home_page_renders_a_labelled_search_box_and_a_local_stylesheet() {
    let stack = spawn_stack().await;
    let visitor = stack.visitor();
    let page = visitor.get("/").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<form method=\"get\" action=\"/books\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("<label for=\"home-q\">"));
    assert!(page.body.contains("href=\"/static/style.css\""));
    assert!(!page.body.contains("<script"), "no scripts at all");
    assert!(
        !page.body.contains("http://") && !page.body.contains("https://"),
        "nothing from elsewhere"
    );
    let csp = page.headers["content-security-policy"]
        .to_str()
        .expect("ascii");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(
        page.sets_cookie(),
        "a first visit gets a session for its forms"
    );
    let cookie = page.headers["set-cookie"].to_str().expect("ascii");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    let css = visitor.get("/static/style.css").await;
    assert_eq!(css.status, 200);
    assert!(
        css.headers["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/css")
    );
    assert!(css.body.contains(".book-card"));
}

#[tokio::test]
async fn the_catalogue_finds_books_by_words_author_subject_and_availability() {
    let stack = spawn_stack().await;
    let wizard = stack
        .book("A Wizard of Earthsea", "Ursula K. Le Guin", "Fantasy", 1)
        .await;
    stack
        .book(
            "The Left Hand of Darkness",
            "Ursula K. Le Guin",
            "Science Fiction",
            2,
        )
        .await;
    stack
        .book("Dune", "Frank Herbert", "Science Fiction", 0)
        .await;
    let visitor = stack.visitor();

    let page = visitor.get("/books?q=wizard").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("A Wizard of Earthsea"));
    assert!(!page.body.contains("Dune"));
    assert!(page.body.contains(&format!("href=\"/books/{wizard}\"")));
    assert!(
        page.body.contains("value=\"wizard\""),
        "the search box keeps the words"
    );

    let by_author = visitor.get("/books?author=Le+Guin").await;
    assert!(by_author.body.contains("A Wizard of Earthsea"));
    assert!(by_author.body.contains("The Left Hand of Darkness"));
    assert!(!by_author.body.contains("Dune"));

    let by_subject = visitor.get("/books?subject=Science+Fiction").await;
    assert!(by_subject.body.contains("Dune"));
    assert!(!by_subject.body.contains("Earthsea"));

    let on_shelf = visitor
        .get("/books?subject=Science+Fiction&available=true")
        .await;
    assert!(on_shelf.body.contains("The Left Hand of Darkness"));
    assert!(
        !on_shelf.body.contains("Dune"),
        "no copy of Dune is available"
    );
    assert!(on_shelf.body.contains("checked"), "the filter stays ticked");

    let nothing = visitor.get("/books?q=zzzzqqq").await;
    assert_eq!(nothing.status, 200);
    assert!(nothing.body.contains("No books found"));
}

#[tokio::test]
async fn the_catalogue_is_paginated_twenty_books_a_page() {
    let stack = spawn_stack().await;
    for i in 0..25 {
        stack
            .book(&format!("Paged Volume {i:02}"), "Pat Pager", "Paging", 1)
            .await;
    }
    let visitor = stack.visitor();
    let first = visitor.get("/books?q=paged").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.count("class=\"book-card\""), 20);
    assert!(first.body.contains("Page 1 of 2"));
    assert!(
        first.body.contains("page=2\" rel=\"next\""),
        "a link to page 2: {}",
        first.body
    );
    assert!(!first.body.contains("rel=\"prev\""));

    let second = visitor.get("/books?q=paged&page=2").await;
    assert_eq!(second.count("class=\"book-card\""), 5);
    assert!(second.body.contains("Page 2 of 2"));
    assert!(second.body.contains("rel=\"prev\""));
    assert!(!second.body.contains("rel=\"next\""));

    let nonsense = visitor.get("/books?q=paged&page=banana").await;
    assert_eq!(nonsense.status, 200, "a bad page number is page 1");
    assert!(nonsense.body.contains("Page 1 of 2"));
}

#[tokio::test]
async fn a_book_page_shows_availability_and_unknown_books_get_the_404_page() {
    let stack = spawn_stack().await;
    let book = stack
        .book("The Dispossessed", "Ursula K. Le Guin", "Utopia", 3)
        .await;
    let visitor = stack.visitor();
    let page = visitor.get(&format!("/books/{book}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<h1>The Dispossessed</h1>"));
    assert!(page.body.contains("3 of 3 copies available"));
    assert!(
        page.body.contains("Log in to borrow"),
        "visitors are invited to log in"
    );

    for path in ["/books/999999", "/books/not-a-number", "/no/such/page"] {
        let missing = visitor.get(path).await;
        assert_eq!(missing.status, 404, "{path}");
        assert!(
            missing.body.contains("<h1>Page not found</h1>"),
            "{path}: {}",
            missing.body
        );
        assert!(
            missing.body.contains("href=\"/static/style.css\""),
            "a full page, not a bare error"
        );
    }
}

#[tokio::test]
async fn a_title_with_markup_is_shown_as_text_everywhere() {
    let stack = spawn_stack().await;
    let book = stack
        .book(
            "<script>alert(1)</script>",
            "<b>Bold</b> Author",
            "\"quoted\" & more",
            1,
        )
        .await;
    let visitor = stack.visitor();
    for path in [format!("/books/{book}"), "/books?q=script".to_owned()] {
        let page = visitor.get(&path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(
            !page.body.contains("<script>alert(1)</script>"),
            "{path}: raw markup"
        );
        assert!(
            page.body
                .contains("&#60;script&#62;alert(1)&#60;/script&#62;")
                || page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path}: {}",
            page.body
        );
        assert!(!page.body.contains("<b>Bold</b>"), "{path}");
    }
}
