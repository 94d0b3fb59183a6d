//! The siege URL file of each scenario, generated from the seeded data: valid ids, valid JSON
//! bodies.

use serde_json::json;

use super::args::Scenario;
use crate::rng::Rng;

const WORDS: &[&str] = &[
    "garden", "river", "history", "silent", "machine", "guide", "forest", "kingdom", "golden",
    "island", "cooking", "maps",
];

/// A siege URL file for the scenario: a few thousand lines siege picks from at random (`-i`).
pub(super) fn url_file(scenario: Scenario, target: &str) -> String {
    let mut rng = Rng(0x5eed);
    let mut lines = Vec::new();
    let loan = |rng: &mut Rng| {
        // The seed's members are 1..=1000, 1 being the librarian.
        let member = 2 + rng.below(999);
        let n = 1 + rng.below(5);
        let books: std::collections::BTreeSet<u64> =
            (0..n).map(|_| 1 + rng.below(10_000)).collect();
        let books: Vec<u64> = books.into_iter().collect();
        format!(
            "{target}/api/v1/loans POST {}",
            json!({"member_id": member, "book_ids": books})
        )
    };
    for i in 0..4000 {
        let line = match scenario {
            // The lab: half loans, half reports.
            Scenario::Lab | Scenario::Compare => match i % 4 {
                0 | 1 => loan(&mut rng),
                2 => format!("{target}/api/v1/reports/top-books"),
                _ => format!("{target}/api/v1/reports/top-members"),
            },
            Scenario::Browse => match i % 10 {
                0 => format!("{target}/"),
                1..=3 => format!(
                    "{target}/books?q={}",
                    WORDS[rng.below(WORDS.len() as u64) as usize]
                ),
                4 | 5 => format!("{target}/books?page={}", 1 + rng.below(50)),
                _ => format!("{target}/books/{}", 1 + rng.below(10_000)),
            },
            // A library's day: 9 reads for each loan.
            Scenario::Mixed | Scenario::Ramp => match i % 20 {
                0 | 1 => loan(&mut rng),
                2..=4 => format!(
                    "{target}/api/v1/books?q={}",
                    WORDS[rng.below(WORDS.len() as u64) as usize]
                ),
                5 => format!("{target}/api/v1/reports/top-books"),
                _ => format!("{target}/api/v1/books/{}", 1 + rng.below(10_000)),
            },
        };
        lines.push(line);
    }
    lines.join("\n") + "\n"
}
