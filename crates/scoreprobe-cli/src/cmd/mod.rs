//! One file per subcommand.

pub mod bounds;
pub mod checkpoint;
pub mod demo;
pub mod exact;
pub mod family;
pub mod hodge;
pub mod merge;
pub mod metrics;
pub mod monitor;
pub mod replicates;
pub mod report;
pub mod sample;
pub mod siem;
pub mod study;
pub mod train;
pub mod train_monitor;
