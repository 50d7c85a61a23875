//! The simple consumer: one outgoing stream fed by one encoding of the producer. mediasoup
//! names it `simple`; until layer switching lands (the adaptive-media work adds
//! `simulcast.rs` and `svc.rs` beside this file), consumers of simulcast and SVC producers are
//! simple consumers of encoding 0 that keep mediasoup's type name.
//!
//! Owns only the choice of encoding; the stream state is the consumer's.

pub struct Simple {
    /// mediasoup's type name: `simple`, or `simulcast` / `svc` for what still behaves simply.
    pub type_name: &'static str,
    /// The producer encoding forwarded.
    pub encoding: usize,
}

impl Simple {
    pub fn stream_for(&self, encoding: usize) -> Option<usize> {
        (encoding == self.encoding).then_some(0)
    }
}
