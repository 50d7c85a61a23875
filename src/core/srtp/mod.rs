//! SRTP and SRTCP (RFC 3711) with the AES-GCM AEAD profiles (RFC 7714) and the AES-CM /
//! HMAC-SHA1 profiles, protecting and unprotecting in place.
//!
//! Written by hand over OpenSSL's EVP ciphers (already linked for DTLS) and RustCrypto's HMAC:
//! libsrtp is not packaged with GCM on Debian, and the `rtc-srtp` crate allocates per packet.

use hmac::{Hmac, Mac};
use openssl::cipher::{Cipher, CipherRef};
use openssl::cipher_ctx::CipherCtx;
use rustc_hash::FxHashMap as HashMap;
use sha1::Sha1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SrtpProfile {
    AeadAes256Gcm,
    AeadAes128Gcm,
    AesCm128HmacSha1_80,
    AesCm128HmacSha1_32,
}

impl SrtpProfile {
    pub fn from_openssl_name(n: &str) -> Option<Self> {
        Some(match n {
            "SRTP_AEAD_AES_256_GCM" => Self::AeadAes256Gcm,
            "SRTP_AEAD_AES_128_GCM" => Self::AeadAes128Gcm,
            "SRTP_AES128_CM_SHA1_80" => Self::AesCm128HmacSha1_80,
            "SRTP_AES128_CM_SHA1_32" => Self::AesCm128HmacSha1_32,
            _ => return None,
        })
    }
    /// mediasoup's name (`SrtpCryptoSuite`).
    pub fn name(self) -> &'static str {
        match self {
            Self::AeadAes256Gcm => "AEAD_AES_256_GCM",
            Self::AeadAes128Gcm => "AEAD_AES_128_GCM",
            Self::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Self::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }
    pub fn from_name(n: &str) -> Option<Self> {
        [
            Self::AeadAes256Gcm,
            Self::AeadAes128Gcm,
            Self::AesCm128HmacSha1_80,
            Self::AesCm128HmacSha1_32,
        ]
        .into_iter()
        .find(|p| p.name() == n)
    }
    pub fn key_len(self) -> usize {
        if self == Self::AeadAes256Gcm {
            32
        } else {
            16
        }
    }
    pub fn salt_len(self) -> usize {
        if self.is_gcm() {
            12
        } else {
            14
        }
    }
    pub fn is_gcm(self) -> bool {
        matches!(self, Self::AeadAes256Gcm | Self::AeadAes128Gcm)
    }
    fn rtp_tag_len(self) -> usize {
        match self {
            Self::AeadAes256Gcm | Self::AeadAes128Gcm => 16,
            Self::AesCm128HmacSha1_80 => 10,
            Self::AesCm128HmacSha1_32 => 4,
        }
    }
    fn rtcp_tag_len(self) -> usize {
        if self.is_gcm() {
            16
        } else {
            10
        }
    }
    fn ctr_cipher(self) -> &'static CipherRef {
        if self == Self::AeadAes256Gcm {
            Cipher::aes_256_ctr()
        } else {
            Cipher::aes_128_ctr()
        }
    }
    fn gcm_cipher(self) -> &'static CipherRef {
        if self == Self::AeadAes256Gcm {
            Cipher::aes_256_gcm()
        } else {
            Cipher::aes_128_gcm()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SrtpError {
    Malformed,
    AuthFailed,
    Replayed,
    Crypto,
}

/// RFC 3711 §4.3.1 key derivation with key_derivation_rate 0.
fn derive(
    profile: SrtpProfile,
    master_key: &[u8],
    master_salt: &[u8],
    label: u8,
    out: &mut [u8],
) -> Result<(), SrtpError> {
    let mut iv = [0u8; 16];
    iv[..master_salt.len()].copy_from_slice(master_salt);
    iv[7] ^= label;
    let mut ctx = CipherCtx::new().map_err(|_| SrtpError::Crypto)?;
    ctx.encrypt_init(Some(profile.ctr_cipher()), Some(master_key), Some(&iv))
        .map_err(|_| SrtpError::Crypto)?;
    out.fill(0);
    let n = out.len();
    ctx.cipher_update_inplace(out, n)
        .map_err(|_| SrtpError::Crypto)?;
    Ok(())
}

struct SessionKeys {
    cipher: CipherCtx,
    salt: [u8; 14],
    auth: Option<Hmac<Sha1>>,
}

impl SessionKeys {
    fn new(
        profile: SrtpProfile,
        mk: &[u8],
        ms: &[u8],
        base_label: u8,
        encrypt: bool,
    ) -> Result<Self, SrtpError> {
        let mut key = [0u8; 32];
        let key = &mut key[..profile.key_len()];
        derive(profile, mk, ms, base_label, key)?;
        let mut salt = [0u8; 14];
        derive(
            profile,
            mk,
            ms,
            base_label + 2,
            &mut salt[..profile.salt_len()],
        )?;
        let mut auth = [0u8; 20];
        if !profile.is_gcm() {
            derive(profile, mk, ms, base_label + 1, &mut auth)?;
        }
        Self::from_session(profile, key, &salt[..profile.salt_len()], &auth, encrypt)
    }

    /// From already derived session keys (RFC 7714's test vectors are given this way).
    fn from_session(
        profile: SrtpProfile,
        key: &[u8],
        salt: &[u8],
        auth_key: &[u8],
        encrypt: bool,
    ) -> Result<Self, SrtpError> {
        let mut s = [0u8; 14];
        s[..salt.len()].copy_from_slice(salt);
        let mut cipher = CipherCtx::new().map_err(|_| SrtpError::Crypto)?;
        let c = if profile.is_gcm() {
            profile.gcm_cipher()
        } else {
            profile.ctr_cipher()
        };
        // CTR decryption is encryption; GCM needs the direction for tag handling.
        if encrypt || !profile.is_gcm() {
            cipher
                .encrypt_init(Some(c), Some(key), None)
                .map_err(|_| SrtpError::Crypto)?;
        } else {
            cipher
                .decrypt_init(Some(c), Some(key), None)
                .map_err(|_| SrtpError::Crypto)?;
        }
        let auth = if profile.is_gcm() {
            None
        } else {
            Some(Hmac::<Sha1>::new_from_slice(auth_key).map_err(|_| SrtpError::Crypto)?)
        };
        Ok(Self {
            cipher,
            salt: s,
            auth,
        })
    }

    fn hmac(&self, parts: &[&[u8]]) -> [u8; 20] {
        let mut m = self.auth.clone().expect("CM profile has an auth key");
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }
}

/// Per-SSRC rollover counter and replay window (RFC 3711 §3.3.1, §3.3.2).
#[derive(Default, Clone, Copy)]
struct StreamIndex {
    started: bool,
    roc: u32,
    s_l: u16,
    window: u64,
}

impl StreamIndex {
    fn guess(&self, seq: u16) -> u64 {
        if !self.started {
            return seq as u64;
        }
        let v = if self.s_l < 32768 {
            if seq as i32 - self.s_l as i32 > 32768 {
                self.roc.wrapping_sub(1)
            } else {
                self.roc
            }
        } else if (self.s_l as i32 - 32768) > seq as i32 {
            self.roc.wrapping_add(1)
        } else {
            self.roc
        };
        ((v as u64) << 16) | seq as u64
    }
    fn highest(&self) -> u64 {
        ((self.roc as u64) << 16) | self.s_l as u64
    }
    fn check_replay(&self, idx: u64) -> bool {
        if !self.started || idx > self.highest() {
            return true;
        }
        let d = self.highest() - idx;
        d < 64 && self.window & (1 << d) == 0
    }
    fn commit(&mut self, idx: u64) {
        if !self.started {
            self.started = true;
            self.roc = (idx >> 16) as u32;
            self.s_l = idx as u16;
            self.window = 1;
            return;
        }
        let h = self.highest();
        if idx > h {
            let d = idx - h;
            self.window = if d >= 64 { 1 } else { (self.window << d) | 1 };
            self.roc = (idx >> 16) as u32;
            self.s_l = idx as u16;
        } else {
            let d = h - idx;
            if d < 64 {
                self.window |= 1 << d;
            }
        }
    }
}

/// One direction of an SRTP session (all SSRCs of that direction).
pub struct SrtpContext {
    profile: SrtpProfile,
    rtp: SessionKeys,
    rtcp: SessionKeys,
    streams: HashMap<u32, StreamIndex>,
    rtcp_index: u32,
    rtcp_replay: HashMap<u32, StreamIndex>,
    encrypt: bool,
}

impl SrtpContext {
    /// `key` is master key followed by master salt, as exported by DTLS-SRTP or signalled in
    /// `srtpParameters.keyBase64`.
    pub fn new(profile: SrtpProfile, key: &[u8], encrypt: bool) -> Result<Self, SrtpError> {
        if key.len() != profile.key_len() + profile.salt_len() {
            return Err(SrtpError::Malformed);
        }
        let (mk, ms) = key.split_at(profile.key_len());
        Ok(Self {
            profile,
            rtp: SessionKeys::new(profile, mk, ms, 0, encrypt)?,
            rtcp: SessionKeys::new(profile, mk, ms, 3, encrypt)?,
            streams: HashMap::default(),
            rtcp_index: 0,
            rtcp_replay: HashMap::default(),
            encrypt,
        })
    }

    #[cfg(test)]
    fn from_session_keys(profile: SrtpProfile, key: &[u8], salt: &[u8], encrypt: bool) -> Self {
        Self {
            profile,
            rtp: SessionKeys::from_session(profile, key, salt, &[0; 20], encrypt).unwrap(),
            rtcp: SessionKeys::from_session(profile, key, salt, &[0; 20], encrypt).unwrap(),
            streams: HashMap::default(),
            rtcp_index: 0,
            rtcp_replay: HashMap::default(),
            encrypt,
        }
    }

    pub fn profile(&self) -> SrtpProfile {
        self.profile
    }

    fn gcm_iv(salt: &[u8; 14], ssrc: u32, hi: u32, lo: u32) -> [u8; 12] {
        let mut iv = [0u8; 12];
        iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
        iv[6..10].copy_from_slice(&hi.to_be_bytes());
        iv[10..12].copy_from_slice(&(lo as u16).to_be_bytes());
        for (i, b) in iv.iter_mut().enumerate() {
            *b ^= salt[i];
        }
        iv
    }

    fn cm_iv(salt: &[u8; 14], ssrc: u32, index: u64) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv[..14].copy_from_slice(salt);
        for (i, b) in ssrc.to_be_bytes().iter().enumerate() {
            iv[4 + i] ^= b;
        }
        for (i, b) in index.to_be_bytes()[2..].iter().enumerate() {
            iv[8 + i] ^= b;
        }
        iv
    }

    fn rtp_header_len(buf: &[u8]) -> Result<usize, SrtpError> {
        if buf.len() < 12 {
            return Err(SrtpError::Malformed);
        }
        let mut off = 12 + (buf[0] & 0x0f) as usize * 4;
        if buf[0] & 0x10 != 0 {
            if buf.len() < off + 4 {
                return Err(SrtpError::Malformed);
            }
            off += 4 + u16::from_be_bytes([buf[off + 2], buf[off + 3]]) as usize * 4;
        }
        if off > buf.len() {
            return Err(SrtpError::Malformed);
        }
        Ok(off)
    }

    /// Encrypts an RTP packet in place and appends the tag.
    pub fn protect_rtp(&mut self, pkt: &mut Vec<u8>) -> Result<(), SrtpError> {
        debug_assert!(self.encrypt);
        let hl = Self::rtp_header_len(pkt)?;
        let seq = u16::from_be_bytes([pkt[2], pkt[3]]);
        let ssrc = u32::from_be_bytes([pkt[8], pkt[9], pkt[10], pkt[11]]);
        let st = self.streams.entry(ssrc).or_default();
        let idx = st.guess(seq);
        st.commit(idx);
        let roc = (idx >> 16) as u32;
        let len = pkt.len();
        let e = |_| SrtpError::Crypto;
        if self.profile.is_gcm() {
            let iv = Self::gcm_iv(&self.rtp.salt, ssrc, roc, seq as u32);
            let c = &mut self.rtp.cipher;
            c.encrypt_init(None, None, Some(&iv)).map_err(e)?;
            c.cipher_update(&pkt[..hl], None).map_err(e)?;
            c.cipher_update_inplace(&mut pkt[hl..], len - hl)
                .map_err(e)?;
            c.cipher_final(&mut []).map_err(e)?;
            let mut tag = [0u8; 16];
            c.tag(&mut tag).map_err(e)?;
            pkt.extend_from_slice(&tag);
        } else {
            let iv = Self::cm_iv(&self.rtp.salt, ssrc, idx);
            let c = &mut self.rtp.cipher;
            c.encrypt_init(None, None, Some(&iv)).map_err(e)?;
            c.cipher_update_inplace(&mut pkt[hl..], len - hl)
                .map_err(e)?;
            let tag = self.rtp.hmac(&[&pkt[..], &roc.to_be_bytes()]);
            pkt.extend_from_slice(&tag[..self.profile.rtp_tag_len()]);
        }
        Ok(())
    }

    /// Authenticates and decrypts an SRTP packet in place; returns the RTP length.
    pub fn unprotect_rtp(&mut self, pkt: &mut [u8]) -> Result<usize, SrtpError> {
        let tl = self.profile.rtp_tag_len();
        let hl = Self::rtp_header_len(pkt)?;
        if pkt.len() < hl + tl {
            return Err(SrtpError::Malformed);
        }
        let seq = u16::from_be_bytes([pkt[2], pkt[3]]);
        let ssrc = u32::from_be_bytes([pkt[8], pkt[9], pkt[10], pkt[11]]);
        let st = self.streams.get(&ssrc).copied().unwrap_or_default();
        let idx = st.guess(seq);
        if !st.check_replay(idx) {
            return Err(SrtpError::Replayed);
        }
        let roc = (idx >> 16) as u32;
        let end = pkt.len() - tl;
        let e = |_| SrtpError::Crypto;
        if self.profile.is_gcm() {
            let iv = Self::gcm_iv(&self.rtp.salt, ssrc, roc, seq as u32);
            let (body, tag) = pkt.split_at_mut(end);
            let c = &mut self.rtp.cipher;
            c.decrypt_init(None, None, Some(&iv)).map_err(e)?;
            c.set_tag(tag).map_err(e)?;
            c.cipher_update(&body[..hl], None).map_err(e)?;
            c.cipher_update_inplace(&mut body[hl..], end - hl)
                .map_err(e)?;
            c.cipher_final(&mut []).map_err(|_| SrtpError::AuthFailed)?;
        } else {
            let tag = self.rtp.hmac(&[&pkt[..end], &roc.to_be_bytes()]);
            if !constant_eq(&tag[..tl], &pkt[end..]) {
                return Err(SrtpError::AuthFailed);
            }
            let iv = Self::cm_iv(&self.rtp.salt, ssrc, idx);
            let c = &mut self.rtp.cipher;
            c.encrypt_init(None, None, Some(&iv)).map_err(e)?;
            c.cipher_update_inplace(&mut pkt[hl..end], end - hl)
                .map_err(e)?;
        }
        self.streams.entry(ssrc).or_default().commit(idx);
        Ok(end)
    }

    /// Encrypts an RTCP compound packet in place, appending tag and E|index.
    pub fn protect_rtcp(&mut self, pkt: &mut Vec<u8>) -> Result<(), SrtpError> {
        if pkt.len() < 8 {
            return Err(SrtpError::Malformed);
        }
        self.rtcp_index = (self.rtcp_index + 1) & 0x7fff_ffff;
        let index = self.rtcp_index;
        let ssrc = u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]);
        let eidx = (index | 0x8000_0000).to_be_bytes();
        let len = pkt.len();
        let e = |_| SrtpError::Crypto;
        if self.profile.is_gcm() {
            let iv = Self::gcm_iv(&self.rtcp.salt, ssrc, index >> 16, index & 0xffff);
            let c = &mut self.rtcp.cipher;
            c.encrypt_init(None, None, Some(&iv)).map_err(e)?;
            c.cipher_update(&pkt[..8], None).map_err(e)?;
            c.cipher_update(&eidx, None).map_err(e)?;
            c.cipher_update_inplace(&mut pkt[8..], len - 8).map_err(e)?;
            c.cipher_final(&mut []).map_err(e)?;
            let mut tag = [0u8; 16];
            c.tag(&mut tag).map_err(e)?;
            pkt.extend_from_slice(&tag);
            pkt.extend_from_slice(&eidx);
        } else {
            let iv = Self::cm_iv(&self.rtcp.salt, ssrc, index as u64);
            let c = &mut self.rtcp.cipher;
            c.encrypt_init(None, None, Some(&iv)).map_err(e)?;
            c.cipher_update_inplace(&mut pkt[8..], len - 8).map_err(e)?;
            pkt.extend_from_slice(&eidx);
            let tag = self.rtcp.hmac(&[&pkt[..]]);
            pkt.extend_from_slice(&tag[..self.profile.rtcp_tag_len()]);
        }
        Ok(())
    }

    /// Authenticates and decrypts an SRTCP packet in place; returns the RTCP length.
    pub fn unprotect_rtcp(&mut self, pkt: &mut [u8]) -> Result<usize, SrtpError> {
        let tl = self.profile.rtcp_tag_len();
        if pkt.len() < 8 + 4 + tl {
            return Err(SrtpError::Malformed);
        }
        let ssrc = u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]);
        let e = |_| SrtpError::Crypto;
        let (eidx_at, tag_at) = if self.profile.is_gcm() {
            (pkt.len() - 4, pkt.len() - 4 - tl)
        } else {
            (pkt.len() - tl - 4, pkt.len() - tl)
        };
        let eidx: [u8; 4] = pkt[eidx_at..eidx_at + 4].try_into().unwrap();
        let word = u32::from_be_bytes(eidx);
        let encrypted = word & 0x8000_0000 != 0;
        let index = word & 0x7fff_ffff;
        let st = self.rtcp_replay.get(&ssrc).copied().unwrap_or_default();
        if st.started && !st.check_replay(index as u64) {
            return Err(SrtpError::Replayed);
        }
        let end;
        if self.profile.is_gcm() {
            end = tag_at;
            let iv = Self::gcm_iv(&self.rtcp.salt, ssrc, index >> 16, index & 0xffff);
            let (body, rest) = pkt.split_at_mut(tag_at);
            let c = &mut self.rtcp.cipher;
            c.decrypt_init(None, None, Some(&iv)).map_err(e)?;
            c.set_tag(&rest[..tl]).map_err(e)?;
            if encrypted {
                c.cipher_update(&body[..8], None).map_err(e)?;
                c.cipher_update(&eidx, None).map_err(e)?;
                c.cipher_update_inplace(&mut body[8..], end - 8)
                    .map_err(e)?;
            } else {
                c.cipher_update(&body[..], None).map_err(e)?;
                c.cipher_update(&eidx, None).map_err(e)?;
            }
            c.cipher_final(&mut []).map_err(|_| SrtpError::AuthFailed)?;
        } else {
            end = eidx_at;
            let tag = self.rtcp.hmac(&[&pkt[..tag_at]]);
            if !constant_eq(&tag[..tl], &pkt[tag_at..]) {
                return Err(SrtpError::AuthFailed);
            }
            if encrypted {
                let iv = Self::cm_iv(&self.rtcp.salt, ssrc, index as u64);
                let c = &mut self.rtcp.cipher;
                c.encrypt_init(None, None, Some(&iv)).map_err(e)?;
                c.cipher_update_inplace(&mut pkt[8..end], end - 8)
                    .map_err(e)?;
            }
        }
        // The SRTCP index is 31 bits; the shared replay window treats it as an extended index.
        let mut st = st;
        st.commit(index as u64);
        self.rtcp_replay.insert(ssrc, st);
        Ok(end)
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn rfc3711_b3_key_derivation() {
        let mk = hex("E1F97A0D3E018BE0D64FA32C06DE4139");
        let ms = hex("0EC675AD498AFEEBB6960B3AABE6");
        let p = SrtpProfile::AesCm128HmacSha1_80;
        let mut k = [0u8; 16];
        derive(p, &mk, &ms, 0, &mut k).unwrap();
        assert_eq!(k.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
        let mut s = [0u8; 14];
        derive(p, &mk, &ms, 2, &mut s).unwrap();
        assert_eq!(s.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
        let mut a = [0u8; 20];
        derive(p, &mk, &ms, 1, &mut a).unwrap();
        assert_eq!(a.to_vec(), hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4"));
    }

    #[test]
    fn rfc3711_b2_aes_cm_keystream() {
        // Session key 2B7E151628AED2A6ABF7158809CF4F3C, salt F0F1F2F3F4F5F6F7F8F9FAFBFCFD,
        // SSRC 0 and index 0: the first keystream block is E03EAD0935C95E80E166B16DD92B4EB4.
        let key = hex("2B7E151628AED2A6ABF7158809CF4F3C");
        let salt: [u8; 14] = hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD").try_into().unwrap();
        let iv = SrtpContext::cm_iv(&salt, 0, 0);
        let mut c = CipherCtx::new().unwrap();
        c.encrypt_init(Some(Cipher::aes_128_ctr()), Some(&key), Some(&iv))
            .unwrap();
        let mut ks = [0u8; 32];
        c.cipher_update_inplace(&mut ks, 32).unwrap();
        assert_eq!(ks[..16].to_vec(), hex("E03EAD0935C95E80E166B16DD92B4EB4"));
        assert_eq!(ks[16..].to_vec(), hex("D23513162B02D0F72A43A2FE4A5F97AB"));
    }

    /// RFC 7714 §16: "Gallia est omnis divisa in partes tres", SSRC 0x5501a0b2, seq 0xf17b,
    /// given session key 00..0f (or 00..1f) and salt "Quid pro quo".
    #[test]
    fn rfc7714_gcm_vectors() {
        let rtp = hex("8040f17b8041f8d35501a0b247616c6c696120657374206f6d6e69732064697669736120696e207061727465732074726573");
        let salt = hex("517569642070726f2071756f");
        for (profile, key, expected) in [
            (
                SrtpProfile::AeadAes128Gcm,
                hex("000102030405060708090a0b0c0d0e0f"),
                "8040f17b8041f8d35501a0b2f24de3a3fb34de6cacba861c9d7e4bcabe633bd50d294e6f42a5f47a51c7d19b36de3adf8833899d7f27beb16a9152cf765ee4390cce",
            ),
            (
                SrtpProfile::AeadAes256Gcm,
                hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
                "8040f17b8041f8d35501a0b232b1de78a822fe12ef9f78fa332e33aab18012389a58e2f3b50b2a0276ffae0f1ba63799b87b7aa3db36dfffd6b0f9bb7878d7a76c13",
            ),
        ] {
            let mut tx = SrtpContext::from_session_keys(profile, &key, &salt, true);
            let mut pkt = rtp.clone();
            tx.protect_rtp(&mut pkt).unwrap();
            assert_eq!(pkt, hex(expected), "{profile:?}");
            let mut rx = SrtpContext::from_session_keys(profile, &key, &salt, false);
            let n = rx.unprotect_rtp(&mut pkt).unwrap();
            assert_eq!(&pkt[..n], &rtp[..]);
        }
    }

    fn rtp(seq: u16, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, 96, 0, 0, 0, 0, 0, 1, 0xca, 0xfe, 0xba, 0xbe];
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn every_profile_roundtrips_rtp_and_rtcp_and_detects_tampering() {
        for p in [
            SrtpProfile::AeadAes256Gcm,
            SrtpProfile::AeadAes128Gcm,
            SrtpProfile::AesCm128HmacSha1_80,
            SrtpProfile::AesCm128HmacSha1_32,
        ] {
            let key: Vec<u8> = (0..(p.key_len() + p.salt_len()) as u8).collect();
            let mut tx = SrtpContext::new(p, &key, true).unwrap();
            let mut rx = SrtpContext::new(p, &key, false).unwrap();
            for seq in [65534u16, 65535, 0, 1] {
                let plain = rtp(seq, b"hello world payload");
                let mut pkt = plain.clone();
                tx.protect_rtp(&mut pkt).unwrap();
                assert_ne!(pkt[12..31], plain[12..]);
                let mut copy = pkt.clone();
                let n = rx.unprotect_rtp(&mut copy).unwrap();
                assert_eq!(&copy[..n], &plain[..], "{p:?} seq {seq}");
                // Replay of the same packet is refused.
                assert_eq!(rx.unprotect_rtp(&mut pkt.clone()), Err(SrtpError::Replayed));
                pkt[14] ^= 1;
                let mut fresh = SrtpContext::new(p, &key, false).unwrap();
                assert_eq!(fresh.unprotect_rtp(&mut pkt), Err(SrtpError::AuthFailed));
            }
            let mut rtcp = vec![0x81, 201, 0, 7];
            rtcp.extend_from_slice(&[1, 2, 3, 4]);
            rtcp.extend_from_slice(&[9u8; 24]);
            let mut pkt = rtcp.clone();
            tx.protect_rtcp(&mut pkt).unwrap();
            let n = rx.unprotect_rtcp(&mut pkt.clone()).unwrap();
            let mut c2 = pkt.clone();
            let n2 = rx.unprotect_rtcp(&mut c2);
            assert_eq!(n2, Err(SrtpError::Replayed));
            let mut c = pkt.clone();
            SrtpContext::new(p, &key, false)
                .unwrap()
                .unprotect_rtcp(&mut c)
                .unwrap();
            assert_eq!(&c[..n], &rtcp[..]);
            pkt[10] ^= 1;
            let mut fresh = SrtpContext::new(p, &key, false).unwrap();
            assert_eq!(fresh.unprotect_rtcp(&mut pkt), Err(SrtpError::AuthFailed));
        }
    }
}
