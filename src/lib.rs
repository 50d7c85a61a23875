//! peerwave-sfu: mediasoup's media worker in Rust, as a Node.js native addon.
//!
//! Three layers (see README "Architecture"): `core` is the sans-IO engine, `io` owns the
//! worker threads, sockets and clock, `binding` is the thin napi-rs surface.

#[cfg(feature = "napi")]
pub mod binding;
pub mod core;
pub mod io;
