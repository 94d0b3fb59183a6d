-- The change feed of the catalogue: one row per book per committed change (added, edited,
-- withdrawn, lent, returned), so a reader that follows `id` sees every committed change. Each
-- API replica's search index follows it (service::indexer).
--
-- The rows are written by triggers, inside the transaction of the statement that changes the
-- book: the change and its record commit together or not at all, and no code path (nor a
-- person with a SQL prompt) can change a book without the feed hearing of it. book_id 0 asks
-- every replica to rebuild its index from `books`. Rows older than a day are deleted.
CREATE TABLE book_changes (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    book_id     BIGINT UNSIGNED NOT NULL,
    changed_at  DATETIME(6)     NOT NULL,
    PRIMARY KEY (id),
    INDEX ix_book_changes_changed_at (changed_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TRIGGER trg_books_added AFTER INSERT ON books FOR EACH ROW
    INSERT INTO book_changes (book_id, changed_at) VALUES (NEW.id, UTC_TIMESTAMP(6));

CREATE TRIGGER trg_books_changed AFTER UPDATE ON books FOR EACH ROW
    INSERT INTO book_changes (book_id, changed_at) VALUES (NEW.id, UTC_TIMESTAMP(6));
