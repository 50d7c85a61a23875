//! The simple consumer: one outgoing stream fed by one encoding of the producer. mediasoup
//! names it `simple`; until `svc.rs` lands beside this file, consumers of SVC producers are
//! simple consumers of encoding 0 (forwarding every layer) that keep mediasoup's type name.
//!
//! Owns only the choice of encoding; the stream state is the consumer's.

pub struct Simple {
    /// mediasoup's type name: `simple`, or `svc` for what still behaves simply.
    pub type_name: &'static str,
    /// The producer encoding forwarded.
    pub encoding: usize,
}

impl Simple {
    pub fn stream_for(&self, encoding: usize) -> Option<usize> {
        (encoding == self.encoding).then_some(0)
    }
}
