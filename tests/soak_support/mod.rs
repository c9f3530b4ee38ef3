//! The soak's instruments (`tests/soak.rs`): what it watches on the machine while it runs
//! (`watch`), and its latency record and report (`latency`).

pub mod latency;
pub mod watch;
