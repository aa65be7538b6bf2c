//! healthprobe as a library: the pure parts (`cli`, `target`, `report`) and
//! the probe itself, so that tests and fuzz targets reach them directly. The
//! executable is `src/main.rs`.

pub mod arena;
pub mod cli;
pub mod config;
pub mod connect;
pub mod file;
#[cfg(feature = "tls")]
pub mod identity;
pub mod json;
pub mod probe;
pub mod report;
pub mod run;
pub mod scheme;
pub mod target;
pub mod watchdog;
