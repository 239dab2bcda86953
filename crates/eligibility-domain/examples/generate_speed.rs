//! Measures the synthetic population generator:
//! `cargo run --release --example generate_speed [-- RECORDS]`.
//!
//! Prints records per second; the checksum keeps the optimiser from
//! discarding the work.

use std::time::Instant;

use tsunagu_eligibility_domain::generate::Generator;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    let start = Instant::now();
    let mut checksum = 0usize;
    for (insurer, q) in Generator::new(1).take(n) {
        checksum = checksum
            .wrapping_add(q.name.len())
            .wrapping_add(insurer.name.len());
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{n} records in {secs:.2} s: {:.0} records/s (checksum {checksum})",
        n as f64 / secs
    );
}
