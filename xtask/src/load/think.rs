//! The think-time server: the runner's own HTTP endpoint that answers each request after the
//! think time, on 127.0.0.1 only.
//!
//! Why not siege's `--delay`: siege 4.0.7 sleeps after each request, for a uniformly random
//! time below the delay when it is under 1 s, and for a whole number of seconds,
//! `round(random × delay)`, from 1 s up: `-d 2` waits 0, 1 or 2 s, a quarter of the time no
//! wait at all. Neither gives 1–2 s. Think-time users walk a URL file where every request
//! follows a line for this server (see `urls::think_url_file`); siege waits for the answer, so
//! the time between two requests of a user is the think time drawn here. This works because
//! siege opens one connection per request (`connection = close`, its default, which every
//! scenario of the runner uses): with keep-alive, siege 4.0.7 sends a user's next request down
//! the connection it has open whatever the URL's host, and think lines would reach nginx.
//!
//! siege counts the think lines as transactions: [`ThinkServer::snapshot`] gives how many were
//! answered, and how long they waited, so the report can take them out of siege's figures.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use super::args::Think;

#[derive(Default)]
struct Counts {
    answered: AtomicU64,
    waited_ms: AtomicU64,
    drawn: AtomicU64,
}

pub(super) struct ThinkServer {
    /// The URL of the think line.
    pub url: String,
    pub think: Think,
    counts: Arc<Counts>,
}

impl ThinkServer {
    /// Lines each user walks through to last about `seconds`: a think line and a request per
    /// think time (the response time, a few milliseconds when all goes well, comes on top).
    pub fn lines_for(&self, seconds: u64) -> u64 {
        let mean = (self.think.min_ms + self.think.max_ms) as f64 / 2000.0 + 0.05;
        2 * ((seconds as f64 / mean).round() as u64).max(1)
    }

    /// Think lines answered so far, and the seconds they waited in total.
    pub fn snapshot(&self) -> (u64, f64) {
        (
            self.counts.answered.load(Relaxed),
            self.counts.waited_ms.load(Relaxed) as f64 / 1000.0,
        )
    }
}

/// A wait in `[min_ms, max_ms]`, uniform, from the `n`th draw (splitmix64: cheap, and the same
/// sequence in every run).
fn wait_ms(think: Think, n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    think.min_ms + z % (think.max_ms - think.min_ms + 1)
}

/// Starts the server on the current tokio runtime.
pub(super) async fn start(think: Think) -> anyhow::Result<ThinkServer> {
    let counts = Arc::new(Counts::default());
    let shared = counts.clone();
    let answer = move || {
        let counts = shared.clone();
        async move {
            let ms = wait_ms(think, counts.drawn.fetch_add(1, Relaxed));
            tokio::time::sleep(Duration::from_millis(ms)).await;
            counts.answered.fetch_add(1, Relaxed);
            counts.waited_ms.fetch_add(ms, Relaxed);
            "ok\n"
        }
    };
    let app = axum::Router::new().route("/think", axum::routing::get(answer));
    // Every user's first line is a think line: thousands of connections arrive at once, more
    // than the default backlog of 1,024 holds.
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind("127.0.0.1:0".parse()?)?;
    let listener = socket.listen(4096)?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(ThinkServer {
        url: format!("http://{addr}/think"),
        think,
        counts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_cover_the_range_evenly() {
        let think = Think {
            min_ms: 1000,
            max_ms: 2000,
        };
        let waits: Vec<u64> = (0..100_000).map(|n| wait_ms(think, n)).collect();
        assert!(waits.iter().all(|w| (1000..=2000).contains(w)));
        let mean = waits.iter().sum::<u64>() as f64 / waits.len() as f64;
        assert!((mean - 1500.0).abs() < 10.0, "mean {mean}");
        let below = waits.iter().filter(|w| **w < 1250).count() as f64 / waits.len() as f64;
        assert!((below - 0.25).abs() < 0.01, "quarter below 1.25 s: {below}");
        let fixed = Think {
            min_ms: 700,
            max_ms: 700,
        };
        assert_eq!(wait_ms(fixed, 42), 700);
    }

    #[tokio::test]
    async fn answers_after_the_think_time() {
        let server = start(Think {
            min_ms: 200,
            max_ms: 300,
        })
        .await
        .expect("test value");
        let started = std::time::Instant::now();
        let body = reqwest::get(&server.url)
            .await
            .expect("test value")
            .text()
            .await
            .expect("test value");
        let waited = started.elapsed().as_millis();
        assert_eq!(body, "ok\n");
        assert!((200..1000).contains(&waited), "{waited} ms");
        let (answered, seconds) = server.snapshot();
        assert_eq!(answered, 1);
        assert!((0.2..=0.3).contains(&seconds));
        // 20 s of 0.25 s thinks (+ 50 ms): 67 thinks, 67 requests.
        assert_eq!(server.lines_for(20), 134);
    }
}
