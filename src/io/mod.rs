//! The only place with threads, sockets and the clock.

pub mod sockets;
pub mod worker_thread;
