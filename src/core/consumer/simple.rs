//! The simple consumer: one outgoing stream fed by one encoding of the producer, forwarded
//! whole. mediasoup names it `simple`.
//!
//! Owns only the choice of encoding; the stream state is the consumer's.

pub struct Simple {
    /// mediasoup's type name: `simple`.
    pub type_name: &'static str,
    /// The producer encoding forwarded.
    pub encoding: usize,
}

impl Simple {
    pub fn stream_for(&self, encoding: usize) -> Option<usize> {
        (encoding == self.encoding).then_some(0)
    }
}
