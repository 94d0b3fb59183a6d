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
async fn facet_links_show_their_counts_and_following_one_narrows_the_results() {
    let stack = spawn_stack().await;
    stack
        .book_of(
            "A Wizard of Earthsea",
            "Ursula K. Le Guin",
            "Fantasy",
            1,
            1968,
        )
        .await;
    stack
        .book_of(
            "The Tombs of Atuan",
            "Ursula K. Le Guin",
            "Fantasy",
            1,
            1971,
        )
        .await;
    stack
        .book_of(
            "The Left Hand of Darkness",
            "Ursula K. Le Guin",
            "Science Fiction",
            1,
            1969,
        )
        .await;
    stack
        .book_of("Dune", "Frank Herbert", "Science Fiction", 0, 1965)
        .await;
    stack
        .book_of(
            "Kindred",
            "Octavia E. Butler",
            "Science Fiction & Time",
            1,
            1979,
        )
        .await;
    let visitor = stack.visitor();

    let all = visitor.get("/books").await;
    assert_eq!(all.status, 200);
    assert!(
        all.body
            .contains("<h2 id=\"facets-heading\">Narrow your search</h2>")
    );
    for (facet, value, count) in [
        ("Subject", "Science Fiction", 2),
        ("Subject", "Fantasy", 2),
        ("Author", "Ursula K. Le Guin", 3),
        ("Decade", "1960s", 3),
        ("Decade", "1970s", 2),
    ] {
        assert!(
            all.body.contains(&format!(
                ">{value} <span class=\"count\">{count}<span class=\"visually-hidden\"> books</span>"
            )),
            "{facet} {value} with its count {count}:\n{}",
            all.body
        );
    }
    assert!(
        all.body
            .contains("href=\"/books?subject=Science+Fiction+%26+Time\""),
        "facet values are URL-encoded in their links"
    );

    // Following a facet narrows the results to its count, and shows the filter removable.
    let fiction = visitor.get(&all.link(">Science Fiction <span")).await;
    assert_eq!(fiction.status, 200);
    assert!(
        fiction.body.contains("2 books match your search."),
        "{}",
        fiction.body
    );
    assert!(fiction.body.contains("Dune") && fiction.body.contains("The Left Hand of Darkness"));
    assert!(!fiction.body.contains("Earthsea") && !fiction.body.contains("Kindred"));
    assert!(
        fiction
            .body
            .contains("Subject: <strong>Science Fiction</strong>")
    );
    assert!(
        fiction.body.contains(">Science Fiction <span class=\"count\">2<span class=\"visually-hidden\"> books, selected"),
        "the value in force is marked, not linked"
    );

    // Facets combine: a decade on top of the subject.
    let sixties = visitor.get(&fiction.link(">1960s <span")).await;
    assert!(sixties.body.contains("2 books match your search."));
    let le_guin = visitor.get(&fiction.link(">Ursula K. Le Guin <span")).await;
    assert!(le_guin.body.contains("1 book matches your search."));
    assert!(le_guin.body.contains("The Left Hand of Darkness"));
    assert!(
        le_guin
            .body
            .contains("Author: <strong>Ursula K. Le Guin</strong>")
    );

    // Removing one filter keeps the other.
    let remove_author = le_guin.link("aria-label=\"Remove the filter Author: ");
    assert!(!remove_author.contains("author="), "{remove_author}");
    let back = visitor.get(&remove_author).await;
    assert!(back.body.contains("2 books match your search."));

    // Facet links keep the words, the order and the availability filter.
    let kept = visitor.get("/books?q=the&sort=title&available=true").await;
    assert_eq!(kept.status, 200);
    let link = kept.link(">Fantasy <span");
    assert_eq!(
        link, "/books?q=the&subject=Fantasy&available=true&sort=title",
        "{}",
        kept.body
    );
    let decade = kept.link(">1960s <span");
    assert_eq!(
        decade,
        "/books?q=the&available=true&year_from=1960&year_to=1969&sort=title"
    );
    let narrowed = visitor.get(&decade).await;
    assert!(
        narrowed.body.contains("1 book matches your search."),
        "{}",
        narrowed.body
    );
    assert!(narrowed.body.contains("The Left Hand of Darkness"));
    assert!(narrowed.body.contains("Published: <strong>1960s</strong>"));
    assert!(
        narrowed
            .body
            .contains("<input type=\"hidden\" name=\"year_from\" value=\"1960\">"),
        "new words keep the decade"
    );
}

#[tokio::test]
async fn the_order_select_sorts_by_title_year_or_newest_and_keeps_the_filters() {
    let stack = spawn_stack().await;
    stack
        .book_of("Zebra Garden", "Ann Author", "Gardens", 1, 1950)
        .await;
    stack
        .book_of("Apple Garden", "Ann Author", "Gardens", 1, 2001)
        .await;
    stack
        .book_of("Mango Garden", "Ann Author", "Gardens", 1, 1980)
        .await;
    let visitor = stack.visitor();

    let default = visitor.get("/books?q=garden").await;
    assert!(default.body.contains("<select id=\"sort\" name=\"sort\">"));
    assert!(
        default
            .body
            .contains("<option value=\"\" selected>Best match</option>")
    );
    for (value, label) in [
        ("title", "Title A–Z"),
        ("year", "Newest published"),
        ("newest", "Recently added"),
    ] {
        assert!(
            default
                .body
                .contains(&format!("<option value=\"{value}\">{label}</option>")),
            "{value}: {}",
            default.body
        );
    }

    let by_title = visitor.get("/books?q=garden&sort=title").await;
    assert!(by_title.body.contains("<option value=\"title\" selected>"));
    assert!(
        by_title.in_order(&["Apple Garden", "Mango Garden", "Zebra Garden"]),
        "{}",
        by_title.body
    );
    let by_year = visitor.get("/books?q=garden&sort=year").await;
    assert!(by_year.in_order(&["Apple Garden", "Mango Garden", "Zebra Garden"]));
    let newest = visitor.get("/books?q=garden&sort=newest").await;
    assert!(newest.in_order(&["Mango Garden", "Apple Garden", "Zebra Garden"]));

    // The order survives the filters: a facet link, the form's other fields.
    assert_eq!(
        by_title.link(">Gardens <span"),
        "/books?q=garden&subject=Gardens&sort=title"
    );
    let unknown = visitor.get("/books?q=garden&sort=sideways").await;
    assert_eq!(unknown.status, 200, "an unknown order is the default one");
    assert!(
        unknown
            .body
            .contains("<option value=\"\" selected>Best match</option>")
    );
}

#[tokio::test]
async fn pages_are_numbered_with_the_current_one_marked_and_none_past_the_last() {
    let stack = spawn_stack().await;
    for i in 0..45 {
        stack
            .book(&format!("Numbered Volume {i:02}"), "Pat Pager", "Paging", 1)
            .await;
    }
    let visitor = stack.visitor();
    let second = visitor.get("/books?q=numbered&sort=title&page=2").await;
    assert_eq!(second.status, 200);
    assert_eq!(second.count("class=\"book-card\""), 20);
    assert_eq!(
        second.current_page_link().as_deref(),
        Some("/books?q=numbered&sort=title&page=2")
    );
    assert!(
        second
            .body
            .contains("aria-current=\"page\" aria-label=\"Page 2\">2</a>")
    );
    for page in [1, 3] {
        assert!(
            second.body.contains(&format!(
                "href=\"/books?q=numbered&#38;sort=title&#38;page={page}\" aria-label=\"Page {page}\">{page}</a>"
            )) || second.body.contains(&format!(
                "href=\"/books?q=numbered&amp;sort=title&amp;page={page}\" aria-label=\"Page {page}\">{page}</a>"
            )),
            "a link to page {page}:\n{}",
            second.body
        );
    }
    assert!(!second.body.contains("page=4"), "no page past the last");
    assert!(second.in_order(&["Numbered Volume 20", "Numbered Volume 39"]));
    assert!(!second.body.contains("Numbered Volume 19"));
    assert!(!second.body.contains("Numbered Volume 40"));

    let last = visitor.get(&second.link("aria-label=\"Page 3\"")).await;
    assert_eq!(last.count("class=\"book-card\""), 5);
    assert!(
        last.body
            .contains("aria-current=\"page\" aria-label=\"Page 3\"")
    );
    assert!(!last.body.contains("rel=\"next\""));

    // An old link past the last page: no book, links back to the last page, none beyond.
    let past = visitor.get("/books?q=numbered&page=9").await;
    assert_eq!(past.status, 200);
    assert!(!past.body.contains("aria-current=\"page\""));
    assert!(past.body.contains("page=3\" rel=\"prev\""), "{}", past.body);
    assert!(!past.body.contains("rel=\"next\""));
    assert!(!past.body.contains("page=4") && !past.body.contains("page=9"));
}

#[tokio::test]
async fn a_misspelt_search_offers_a_did_you_mean_link_that_finds_the_book() {
    let stack = spawn_stack().await;
    let dune = stack
        .book("Dune Messiah", "Frank Herbert", "Science Fiction", 1)
        .await;
    stack
        .book("A Wizard of Earthsea", "Ursula K. Le Guin", "Fantasy", 1)
        .await;
    let visitor = stack.visitor();

    let misspelt = visitor.get("/books?q=messiah+dume&available=true").await;
    assert_eq!(misspelt.status, 200);
    assert!(misspelt.body.contains("No books found"));
    assert!(
        misspelt
            .body
            .contains("<p class=\"did-you-mean\">Did you mean <a href="),
        "{}",
        misspelt.body
    );
    let corrected = misspelt.link(">messiah dune</a>");
    assert_eq!(corrected, "/books?q=messiah+dune&available=true");
    let found = visitor.get(&corrected).await;
    assert!(
        found.body.contains("1 book matches your search."),
        "{}",
        found.body
    );
    assert!(found.body.contains(&format!("href=\"/books/{dune}\"")));
    assert!(!found.body.contains("Did you mean"));

    let hopeless = visitor.get("/books?q=qwxzv").await;
    assert!(hopeless.body.contains("No books found"));
    assert!(
        !hopeless.body.contains("Did you mean"),
        "nothing close to offer"
    );
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

#[tokio::test]
async fn the_too_long_page_answers_414_in_the_webs_words_with_a_search_box() {
    let stack = spawn_stack().await;
    let page = stack.visitor().get("/errors/too-long").await;
    assert_eq!(page.status, 414);
    assert!(
        page.body.contains("<h1>Search too long</h1>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("action=\"/books\""));
    assert!(
        page.body.contains("href=\"/static/style.css\""),
        "a full page"
    );
}
