//! STUN messages (RFC 5389) as ICE-lite needs them: Binding requests in, Binding success and
//! error responses out, MESSAGE-INTEGRITY (HMAC-SHA1) and FINGERPRINT (CRC-32) both ways.
//!
//! Hand-written: the server side of ICE-lite reads four attributes and writes three, and doing
//! it over borrowed bytes keeps the per-check cost to two hashes.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use std::net::SocketAddr;

pub const MAGIC: u32 = 0x2112_A442;
pub const BINDING_REQUEST: u16 = 0x0001;
pub const BINDING_INDICATION: u16 = 0x0011;
pub const BINDING_SUCCESS: u16 = 0x0101;
pub const BINDING_ERROR: u16 = 0x0111;

const ATTR_USERNAME: u16 = 0x0006;
const ATTR_MESSAGE_INTEGRITY: u16 = 0x0008;
const ATTR_ERROR_CODE: u16 = 0x0009;
const ATTR_XOR_MAPPED_ADDRESS: u16 = 0x0020;
const ATTR_PRIORITY: u16 = 0x0024;
const ATTR_USE_CANDIDATE: u16 = 0x0025;
const ATTR_FINGERPRINT: u16 = 0x8028;
const ATTR_ICE_CONTROLLED: u16 = 0x8029;
const ATTR_ICE_CONTROLLING: u16 = 0x802A;
const ATTR_NOMINATION: u16 = 0xC001;

/// Whether the first bytes look like STUN (RFC 7983 demux: first byte 0..=3, magic cookie).
pub fn is_stun(b: &[u8]) -> bool {
    b.len() >= 20 && b[0] < 4 && u32::from_be_bytes([b[4], b[5], b[6], b[7]]) == MAGIC
}

#[derive(Debug, PartialEq, Eq)]
pub enum StunError {
    Malformed,
    BadFingerprint,
}

/// A parsed STUN message borrowing its buffer.
#[derive(Debug)]
pub struct StunMessage<'a> {
    pub buf: &'a [u8],
    pub class_method: u16,
    pub transaction_id: [u8; 12],
    pub username: Option<&'a [u8]>,
    pub priority: Option<u32>,
    pub use_candidate: bool,
    pub nomination: Option<u32>,
    pub ice_controlling: bool,
    pub ice_controlled: bool,
    /// Offset of the MESSAGE-INTEGRITY attribute header, if present.
    mi_off: Option<usize>,
    pub has_fingerprint: bool,
}

fn crc32(data: &[u8]) -> u32 {
    // Bitwise CRC-32 (IEEE, reflected); STUN messages are short and checks are rare.
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("hmac accepts any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

impl<'a> StunMessage<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Self, StunError> {
        if !is_stun(buf) {
            return Err(StunError::Malformed);
        }
        let len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
        if !len.is_multiple_of(4) || buf.len() != 20 + len {
            return Err(StunError::Malformed);
        }
        let mut m = StunMessage {
            buf,
            class_method: u16::from_be_bytes([buf[0], buf[1]]),
            transaction_id: buf[8..20].try_into().unwrap(),
            username: None,
            priority: None,
            use_candidate: false,
            nomination: None,
            ice_controlling: false,
            ice_controlled: false,
            mi_off: None,
            has_fingerprint: false,
        };
        let mut i = 20;
        while i + 4 <= buf.len() {
            let t = u16::from_be_bytes([buf[i], buf[i + 1]]);
            let l = u16::from_be_bytes([buf[i + 2], buf[i + 3]]) as usize;
            let v = i + 4;
            if v + l > buf.len() {
                return Err(StunError::Malformed);
            }
            let val = &buf[v..v + l];
            match t {
                ATTR_USERNAME => m.username = Some(val),
                ATTR_PRIORITY if l == 4 => {
                    m.priority = Some(u32::from_be_bytes(val.try_into().unwrap()))
                }
                ATTR_USE_CANDIDATE => m.use_candidate = true,
                ATTR_NOMINATION if l == 4 => {
                    m.nomination = Some(u32::from_be_bytes(val.try_into().unwrap()) & 0xff_ffff)
                }
                ATTR_ICE_CONTROLLING => m.ice_controlling = true,
                ATTR_ICE_CONTROLLED => m.ice_controlled = true,
                ATTR_MESSAGE_INTEGRITY if l == 20 => m.mi_off = Some(i),
                ATTR_FINGERPRINT if l == 4 => {
                    if v + 4 != buf.len() {
                        return Err(StunError::Malformed);
                    }
                    let want = crc32(&buf[..i]) ^ 0x5354_554e;
                    if u32::from_be_bytes(val.try_into().unwrap()) != want {
                        return Err(StunError::BadFingerprint);
                    }
                    m.has_fingerprint = true;
                }
                _ => {}
            }
            i = v + ((l + 3) & !3);
        }
        Ok(m)
    }

    /// Checks MESSAGE-INTEGRITY with the given short-term password (RFC 5389 §15.4).
    pub fn check_integrity(&self, password: &[u8]) -> bool {
        let Some(off) = self.mi_off else { return false };
        // The length field must cover up to and including MESSAGE-INTEGRITY.
        let adj_len = (off + 24 - 20) as u16;
        let hdr = [
            self.buf[0],
            self.buf[1],
            (adj_len >> 8) as u8,
            adj_len as u8,
        ];
        let mac = hmac_sha1(password, &[&hdr, &self.buf[4..off]]);
        mac[..] == self.buf[off + 4..off + 24]
    }

    pub fn has_integrity(&self) -> bool {
        self.mi_off.is_some()
    }
}

/// Builds STUN messages with MESSAGE-INTEGRITY and FINGERPRINT.
pub struct StunWriter<'b> {
    pub(crate) out: &'b mut Vec<u8>,
    pub(crate) start: usize,
}

impl<'b> StunWriter<'b> {
    pub fn new(out: &'b mut Vec<u8>, class_method: u16, tid: &[u8; 12]) -> Self {
        let start = out.len();
        out.extend_from_slice(&class_method.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&MAGIC.to_be_bytes());
        out.extend_from_slice(tid);
        Self { out, start }
    }
    fn attr(&mut self, t: u16, v: &[u8]) {
        self.out.extend_from_slice(&t.to_be_bytes());
        self.out.extend_from_slice(&(v.len() as u16).to_be_bytes());
        self.out.extend_from_slice(v);
        while !(self.out.len() - self.start).is_multiple_of(4) {
            self.out.push(0);
        }
        self.set_len();
    }
    fn set_len(&mut self) {
        let l = (self.out.len() - self.start - 20) as u16;
        self.out[self.start + 2..self.start + 4].copy_from_slice(&l.to_be_bytes());
    }
    pub fn xor_mapped_address(&mut self, addr: SocketAddr) {
        let mut v = [0u8; 20];
        let port = addr.port() ^ (MAGIC >> 16) as u16;
        v[2..4].copy_from_slice(&port.to_be_bytes());
        let n = match addr {
            SocketAddr::V4(a) => {
                v[1] = 1;
                let ip = u32::from(*a.ip()) ^ MAGIC;
                v[4..8].copy_from_slice(&ip.to_be_bytes());
                8
            }
            SocketAddr::V6(a) => {
                v[1] = 2;
                let mut key = [0u8; 16];
                key[..4].copy_from_slice(&MAGIC.to_be_bytes());
                key[4..].copy_from_slice(&self.out[self.start + 8..self.start + 20]);
                for (k, (o, i)) in v[4..20].iter_mut().zip(a.ip().octets()).enumerate() {
                    *o = i ^ key[k];
                }
                20
            }
        };
        self.attr(ATTR_XOR_MAPPED_ADDRESS, &v[..n]);
    }
    pub fn error_code(&mut self, code: u16, reason: &str) {
        let mut v = vec![0, 0, (code / 100) as u8, (code % 100) as u8];
        v.extend_from_slice(reason.as_bytes());
        self.attr(ATTR_ERROR_CODE, &v);
    }
    pub fn username(&mut self, u: &[u8]) {
        self.attr(ATTR_USERNAME, u);
    }
    /// PRIORITY (RFC 8445 §7.1.1), which every connectivity check carries.
    pub fn priority(&mut self, p: u32) {
        self.attr(ATTR_PRIORITY, &p.to_be_bytes());
    }
    /// USE-CANDIDATE: the controlling agent nominates this pair.
    pub fn use_candidate(&mut self) {
        self.attr(ATTR_USE_CANDIDATE, &[]);
    }
    /// ICE-CONTROLLING or ICE-CONTROLLED with the agent's tie-breaker.
    pub fn ice_role(&mut self, controlling: bool, tie_breaker: u64) {
        let t = if controlling {
            ATTR_ICE_CONTROLLING
        } else {
            ATTR_ICE_CONTROLLED
        };
        self.attr(t, &tie_breaker.to_be_bytes());
    }
    pub fn integrity(&mut self, password: &[u8]) {
        let l = (self.out.len() - self.start - 20 + 24) as u16;
        self.out[self.start + 2..self.start + 4].copy_from_slice(&l.to_be_bytes());
        let mac = hmac_sha1(password, &[&self.out[self.start..]]);
        self.attr(ATTR_MESSAGE_INTEGRITY, &mac);
    }
    pub fn fingerprint(mut self) {
        let l = (self.out.len() - self.start - 20 + 8) as u16;
        self.out[self.start + 2..self.start + 4].copy_from_slice(&l.to_be_bytes());
        let crc = crc32(&self.out[self.start..]) ^ 0x5354_554e;
        self.attr(ATTR_FINGERPRINT, &crc.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn rfc5769_sample_request() {
        // RFC 5769 §2.1, password "VOkJxbRl1RmTxUk/WvJxBt".
        let b = hex("000100582112a442b7e7a701bc34d686fa87dfae\
             802200105354554e207465737420636c69656e74\
             002400046e0001ff80290008932ff9b151263b36\
             000600096576746a3a683676592020200008001\
             49aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2\
             80280004e57a3bcf");
        let m = StunMessage::parse(&b).unwrap();
        assert_eq!(m.class_method, BINDING_REQUEST);
        assert_eq!(m.username, Some(&b"evtj:h6vY"[..]));
        assert_eq!(m.priority, Some(0x6e0001ff));
        assert!(m.ice_controlled && m.has_fingerprint);
        assert!(m.check_integrity(b"VOkJxbRl1RmTxUk/WvJxBt"));
        assert!(!m.check_integrity(b"wrong"));
        let mut bad = b.clone();
        bad[30] ^= 1;
        assert_eq!(
            StunMessage::parse(&bad).unwrap_err(),
            StunError::BadFingerprint
        );
    }

    #[test]
    fn response_roundtrip() {
        let tid = [7u8; 12];
        let mut out = Vec::new();
        let mut w = StunWriter::new(&mut out, BINDING_SUCCESS, &tid);
        w.xor_mapped_address("192.0.2.1:32853".parse().unwrap());
        w.integrity(b"pw");
        w.fingerprint();
        let m = StunMessage::parse(&out).unwrap();
        assert_eq!(m.class_method, BINDING_SUCCESS);
        assert!(m.check_integrity(b"pw"));
        assert!(m.has_fingerprint);
        // XOR-MAPPED-ADDRESS of RFC 5769 §2.2: port 32853 -> 0xa147, 192.0.2.1 -> e112a643.
        assert_eq!(
            &out[24..32],
            &[0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43]
        );
    }
}
