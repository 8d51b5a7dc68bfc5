//! One file per subcommand.

pub mod exact;
pub mod family;
pub mod metrics;
pub mod sample;
