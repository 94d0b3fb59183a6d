//! `biblio-api seed`: deterministic lab-volume data (1,000 members, 10,000 books, 80,000 loans by
//! default), consistent with every invariant, loaded with multi-row INSERTs.
//!
//! The same `--seed` gives the same members, books and loans (the content; timestamps are
//! relative to when the seed runs, so recent loans stay recent). Most loans are returned; the
//! most recent ones are still out, within the copies on the shelf and the members' limits, and
//! some of those are overdue. Every seeded member's password is [`SEED_PASSWORD`]; member 1 of a
//! seed into an empty database is the librarian `librarian@biblio.example`.

use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use sqlx::{Connection, MySql, MySqlConnection, QueryBuilder};

use crate::config::Settings;
use crate::domain::isbn::Isbn;
use crate::domain::{LOAN_DAYS, MAX_BOOKS_PER_MEMBER};
use crate::storage;

/// The password of every seeded account (documented in the README for load tests and demos).
pub const SEED_PASSWORD: &str = "biblio-seed-password";
/// The seeded librarian's email.
pub const SEED_LIBRARIAN: &str = "librarian@biblio.example";

#[derive(Debug, Clone, clap::Args)]
pub struct SeedArgs {
    #[arg(long, default_value_t = 1_000)]
    pub members: u32,
    #[arg(long, default_value_t = 10_000)]
    pub books: u32,
    #[arg(long, default_value_t = 80_000)]
    pub loans: u32,
    /// The value the data is generated from.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Do nothing if the catalogue already has books (for scripts that seed a fresh stack).
    #[arg(long)]
    pub if_empty: bool,
}

/// SplitMix64: tiny, fast, and the same sequence on every platform and version, which a
/// library RNG does not promise.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const FIRST: &[&str] = &[
    "Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Frances", "Niklaus",
    "Radia", "Tony", "Shafi", "Leslie", "Sophie", "John", "Karen", "Dennis", "Lynn", "Robin",
    "Hedy", "Claude", "Mary", "Tim", "Jean", "Anita", "Butler", "Adele", "Fernando", "Yukihiro",
    "Guido", "Bjarne", "Lois", "Evelyn", "Amara", "Kofi", "Mei", "Ravi", "Ingrid", "Mateo",
    "Chiara", "Olu", "Hana", "Tomasz", "Leila", "Sven", "Noor", "Diego", "Aiko", "Pavel",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Turing",
    "Hopper",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Hamilton",
    "Thompson",
    "Allen",
    "Wirth",
    "Perlman",
    "Hoare",
    "Goldwasser",
    "Lamport",
    "Wilson",
    "McCarthy",
    "Jones",
    "Ritchie",
    "Conway",
    "Milner",
    "Lamarr",
    "Shannon",
    "Keller",
    "Berners-Lee",
    "Sammet",
    "Borg",
    "Lampson",
    "Goldberg",
    "Corbato",
    "Matsumoto",
    "Rossum",
    "Stroustrup",
    "Haibt",
    "Boyd",
    "Okafor",
    "Mensah",
    "Chen",
    "Iyer",
    "Larsen",
    "Rossi",
    "Bianchi",
    "Adeyemi",
    "Sato",
    "Nowak",
    "Haddad",
    "Lindqvist",
    "Rahman",
    "Garcia",
    "Tanaka",
    "Novak",
];
const ADJECTIVES: &[&str] = &[
    "Silent",
    "Hidden",
    "Last",
    "Golden",
    "Broken",
    "Northern",
    "Forgotten",
    "Burning",
    "Quiet",
    "Restless",
    "Crimson",
    "Distant",
    "Winter",
    "Glass",
    "Iron",
    "Secret",
    "Wandering",
    "Endless",
    "Little",
    "Midnight",
    "Ancient",
    "Painted",
];
const NOUNS: &[&str] = &[
    "Garden",
    "River",
    "Kingdom",
    "Library",
    "Lighthouse",
    "Orchard",
    "Machine",
    "Harbor",
    "Forest",
    "Mountain",
    "City",
    "Archive",
    "Island",
    "Compass",
    "Voyage",
    "Letter",
    "Bridge",
    "Clockmaker",
    "Observatory",
    "Cartographer",
    "Tide",
];
const TOPICS: &[&str] = &[
    "Algorithms",
    "Gardening",
    "Astronomy",
    "Typography",
    "Cooking",
    "Rivers",
    "Cities",
    "Bridges",
    "Music",
    "Memory",
    "Databases",
    "Bees",
    "Mathematics",
    "Sailing",
    "Photography",
    "Language",
    "Maps",
    "Clocks",
    "Weather",
    "Forests",
];
const SUBJECTS: &[&str] = &[
    "Fiction",
    "Fantasy",
    "Science Fiction",
    "Mystery",
    "History",
    "Science",
    "Computing",
    "Poetry",
    "Biography",
    "Travel",
    "Philosophy",
    "Art",
    "Economics",
    "Nature",
    "Children",
    "Cooking",
    "Mathematics",
    "Music",
    "Drama",
];
const PUBLISHERS: &[&str] = &[
    "Penguin",
    "Vintage",
    "Faber & Faber",
    "Gallimard",
    "O'Reilly",
    "MIT Press",
    "Hachette",
    "Macmillan",
    "Bloomsbury",
    "HarperCollins",
    "Springer",
    "No Starch Press",
    "Oxford University Press",
    "Cambridge University Press",
];

fn title(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => format!("The {} {}", rng.pick(ADJECTIVES), rng.pick(NOUNS)),
        1 => format!("A Short History of {}", rng.pick(TOPICS)),
        2 => format!(
            "{} and the {} {}",
            rng.pick(FIRST),
            rng.pick(ADJECTIVES),
            rng.pick(NOUNS)
        ),
        _ => format!("{}: A Guide to {}", rng.pick(NOUNS), rng.pick(TOPICS)),
    }
}

fn person(rng: &mut Rng) -> String {
    format!("{} {}", rng.pick(FIRST), rng.pick(LAST))
}

/// Rows per INSERT: well under MySQL's 65,535 placeholders, big enough to amortise round trips.
const CHUNK: usize = 2_000;

pub async fn run(settings: &Settings, args: &SeedArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let db = storage::connect(settings.database_url.expose(), &settings.pool).await?;
    storage::migrate(&db).await?;
    let mut conn = db.pool().acquire().await?.detach();
    let books_present: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM books")
        .fetch_one(&mut conn)
        .await?;
    if args.if_empty && books_present > 0 {
        tracing::info!(
            books = books_present,
            "database already seeded; nothing to do"
        );
        return Ok(());
    }
    let counts = seed(&mut conn, args, Utc::now()).await?;
    tracing::info!(
        members = counts.members,
        books = counts.books,
        loans = counts.loans,
        loan_items = counts.loan_items,
        active_loans = counts.active_loans,
        seconds = started.elapsed().as_secs_f64(),
        "seed complete"
    );
    Ok(())
}

/// What a seed inserted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeedCounts {
    pub members: u64,
    pub books: u64,
    pub loans: u64,
    pub loan_items: u64,
    pub active_loans: u64,
}

/// Generates and inserts the data on one connection. Ids are assigned here (after the current
/// maximum), so loan items can reference loans without reading ids back.
pub async fn seed(
    conn: &mut MySqlConnection,
    args: &SeedArgs,
    now: DateTime<Utc>,
) -> anyhow::Result<SeedCounts> {
    let now = now.trunc_subsecs(0);
    let mut rng = Rng(args.seed);
    let hash = crate::auth::hash_password_blocking(SEED_PASSWORD.to_owned())
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    macro_rules! next_id {
        ($table:literal) => {
            sqlx::query_scalar::<_, u64>(concat!(
                "SELECT CAST(COALESCE(MAX(id), 0) AS UNSIGNED) FROM ",
                $table
            ))
            .fetch_one(&mut *conn)
            .await?
                + 1
        };
    }
    let first_member = next_id!("members");
    let first_book = next_id!("books");
    let first_loan = next_id!("loans");

    let total_rows = u64::from(args.members) + u64::from(args.books) + u64::from(args.loans);
    let bar = ProgressBar::new(total_rows).with_style(
        ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len} rows ({elapsed})")
            .map_err(|e| anyhow::anyhow!("progress template: {e}"))?
            .progress_chars("=> "),
    );

    // Members. The seed run number keeps emails unique when seeding a non-empty database.
    let members: Vec<(u64, String, String, &str)> = (0..u64::from(args.members))
        .map(|i| {
            let id = first_member + i;
            let first = rng.pick(FIRST);
            let last = rng.pick(LAST);
            let (email, role) = if id == 1 {
                (SEED_LIBRARIAN.to_owned(), "librarian")
            } else {
                (
                    format!(
                        "{}.{}.{id}@members.biblio.example",
                        first.to_lowercase(),
                        last.to_lowercase()
                    ),
                    "member",
                )
            };
            (id, format!("{first} {last}"), email, role)
        })
        .collect();

    // Books: copies_total 1–5, weighted towards few copies, as in a small library.
    let mut books: Vec<BookSeed> = (0..u64::from(args.books))
        .map(|i| {
            let id = first_book + i;
            // Multiplying by a prime coprime with 10^9 is a bijection mod 10^9: distinct ISBNs.
            let isbn = Isbn::from_prefix12(978_000_000_000 + (id * 104_729) % 1_000_000_000);
            let authors: Vec<String> = (0..1 + rng.below(3) / 2)
                .map(|_| person(&mut rng))
                .collect();
            let mut subjects: Vec<&str> = Vec::new();
            for _ in 0..1 + rng.below(3) {
                let s = rng.pick(SUBJECTS);
                if !subjects.contains(&s) {
                    subjects.push(s);
                }
            }
            let copies = [1, 1, 2, 2, 2, 3, 3, 4, 5][rng.below(9) as usize];
            BookSeed {
                id,
                isbn: isbn.to_string(),
                title: title(&mut rng),
                authors: authors.join("\n"),
                publisher: rng.pick(PUBLISHERS).to_owned(),
                year: 1900 + rng.below(126) as i32,
                subjects: subjects.join("\n"),
                copies_total: copies,
                out: 0,
            }
        })
        .collect();

    // Loans over the last two years, oldest first. The last ~3% are recent and still out when
    // copies and the member's limit allow; everything else was returned.
    let n_loans = u64::from(args.loans);
    let span_secs = 730 * 86_400_i64;
    let active_from = n_loans - n_loans * 3 / 100;
    let mut held = vec![0i32; members.len()];
    let mut loans: Vec<LoanSeed> = Vec::with_capacity(n_loans as usize);
    let mut items: Vec<(u64, u64)> = Vec::with_capacity(n_loans as usize * 3);
    let mut active_loans = 0;
    for i in 0..n_loans {
        if members.is_empty() || books.is_empty() {
            break;
        }
        let id = first_loan + i;
        let m = rng.below(members.len() as u64) as usize;
        let want = (1 + rng.below(5)) as usize;
        let mut picked: Vec<usize> = Vec::with_capacity(want);
        while picked.len() < want.min(books.len()) {
            let b = rng.below(books.len() as u64) as usize;
            if !picked.contains(&b) {
                picked.push(b);
            }
        }
        picked.sort_unstable();
        let created = now
            - Duration::seconds(span_secs - span_secs * i as i64 / n_loans as i64)
            - Duration::seconds(rng.below(3_600) as i64);
        let due = created + Duration::days(LOAN_DAYS);
        let can_stay_out = i >= active_from
            && held[m] + picked.len() as i32 <= MAX_BOOKS_PER_MEMBER
            && picked
                .iter()
                .all(|b| books[*b].out < books[*b].copies_total);
        let returned = if can_stay_out {
            held[m] += picked.len() as i32;
            for b in &picked {
                books[*b].out += 1;
            }
            active_loans += 1;
            None
        } else {
            Some((created + Duration::seconds(3_600 + rng.below(20 * 86_400) as i64)).min(now))
        };
        for b in &picked {
            items.push((id, books[*b].id));
        }
        loans.push(LoanSeed {
            id,
            member: members[m].0,
            count: picked.len() as i32,
            created,
            due,
            returned,
        });
    }

    let mut tx = conn.begin().await?;
    // The data is consistent by construction; checking each foreign key row by row only slows
    // the bulk load. Session-scoped, and restored before commit.
    sqlx::query("SET SESSION foreign_key_checks = 0")
        .execute(&mut *tx)
        .await?;

    bar.set_message("members");
    for chunk in members.chunks(CHUNK) {
        let mut q = QueryBuilder::<MySql>::new(
            "INSERT INTO members (id, name, email, role, password_hash, books_on_loan, created_at) ",
        );
        q.push_values(chunk, |mut row, (id, name, email, role)| {
            let index = (*id - first_member) as usize;
            row.push_bind(*id)
                .push_bind(name)
                .push_bind(email)
                .push_bind(*role)
                .push_bind(&hash)
                .push_bind(held[index])
                .push_bind(now - Duration::days(800));
        });
        q.build()
            .execute(&mut *tx)
            .await
            .context("inserting members")?;
        bar.inc(chunk.len() as u64);
    }

    bar.set_message("books");
    for chunk in books.chunks(CHUNK) {
        let mut q = QueryBuilder::<MySql>::new(
            "INSERT INTO books (id, isbn, title, authors, publisher, year, subjects, copies_total, copies_available, created_at, updated_at) ",
        );
        q.push_values(chunk, |mut row, b| {
            row.push_bind(b.id)
                .push_bind(&b.isbn)
                .push_bind(&b.title)
                .push_bind(&b.authors)
                .push_bind(&b.publisher)
                .push_bind(b.year)
                .push_bind(&b.subjects)
                .push_bind(b.copies_total)
                .push_bind(b.copies_total - b.out)
                .push_bind(now - Duration::days(800))
                .push_bind(now);
        });
        q.build()
            .execute(&mut *tx)
            .await
            .context("inserting books")?;
        bar.inc(chunk.len() as u64);
    }

    bar.set_message("loans");
    for chunk in loans.chunks(CHUNK) {
        let mut q = QueryBuilder::<MySql>::new(
            "INSERT INTO loans (id, member_id, book_count, created_at, due_at, returned_at) ",
        );
        q.push_values(chunk, |mut row, l| {
            row.push_bind(l.id)
                .push_bind(l.member)
                .push_bind(l.count)
                .push_bind(l.created)
                .push_bind(l.due)
                .push_bind(l.returned);
        });
        q.build()
            .execute(&mut *tx)
            .await
            .context("inserting loans")?;
        bar.inc(chunk.len() as u64);
    }
    for chunk in items.chunks(CHUNK * 2) {
        let mut q = QueryBuilder::<MySql>::new("INSERT INTO loan_items (loan_id, book_id) ");
        q.push_values(chunk, |mut row, (loan, book)| {
            row.push_bind(*loan).push_bind(*book);
        });
        q.build()
            .execute(&mut *tx)
            .await
            .context("inserting loan items")?;
    }
    sqlx::query("SET SESSION foreign_key_checks = 1")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    bar.finish_with_message("done");

    Ok(SeedCounts {
        members: members.len() as u64,
        books: books.len() as u64,
        loans: loans.len() as u64,
        loan_items: items.len() as u64,
        active_loans,
    })
}

struct BookSeed {
    id: u64,
    isbn: String,
    title: String,
    authors: String,
    publisher: String,
    year: i32,
    subjects: String,
    copies_total: i32,
    /// Copies out on the loans that stay active.
    out: i32,
}

struct LoanSeed {
    id: u64,
    member: u64,
    count: i32,
    created: DateTime<Utc>,
    due: DateTime<Utc>,
    returned: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_deterministic() {
        let a: Vec<u64> = {
            let mut r = Rng(7);
            (0..5).map(|_| r.next()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng(7);
            (0..5).map(|_| r.next()).collect()
        };
        let c: Vec<u64> = {
            let mut r = Rng(8);
            (0..5).map(|_| r.next()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
