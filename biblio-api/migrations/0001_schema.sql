-- Biblio schema. Written in the dialect MySQL 8.4 and MariaDB 10.11 share.
-- The invariants live here as well as in Rust: CHECK constraints are the last line of defence
-- against any code path (or person with a SQL prompt) that forgets a rule.

CREATE TABLE members (
    id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    name           VARCHAR(200)    NOT NULL,
    email          VARCHAR(254)    NOT NULL,
    role           VARCHAR(16)     NOT NULL DEFAULT 'member',
    password_hash  VARCHAR(255)    NOT NULL,
    -- Unreturned books held now; kept in step by loan creation and return in one transaction.
    books_on_loan  INT             NOT NULL DEFAULT 0,
    created_at     DATETIME(6)     NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT uq_members_email UNIQUE (email),
    CONSTRAINT ck_members_role CHECK (role IN ('member', 'librarian')),
    CONSTRAINT ck_members_books_on_loan CHECK (books_on_loan BETWEEN 0 AND 10)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE books (
    id                BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    isbn              CHAR(13)        NOT NULL,
    title             VARCHAR(500)    NOT NULL,
    -- Lists stored one entry per line: read whole with the row, searched through FULLTEXT.
    authors           TEXT            NOT NULL,
    publisher         VARCHAR(200)    NULL,
    year              INT             NULL,
    subjects          TEXT            NOT NULL,
    copies_total      INT             NOT NULL,
    copies_available  INT             NOT NULL,
    created_at        DATETIME(6)     NOT NULL,
    updated_at        DATETIME(6)     NOT NULL,
    -- Books with loan history are withdrawn, not erased, so no committed loan loses its items.
    deleted_at        DATETIME(6)     NULL,
    -- 1 while in the catalogue, NULL once withdrawn. UNIQUE (isbn, in_catalogue) makes ISBNs
    -- unique among catalogued books while withdrawn ones (NULL never collides) may repeat.
    -- (A generated column would read better, but MariaDB refuses IS NULL on a DATETIME there.)
    in_catalogue      TINYINT         NULL DEFAULT 1,
    PRIMARY KEY (id),
    CONSTRAINT uq_books_isbn UNIQUE (isbn, in_catalogue),
    CONSTRAINT ck_books_withdrawn CHECK ((in_catalogue = 1 AND deleted_at IS NULL) OR (in_catalogue IS NULL AND deleted_at IS NOT NULL)),
    CONSTRAINT ck_books_copies CHECK (copies_total >= 0 AND copies_available >= 0 AND copies_available <= copies_total),
    INDEX ix_books_listing (deleted_at, title),
    FULLTEXT INDEX ft_books_text (title, authors, subjects),
    FULLTEXT INDEX ft_books_authors (authors),
    FULLTEXT INDEX ft_books_subjects (subjects)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE loans (
    id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    member_id    BIGINT UNSIGNED NOT NULL,
    -- Number of books in the loan: lets the top-members report avoid joining loan_items.
    book_count   INT             NOT NULL,
    created_at   DATETIME(6)     NOT NULL,
    due_at       DATETIME(6)     NOT NULL,
    returned_at  DATETIME(6)     NULL,
    PRIMARY KEY (id),
    CONSTRAINT fk_loans_member FOREIGN KEY (member_id) REFERENCES members (id),
    CONSTRAINT ck_loans_book_count CHECK (book_count BETWEEN 1 AND 5),
    INDEX ix_loans_member (member_id, returned_at, book_count),
    INDEX ix_loans_open_due (returned_at, due_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE loan_items (
    loan_id  BIGINT UNSIGNED NOT NULL,
    book_id  BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (loan_id, book_id),
    CONSTRAINT fk_loan_items_loan FOREIGN KEY (loan_id) REFERENCES loans (id),
    CONSTRAINT fk_loan_items_book FOREIGN KEY (book_id) REFERENCES books (id),
    INDEX ix_loan_items_book (book_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
