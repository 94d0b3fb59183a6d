-- Circulation beyond borrowing: renewals, holds (reservations) and the notification outbox.

-- How many times a loan was renewed (each renewal moves due_at to 14 days after the renewal).
ALTER TABLE loans
    ADD COLUMN renewals INT NOT NULL DEFAULT 0,
    ADD CONSTRAINT ck_loans_renewals CHECK (renewals BETWEEN 0 AND 2);

-- A member's place in a book's queue. First come, first served by `id`. While `waiting` the
-- member waits for a copy; once `ready`, one copy is set aside for them (not counted in
-- books.copies_available) until `ready_until`; their loan of the book makes it `fulfilled`.
-- Every change of a hold happens under the lock of its book's row (storage::holds), which is
-- what keeps the queue and the set-aside copies right under concurrency and across replicas.
CREATE TABLE holds (
    id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    member_id    BIGINT UNSIGNED NOT NULL,
    book_id      BIGINT UNSIGNED NOT NULL,
    status       VARCHAR(16)     NOT NULL DEFAULT 'waiting',
    created_at   DATETIME(6)     NOT NULL,
    ready_at     DATETIME(6)     NULL,
    ready_until  DATETIME(6)     NULL,
    closed_at    DATETIME(6)     NULL,
    -- 1 while waiting or ready, NULL once closed: UNIQUE (member_id, book_id, active) allows one
    -- open hold per member and book, and any number of closed ones (NULL never collides).
    active       TINYINT         NULL DEFAULT 1,
    PRIMARY KEY (id),
    CONSTRAINT fk_holds_member FOREIGN KEY (member_id) REFERENCES members (id),
    CONSTRAINT fk_holds_book FOREIGN KEY (book_id) REFERENCES books (id),
    CONSTRAINT uq_holds_open UNIQUE (member_id, book_id, active),
    CONSTRAINT ck_holds_status CHECK (status IN ('waiting', 'ready', 'fulfilled', 'cancelled', 'expired')),
    CONSTRAINT ck_holds_active CHECK ((status IN ('waiting', 'ready') AND active = 1)
                                      OR (status NOT IN ('waiting', 'ready') AND active IS NULL)),
    CONSTRAINT ck_holds_ready CHECK (status <> 'ready' OR ready_until IS NOT NULL),
    INDEX ix_holds_queue (book_id, status, id),
    INDEX ix_holds_member (member_id, status),
    INDEX ix_holds_ready (status, ready_until)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- The notification outbox: a row per email to send, written in the transaction of the event
-- (a hold becoming ready) or by one idempotent statement (a loan due soon), so no committed
-- event loses its email. `dedupe_key` makes writing the same notice twice a no-op. A sender
-- claims a row (`claimed_until`, `claim`) before sending, so two replicas never send one row;
-- `sent_at` is set once the SMTP server accepted it. The text is written when it is sent.
CREATE TABLE notifications (
    id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    kind             VARCHAR(16)     NOT NULL,
    dedupe_key       VARCHAR(100)    NOT NULL,
    member_id        BIGINT UNSIGNED NOT NULL,
    hold_id          BIGINT UNSIGNED NULL,
    loan_id          BIGINT UNSIGNED NULL,
    -- ready_until of the hold, or due_at of the loan, when the notice was written.
    deadline         DATETIME(6)     NOT NULL,
    created_at       DATETIME(6)     NOT NULL,
    next_attempt_at  DATETIME(6)     NOT NULL,
    attempts         INT             NOT NULL DEFAULT 0,
    claimed_until    DATETIME(6)     NULL,
    claim            BIGINT UNSIGNED NULL,
    sent_at          DATETIME(6)     NULL,
    last_error       VARCHAR(500)    NULL,
    PRIMARY KEY (id),
    CONSTRAINT uq_notifications_dedupe UNIQUE (dedupe_key),
    CONSTRAINT fk_notifications_member FOREIGN KEY (member_id) REFERENCES members (id),
    CONSTRAINT ck_notifications_kind CHECK (kind IN ('hold_ready', 'due_soon')),
    INDEX ix_notifications_pending (sent_at, next_attempt_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
