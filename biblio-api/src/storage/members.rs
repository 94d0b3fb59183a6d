//! The `members` table.

use chrono::{DateTime, Utc};
use tracing::Instrument as _;

use super::Connection;

use crate::domain::email::Email;
use crate::domain::ids::MemberId;
use crate::domain::member::{Member, Role};
use crate::domain::page::Page;

#[derive(sqlx::FromRow)]
struct MemberRow {
    id: u64,
    name: String,
    email: String,
    role: String,
    books_on_loan: i32,
    created_at: DateTime<Utc>,
}

impl TryFrom<MemberRow> for Member {
    type Error = sqlx::Error;

    fn try_from(r: MemberRow) -> Result<Self, Self::Error> {
        let role = Role::parse(&r.role)
            .map_err(|e| sqlx::Error::Decode(format!("members.role {:?}: {e}", r.role).into()))?;
        Ok(Member {
            id: MemberId(r.id),
            name: r.name,
            email: r.email,
            role,
            books_on_loan: r.books_on_loan,
            loan_limit: crate::domain::MAX_BOOKS_PER_MEMBER,
            hold_limit: crate::domain::hold::MAX_ACTIVE_HOLDS as u32,
            created_at: r.created_at,
        })
    }
}

/// The columns of a [`MemberRow`] (a macro, so queries stay `&'static str`).
macro_rules! columns {
    () => {
        "id, name, email, role, books_on_loan, created_at"
    };
}

/// A member with the hash of their password, for login only.
pub struct Credentials {
    pub member: Member,
    pub password_hash: String,
}

/// The email is already used by another member.
#[derive(Debug, PartialEq, Eq)]
pub struct DuplicateEmail;

pub async fn insert(
    conn: &mut Connection,
    name: &str,
    email: &Email,
    role: Role,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<Result<MemberId, DuplicateEmail>, sqlx::Error> {
    let span = db_span!(conn, "INSERT", "members");
    async move {
        let result = sqlx::query(super::traced(
            "INSERT INTO members (name, email, role, password_hash, created_at) VALUES (?, ?, ?, ?, ?)",
        ))
        .bind(name)
        .bind(email.as_str())
        .bind(role.as_str())
        .bind(password_hash)
        .bind(now)
        .execute(conn.mysql())
        .await;
        match result {
            Ok(done) => Ok(Ok(MemberId(done.last_insert_id()))),
            Err(e) if super::violated_unique_key(&e).as_deref() == Some("uq_members_email") => {
                Ok(Err(DuplicateEmail))
            }
            Err(e) => Err(e),
        }
    }
    .instrument(span)
    .await
}

/// Makes sure a librarian with this email and password hash exists (startup bootstrap). Safe
/// when replicas run it at the same moment: one upsert statement.
pub async fn upsert_librarian(
    conn: &mut Connection,
    email: &Email,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let span = db_span!(conn, "INSERT", "members", "upsert librarian");
    async move {
        sqlx::query(super::traced(
            "INSERT INTO members (name, email, role, password_hash, created_at) VALUES ('Administrator', ?, 'librarian', ?, ?) \
             ON DUPLICATE KEY UPDATE role = 'librarian', password_hash = VALUES(password_hash)",
        ))
        .bind(email.as_str())
        .bind(password_hash)
        .bind(now)
        .execute(conn.mysql())
        .await?;
        Ok(())
    }
    .instrument(span)
    .await
}

pub async fn find(conn: &mut Connection, id: MemberId) -> Result<Option<Member>, sqlx::Error> {
    let span = db_span!(conn, "SELECT", "members"; member_id = id.0);
    async move {
        let row: Option<MemberRow> = sqlx::query_as(super::traced(concat!(
            "SELECT ",
            columns!(),
            " FROM members WHERE id = ?"
        )))
        .bind(id.0)
        .fetch_optional(conn.mysql())
        .await?;
        row.map(Member::try_from).transpose()
    }
    .instrument(span)
    .await
}

pub async fn credentials(
    conn: &mut Connection,
    email: &Email,
) -> Result<Option<Credentials>, sqlx::Error> {
    let span = db_span!(conn, "SELECT", "members", "credentials");
    async move {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            member: MemberRow,
            password_hash: String,
        }
        let row: Option<Row> = sqlx::query_as(super::traced(concat!(
            "SELECT ",
            columns!(),
            ", password_hash FROM members WHERE email = ?"
        )))
        .bind(email.as_str())
        .fetch_optional(conn.mysql())
        .await?;
        row.map(|r| {
            Ok(Credentials {
                member: Member::try_from(r.member)?,
                password_hash: r.password_hash,
            })
        })
        .transpose()
    }
    .instrument(span)
    .await
}

/// The hash of member `id`'s password.
pub async fn password_hash(
    conn: &mut Connection,
    id: MemberId,
) -> Result<Option<String>, sqlx::Error> {
    let span = db_span!(conn, "SELECT", "members", "password"; member_id = id.0);
    async move {
        sqlx::query_scalar(super::traced(
            "SELECT password_hash FROM members WHERE id = ?",
        ))
        .bind(id.0)
        .fetch_optional(conn.mysql())
        .await
    }
    .instrument(span)
    .await
}

pub async fn set_password_hash(
    conn: &mut Connection,
    id: MemberId,
    hash: &str,
) -> Result<(), sqlx::Error> {
    let span = db_span!(conn, "UPDATE", "members", "password"; member_id = id.0);
    async move {
        sqlx::query(super::traced(
            "UPDATE members SET password_hash = ? WHERE id = ?",
        ))
        .bind(hash)
        .bind(id.0)
        .execute(conn.mysql())
        .await?;
        Ok(())
    }
    .instrument(span)
    .await
}

/// A page of members by id; with `search`, only those whose name or email contains it (any
/// case: the columns' collation is case-insensitive).
pub async fn list(
    conn: &mut Connection,
    page: Page,
    search: Option<&str>,
) -> Result<(Vec<Member>, u64), sqlx::Error> {
    let span = db_span!(conn, "SELECT", "members", "list");
    async move {
        let pattern = search.map(|s| {
            let escaped = s
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        let filter = if pattern.is_some() {
            " WHERE name LIKE ? OR email LIKE ?"
        } else {
            ""
        };
        let count_sql = format!("SELECT COUNT(*) FROM members{filter}");
        let mut count = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(super::traced(count_sql)));
        if let Some(p) = &pattern {
            count = count.bind(p).bind(p);
        }
        let total = count.fetch_one(conn.mysql()).await?;
        let page_sql = format!(
            concat!(
                "SELECT ",
                columns!(),
                " FROM members{} ORDER BY id LIMIT ? OFFSET ?"
            ),
            filter
        );
        let mut rows = sqlx::query_as::<_, MemberRow>(sqlx::AssertSqlSafe(super::traced(page_sql)));
        if let Some(p) = &pattern {
            rows = rows.bind(p).bind(p);
        }
        let rows = rows
            .bind(page.per_page)
            .bind(page.offset())
            .fetch_all(conn.mysql())
            .await?;
        let members = rows
            .into_iter()
            .map(Member::try_from)
            .collect::<Result<_, _>>()?;
        Ok((members, total.max(0) as u64))
    }
    .instrument(span)
    .await
}
