//! `cargo run --release -p kpiscope-bench --bin viewer_load -- URL [CLIENTS] [REQUESTS] [PATHS]`
//!
//! Load on a running `kpiscope serve`: CLIENTS (default 50) concurrent clients each send
//! REQUESTS (default 200) GETs, cycling through PATHS (comma-separated, default the live tabs
//! `/replay,/what-if?sessions=10,/rca`), each client starting at a different path and day so
//! the mix is not one cached page. Prints the latency percentiles, errors and throughput.
//! Only loopback URLs are accepted, and at most 100,000 requests: this is a measuring tool,
//! not a way to load somebody else's server.

use anyhow::{bail, Result};
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(base) = args.next() else { bail!("usage: viewer_load URL [CLIENTS] [REQUESTS] [PATHS]") };
    let base = base.trim_end_matches('/').to_string();
    let host = base.strip_prefix("http://").unwrap_or_default().split(['/', ':']).next().unwrap_or_default();
    if !matches!(host, "127.0.0.1" | "localhost") {
        bail!("viewer_load only loads servers on 127.0.0.1 or localhost, got {base}");
    }
    let clients: usize = args.next().map_or(Ok(50), |s| s.parse())?;
    let requests: usize = args.next().map_or(Ok(200), |s| s.parse())?;
    if clients == 0 || requests == 0 || clients * requests > 100_000 {
        bail!("CLIENTS x REQUESTS must be between 1 and 100,000");
    }
    let paths: Vec<String> = args
        .next()
        .unwrap_or_else(|| "/replay,/what-if?sessions=10,/rca".into())
        .split(',')
        .map(str::to_string)
        .collect();
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
    let started = Instant::now();
    let results: Vec<(Duration, Option<u16>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|client| {
                let (agent, base, paths) = (agent.clone(), &base, &paths);
                scope.spawn(move || {
                    (0..requests)
                        .map(|k| {
                            let path = &paths[(client + k) % paths.len()];
                            // Days of June 2024 (the demo's last month), different per client.
                            let day = 1 + (client * 7 + k) % 28;
                            let join = if path.contains('?') { '&' } else { '?' };
                            let url = format!("{base}{path}{join}day=2024-06-{day:02}&as_of=2024-06-{day:02}");
                            let sent = Instant::now();
                            let status = match agent.get(&url).call() {
                                Ok(response) => Some(response.status()),
                                Err(ureq::Error::Status(code, _)) => Some(code),
                                Err(_) => None,
                            };
                            (sent.elapsed(), status)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("client thread")).collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies: Vec<Duration> = results.iter().map(|(d, _)| *d).collect();
    latencies.sort();
    let failed = results.iter().filter(|(_, s)| *s != Some(200)).count();
    println!(
        "{} requests from {clients} clients in {elapsed:.1} s ({:.0}/s); non-200: {failed}",
        results.len(),
        results.len() as f64 / elapsed
    );
    println!(
        "latency ms: p50 {:.0}, p90 {:.0}, p99 {:.0}, max {:.0}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0)
    );
    Ok(())
}
