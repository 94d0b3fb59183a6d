-- Bearer tokens revoked by logout before they expire. Each replica keeps the unexpired ones in
-- memory and reads new rows every second (see biblio-api/src/auth.rs, `Revocations`), so a
-- token revoked on one replica is refused by all within about a second, MySQL down or not.
CREATE TABLE revoked_tokens (
    jti         CHAR(32)        NOT NULL,
    member_id   BIGINT UNSIGNED NOT NULL,
    expires_at  DATETIME(6)     NOT NULL,
    revoked_at  DATETIME(6)     NOT NULL,
    PRIMARY KEY (jti),
    INDEX ix_revoked_tokens_revoked (revoked_at),
    INDEX ix_revoked_tokens_expires (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = ascii COLLATE = ascii_bin;
