//! Live systems: a small HTTP/1.1 server on `std::net` ([`http`]; the client is `fetch`), the `collect`
//! engine ([`collect`]: fetch, check, retry, hold while writes fail), the evidence `watch` gathers
//! on a first alert ([`evidence`]), the dashboard's server loop
//! ([`serve`]) and Ctrl-C handling ([`signal`]); files are written whole through `files`.
//!
//! May import: `model`, `formats` (to check what was fetched), `fetch`, `units`, `files`. Touches the network,
//! files and signals; logs to stderr.

pub mod collect;
pub mod evidence;
pub mod http;
pub mod serve;
pub mod signal;
