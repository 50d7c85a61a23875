//! The pipe consumer (`consume({ pipe: true })`, `pipeToRouter`): every encoding of the
//! producer, each on its own outgoing stream with the producer's mapped SSRCs, so that the
//! router at the other end of the pipe sees the producer whole.
//!
//! Owns nothing but this mapping; the stream state is the consumer's.

pub struct Pipe;

impl Pipe {
    /// Encoding i goes out on stream i, if the consumer has that many streams.
    pub fn stream_for(&self, encoding: usize, streams: usize) -> Option<usize> {
        (encoding < streams).then_some(encoding)
    }
}
