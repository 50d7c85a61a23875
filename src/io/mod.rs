//! The only place with threads, sockets and the clock.

pub mod files;
pub mod sockets;
pub mod worker_thread;
