//! The sans-IO engine: mediasoup's worker semantics with no sockets, threads or clock of its
//! own. See `worker::Engine`.

pub mod bwe;
pub mod codecs;
pub mod consumer;
pub mod context;
pub mod data;
pub mod dtls;
pub mod ice;
pub mod ids;
pub mod log;
pub mod message;
pub mod observers;
pub mod producer;
pub mod recorder;
pub mod router;
pub mod rtcp;
pub mod rtp;
pub mod sctp;
pub mod srtp;
pub mod transport;
pub mod worker;
