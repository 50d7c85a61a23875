//! Zero-copy RTP packet view (RFC 3550 §5.1, header extensions RFC 8285).
//!
//! Written by hand rather than taken from the `rtp` crate: the forwarding path parses every
//! packet and rewrites a handful of header fields; a borrowed view does that without the
//! allocation and re-serialisation that the crate's owned `Packet` needs.

/// Error for a buffer that is not a well-formed RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// A parsed view over an RTP packet held in a byte slice.
#[derive(Debug, Clone, Copy)]
pub struct RtpView<'a> {
    pub buf: &'a [u8],
    /// Offset of the header extension's data (after its 4-byte profile header), if any.
    ext_off: usize,
    ext_len: usize,
    ext_profile: u16,
    pub payload_off: usize,
    pub payload_len: usize,
}

impl<'a> RtpView<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Self, Malformed> {
        if buf.len() < 12 || buf[0] >> 6 != 2 {
            return Err(Malformed);
        }
        let cc = (buf[0] & 0x0f) as usize;
        let mut off = 12 + cc * 4;
        if buf.len() < off {
            return Err(Malformed);
        }
        let (mut ext_off, mut ext_len, mut ext_profile) = (0, 0, 0);
        if buf[0] & 0x10 != 0 {
            if buf.len() < off + 4 {
                return Err(Malformed);
            }
            ext_profile = u16::from_be_bytes([buf[off], buf[off + 1]]);
            ext_len = u16::from_be_bytes([buf[off + 2], buf[off + 3]]) as usize * 4;
            ext_off = off + 4;
            off = ext_off + ext_len;
            if buf.len() < off {
                return Err(Malformed);
            }
        }
        let mut end = buf.len();
        if buf[0] & 0x20 != 0 {
            let pad = buf[end - 1] as usize;
            if pad == 0 || end - off < pad {
                return Err(Malformed);
            }
            end -= pad;
        }
        Ok(Self {
            buf,
            ext_off,
            ext_len,
            ext_profile,
            payload_off: off,
            payload_len: end - off,
        })
    }

    pub fn marker(&self) -> bool {
        self.buf[1] & 0x80 != 0
    }
    pub fn payload_type(&self) -> u8 {
        self.buf[1] & 0x7f
    }
    pub fn seq(&self) -> u16 {
        u16::from_be_bytes([self.buf[2], self.buf[3]])
    }
    pub fn timestamp(&self) -> u32 {
        u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]])
    }
    pub fn ssrc(&self) -> u32 {
        u32::from_be_bytes([self.buf[8], self.buf[9], self.buf[10], self.buf[11]])
    }
    pub fn csrcs(&self) -> &'a [u8] {
        let cc = (self.buf[0] & 0x0f) as usize;
        &self.buf[12..12 + cc * 4]
    }
    pub fn payload(&self) -> &'a [u8] {
        &self.buf[self.payload_off..self.payload_off + self.payload_len]
    }
    pub fn header_len(&self) -> usize {
        self.payload_off
    }
    pub fn has_extensions(&self) -> bool {
        self.ext_len > 0
    }

    /// Value of the header extension with the given id (one-byte or two-byte form).
    pub fn extension(&self, id: u8) -> Option<&'a [u8]> {
        if id == 0 || self.ext_len == 0 {
            return None;
        }
        let data = &self.buf[self.ext_off..self.ext_off + self.ext_len];
        let mut i = 0;
        if self.ext_profile == 0xBEDE {
            while i < data.len() {
                let b = data[i];
                if b == 0 {
                    i += 1;
                    continue;
                }
                let eid = b >> 4;
                if eid == 15 {
                    return None;
                }
                let len = (b & 0x0f) as usize + 1;
                if i + 1 + len > data.len() {
                    return None;
                }
                if eid == id {
                    return Some(&data[i + 1..i + 1 + len]);
                }
                i += 1 + len;
            }
        } else if self.ext_profile & 0xfff0 == 0x1000 {
            while i + 1 < data.len() {
                let eid = data[i];
                if eid == 0 {
                    i += 1;
                    continue;
                }
                let len = data[i + 1] as usize;
                if i + 2 + len > data.len() {
                    return None;
                }
                if eid == id {
                    return Some(&data[i + 2..i + 2 + len]);
                }
                i += 2 + len;
            }
        }
        None
    }
}

/// Writes RTP header extensions, choosing the one-byte form when every element fits it.
pub struct ExtWriter<'b> {
    buf: &'b mut [u8],
    start: usize,
    pos: usize,
    two_byte: bool,
}

impl<'b> ExtWriter<'b> {
    /// `start` is where the 4-byte extension header goes. `two_byte` must be decided up front.
    pub fn new(buf: &'b mut [u8], start: usize, two_byte: bool) -> Self {
        Self {
            buf,
            start,
            pos: start + 4,
            two_byte,
        }
    }
    pub fn push(&mut self, id: u8, value: &[u8]) -> bool {
        let need = value.len() + if self.two_byte { 2 } else { 1 };
        if value.is_empty() && !self.two_byte || self.pos + need > self.buf.len() {
            return false;
        }
        if self.two_byte {
            self.buf[self.pos] = id;
            self.buf[self.pos + 1] = value.len() as u8;
            self.pos += 2;
        } else {
            self.buf[self.pos] = (id << 4) | (value.len() as u8 - 1);
            self.pos += 1;
        }
        self.buf[self.pos..self.pos + value.len()].copy_from_slice(value);
        self.pos += value.len();
        true
    }
    /// Pads to a 32-bit boundary, writes the extension header; returns the end offset, or
    /// `start` when no element was written (the caller then clears the X bit).
    pub fn finish(self) -> usize {
        if self.pos == self.start + 4 {
            return self.start;
        }
        let mut end = self.pos;
        while !(end - self.start).is_multiple_of(4) {
            self.buf[end] = 0;
            end += 1;
        }
        let words = ((end - self.start - 4) / 4) as u16;
        let profile: u16 = if self.two_byte { 0x1000 } else { 0xBEDE };
        self.buf[self.start..self.start + 2].copy_from_slice(&profile.to_be_bytes());
        self.buf[self.start + 2..self.start + 4].copy_from_slice(&words.to_be_bytes());
        end
    }
}

pub fn set_seq(buf: &mut [u8], seq: u16) {
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
}
pub fn set_timestamp(buf: &mut [u8], ts: u32) {
    buf[4..8].copy_from_slice(&ts.to_be_bytes());
}
pub fn set_ssrc(buf: &mut [u8], ssrc: u32) {
    buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
}

/// Whether a datagram looks like RTCP rather than RTP (RFC 5761 §4: PT 192..=223 in the
/// second byte with the marker bit).
pub fn is_rtcp(buf: &[u8]) -> bool {
    buf.len() >= 4 && buf[0] >> 6 == 2 && (192..=223).contains(&buf[1])
}

/// Extends 16-bit sequence numbers to 64 bits so wrap-around is a non-event.
#[derive(Debug, Default, Clone, Copy)]
pub struct SeqExtender {
    started: bool,
    highest: u64,
}

impl SeqExtender {
    /// Returns the extended value of `seq` relative to the highest one seen.
    pub fn extend(&mut self, seq: u16) -> u64 {
        if !self.started {
            self.started = true;
            // Start one cycle in so that slightly older packets stay positive.
            self.highest = (1u64 << 16) + seq as u64;
            return self.highest;
        }
        let base = self.highest & !0xffff;
        let mut cand = base + seq as u64;
        let diff = cand as i64 - self.highest as i64;
        if diff > 0x8000 {
            cand -= 0x10000;
        } else if diff < -0x8000 {
            cand += 0x10000;
        }
        if cand > self.highest {
            self.highest = cand;
        }
        cand
    }
    pub fn highest(&self) -> u64 {
        self.highest
    }
    pub fn started(&self) -> bool {
        self.started
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // V=2, X=1, PT=96, seq=0x1234, ts=0xdeadbeef, ssrc=0x11223344, one-byte ext:
    // id 1 (len 1) = 0xaa, id 3 (len 2) = 0xbb 0xcc, payload 3 bytes.
    const PKT: [u8; 24] = [
        0x90, 0x60, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0x11, 0x22, 0x33, 0x44, 0xbe, 0xde, 0x00,
        0x02, 0x10, 0xaa, 0x31, 0xbb, 0xcc, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn parses_header_and_one_byte_extensions() {
        let mut p = PKT.to_vec();
        p.extend_from_slice(&[1, 2, 3]);
        let v = RtpView::parse(&p).unwrap();
        assert_eq!(v.payload_type(), 96);
        assert_eq!(v.seq(), 0x1234);
        assert_eq!(v.timestamp(), 0xdeadbeef);
        assert_eq!(v.ssrc(), 0x11223344);
        assert_eq!(v.extension(1), Some(&[0xaa][..]));
        assert_eq!(v.extension(3), Some(&[0xbb, 0xcc][..]));
        assert_eq!(v.extension(2), None);
        assert_eq!(v.payload(), &[1, 2, 3]);
    }

    #[test]
    fn rejects_truncated_and_bad_padding() {
        assert_eq!(RtpView::parse(&PKT[..14]).unwrap_err(), Malformed);
        let mut p = vec![0xa0, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 9, 9];
        p.push(200); // padding length larger than the packet
        assert!(RtpView::parse(&p).is_err());
        let mut p = vec![0xa0, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 9, 9, 0, 2];
        assert_eq!(RtpView::parse(&p).unwrap().payload(), &[9, 9]);
        p[15] = 0;
        assert!(RtpView::parse(&p).is_err());
    }

    #[test]
    fn two_byte_extension_roundtrip() {
        let mut buf = [0u8; 64];
        let mut w = ExtWriter::new(&mut buf, 12, true);
        assert!(w.push(20, b"hello"));
        assert!(w.push(2, &[]));
        let end = w.finish();
        buf[0] = 0x90;
        let v = RtpView::parse(&buf[..end]).unwrap();
        assert_eq!(v.extension(20), Some(&b"hello"[..]));
        assert_eq!(v.extension(2), Some(&[][..]));
    }

    #[test]
    fn seq_extender_wraps() {
        let mut e = SeqExtender::default();
        let a = e.extend(65534);
        let b = e.extend(65535);
        let c = e.extend(0);
        let d = e.extend(65533); // late packet from before the wrap
        assert_eq!(b, a + 1);
        assert_eq!(c, a + 2);
        assert_eq!(d, a - 1);
        assert_eq!(e.highest(), c);
    }

    #[test]
    fn rtcp_demux() {
        assert!(is_rtcp(&[0x80, 200, 0, 6]));
        assert!(!is_rtcp(&[0x80, 96, 0, 6]));
        assert!(!is_rtcp(&[0x80, 0xe0, 0, 6])); // PT 96 with marker
    }
}
