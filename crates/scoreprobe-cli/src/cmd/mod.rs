//! One file per subcommand.

pub mod demo;
pub mod exact;
pub mod family;
pub mod metrics;
pub mod sample;
pub mod study;
pub mod train;
pub mod siem;
pub mod hodge;
pub mod bounds;
