//! The siege URL file of each scenario, generated from the seeded data: valid ids, valid JSON
//! bodies.

use serde_json::json;

use super::args::Scenario;
use crate::rng::Rng;

const WORDS: &[&str] = &[
    "garden", "river", "history", "silent", "machine", "guide", "forest", "kingdom", "golden",
    "island", "cooking", "maps",
];

/// Lines of a URL file siege picks from at random (`-i`).
pub(super) const LINES: usize = 4000;

/// A siege URL file for the scenario: [`LINES`] lines siege picks from at random (`-i`).
pub(super) fn url_file(scenario: Scenario, target: &str) -> String {
    requests(scenario, target, LINES).join("\n") + "\n"
}

/// A URL file for think-time users, which siege walks in order (no `-i`): each request of the
/// scenario follows a line for `think_url`, which the runner answers after the think time, so
/// each user waits that long between two requests.
///
/// siege starts user `i` at line `i × (lines / users)`: with `lines / users` even, every user
/// starts on a think line, so the first requests are spread over the think time instead of
/// all leaving at once.
pub(super) fn think_url_file(
    scenario: Scenario,
    target: &str,
    think_url: &str,
    users: usize,
) -> String {
    let users = users.max(1);
    let pairs = users * LINES.div_ceil(users);
    // The scenario's requests come in a fixed cycle of kinds (loans, searches, …); users start
    // at a multiple of `lines / users`, often a multiple of the cycle: shuffled, so that users
    // do not all ask for the same kind at the same moment.
    let mut requests = requests(scenario, target, pairs);
    let mut rng = Rng(0x7417);
    for i in (1..requests.len()).rev() {
        requests.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut text = String::new();
    for request in requests {
        text.push_str(think_url);
        text.push('\n');
        text.push_str(&request);
        text.push('\n');
    }
    text
}

/// `n` requests of the scenario: its kinds in a fixed cycle, ids and words at random.
fn requests(scenario: Scenario, target: &str, n: usize) -> Vec<String> {
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
    for i in 0..n {
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
            Scenario::Mixed | Scenario::Ramp(_) => match i % 20 {
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
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_think_user_starts_on_a_think_line() {
        let think = "http://127.0.0.1:9/think";
        for users in [100, 200, 400, 800, 1600, 3200, 6400, 10_000, 7] {
            let file = think_url_file(Scenario::Mixed, "http://t", think, users);
            let lines: Vec<&str> = file.lines().collect();
            assert_eq!(lines.len() % 2, 0);
            let per_user = lines.len() / users;
            assert_eq!(per_user % 2, 0, "{users} users");
            assert!(lines.len() >= 2 * LINES);
            // The kinds are shuffled: the first requests of users 20 pairs apart differ.
            if users == 200 {
                let kinds: std::collections::BTreeSet<String> = (0..10)
                    .map(|u| {
                        lines[u * per_user + 1]
                            .split('/')
                            .nth(5)
                            .unwrap_or("")
                            .to_owned()
                    })
                    .collect();
                assert!(kinds.len() > 1, "{kinds:?}");
            }
            for (i, line) in lines.iter().enumerate() {
                assert_eq!(*line == think, i % 2 == 0, "line {i}");
            }
        }
    }

    #[test]
    fn the_benchmark_file_is_unchanged_in_size() {
        assert_eq!(
            url_file(Scenario::Browse, "http://t").lines().count(),
            LINES
        );
    }
}
