//! DTLS 1.2 (RFC 6347) with DTLS-SRTP keying (RFC 5764), driven through in-memory datagram
//! queues so the core stays sans-IO. OpenSSL does the handshake: it is the engine mediasoup
//! uses and covers every browser's cipher suites, ECDSA and RSA peers and all SRTP profiles.
//!
//! OpenSSL's DTLS retransmission timer runs on the wall clock; `handle_timeout` pokes the state
//! machine so an expired timer retransmits the last flight.
//!
//! Once the keys are out and the peer has shown it holds them, a transport without data
//! channels needs nothing more from DTLS but a close_notify when it closes: `release` writes that
//! alert ahead (kept, not sent) and frees the OpenSSL connection, whose record buffers, kept
//! handshake buffer and state weigh ~50 KiB per transport (heaptrack: `ssl3_setup_buffers`
//! 33 KiB, the handshake `init_buf` 22 KiB, `SSL_new` 7.6 KiB).

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{ErrorCode, Ssl, SslContext, SslMethod, SslOptions, SslStream, SslVerifyMode};
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use std::collections::VecDeque;
use std::io::{self, Read, Write};

use crate::core::srtp::SrtpProfile;

/// Fingerprint algorithms, in mediasoup's order.
pub const FINGERPRINT_ALGORITHMS: [&str; 5] = ["sha-1", "sha-224", "sha-256", "sha-384", "sha-512"];

fn digest_for(alg: &str) -> Option<MessageDigest> {
    Some(match alg {
        "sha-1" => MessageDigest::sha1(),
        "sha-224" => MessageDigest::sha224(),
        "sha-256" => MessageDigest::sha256(),
        "sha-384" => MessageDigest::sha384(),
        "sha-512" => MessageDigest::sha512(),
        _ => return None,
    })
}

fn fingerprint(cert: &X509, alg: &str) -> Option<String> {
    let d = cert.digest(digest_for(alg)?).ok()?;
    Some(
        d.iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// The worker's certificate and key, with its fingerprints (a clone shares them: OpenSSL's
/// objects are reference-counted).
#[derive(Clone)]
pub struct DtlsCertificate {
    pub cert: X509,
    pub key: PKey<Private>,
    pub fingerprints: Vec<(String, String)>,
    ctx_server: SslContext,
    ctx_client: SslContext,
}

fn build_context(cert: &X509, key: &PKey<Private>) -> Result<SslContext, String> {
    let e = |e: openssl::error::ErrorStack| e.to_string();
    let mut b = SslContext::builder(SslMethod::dtls()).map_err(e)?;
    b.set_certificate(cert).map_err(e)?;
    b.set_private_key(key).map_err(e)?;
    b.check_private_key().map_err(e)?;
    b.set_options(
        SslOptions::NO_QUERY_MTU | SslOptions::NO_TICKET | SslOptions::CIPHER_SERVER_PREFERENCE,
    );
    b.set_cipher_list("DEFAULT:!NULL:!aNULL:!SHA256:!SHA384:!aECDH:!AESGCM+AES256:!aPSK")
        .map_err(e)?;
    // Peers use self-signed certificates; authenticity comes from the signalled fingerprint,
    // checked once the handshake is done.
    b.set_verify_callback(
        SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT,
        |_, _| true,
    );
    b.set_tlsext_use_srtp(
        "SRTP_AEAD_AES_256_GCM:SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80:SRTP_AES128_CM_SHA1_32",
    )
    .map_err(e)?;
    Ok(b.build())
}

impl DtlsCertificate {
    /// A fresh self-signed ECDSA P-256 certificate.
    pub fn generate() -> Result<Self, String> {
        let e = |e: openssl::error::ErrorStack| e.to_string();
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).map_err(e)?;
        let key = PKey::from_ec_key(EcKey::generate(&group).map_err(e)?).map_err(e)?;
        let mut name = X509NameBuilder::new().map_err(e)?;
        name.append_entry_by_nid(Nid::COMMONNAME, "peerwave-sfu")
            .map_err(e)?;
        let name = name.build();
        let mut b = X509Builder::new().map_err(e)?;
        b.set_version(2).map_err(e)?;
        let mut serial = BigNum::new().map_err(e)?;
        serial.rand(63, MsbOption::MAYBE_ZERO, false).map_err(e)?;
        let serial = serial.to_asn1_integer().map_err(e)?;
        b.set_serial_number(&serial).map_err(e)?;
        b.set_subject_name(&name).map_err(e)?;
        b.set_issuer_name(&name).map_err(e)?;
        b.set_pubkey(&key).map_err(e)?;
        let (nb, na) = (
            Asn1Time::days_from_now(0).map_err(e)?,
            Asn1Time::days_from_now(365).map_err(e)?,
        );
        b.set_not_before(&nb).map_err(e)?;
        b.set_not_after(&na).map_err(e)?;
        b.sign(&key, MessageDigest::sha256()).map_err(e)?;
        Self::from_parts(b.build(), key)
    }

    /// Loads a PEM certificate and private key (the worker's dtlsCertificateFile / KeyFile).
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, String> {
        let cert =
            X509::from_pem(cert_pem).map_err(|e| format!("invalid DTLS certificate: {e}"))?;
        let key = PKey::private_key_from_pem(key_pem)
            .map_err(|e| format!("invalid DTLS private key: {e}"))?;
        Self::from_parts(cert, key)
    }

    fn from_parts(cert: X509, key: PKey<Private>) -> Result<Self, String> {
        let fingerprints = FINGERPRINT_ALGORITHMS
            .iter()
            .filter_map(|a| Some((a.to_string(), fingerprint(&cert, a)?)))
            .collect();
        let ctx_server = build_context(&cert, &key)?;
        let ctx_client = build_context(&cert, &key)?;
        Ok(Self {
            cert,
            key,
            fingerprints,
            ctx_server,
            ctx_client,
        })
    }
}

/// Datagram queues standing in for the socket under OpenSSL.
#[derive(Default, Debug)]
pub struct DatagramPipe {
    incoming: VecDeque<Vec<u8>>,
    outgoing: VecDeque<Vec<u8>>,
}

impl Read for DatagramPipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.incoming.pop_front() {
            Some(d) => {
                let n = d.len().min(buf.len());
                buf[..n].copy_from_slice(&d[..n]);
                Ok(n)
            }
            None => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl Write for DatagramPipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outgoing.push_back(buf.to_vec());
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtlsRole {
    Client,
    Server,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtlsState {
    New,
    Connecting,
    Connected,
    Failed,
    Closed,
}

impl DtlsState {
    pub fn as_str(self) -> &'static str {
        match self {
            DtlsState::New => "new",
            DtlsState::Connecting => "connecting",
            DtlsState::Connected => "connected",
            DtlsState::Failed => "failed",
            DtlsState::Closed => "closed",
        }
    }
}

/// SRTP keys exported once the handshake is done (RFC 5764 §4.2).
#[derive(Debug, Clone)]
pub struct SrtpKeys {
    pub profile: SrtpProfile,
    pub local_key: Vec<u8>,
    pub remote_key: Vec<u8>,
}

pub enum DtlsEvent {
    StateChanged,
    Connected(SrtpKeys),
    /// Application data (SCTP) received.
    Data(Vec<u8>),
}

pub struct DtlsTransport {
    /// None once released: the connection is done with and only `close_notify` is left.
    stream: Option<SslStream<DatagramPipe>>,
    /// The close_notify alert written at `release`, sent by `close`.
    close_notify: VecDeque<Vec<u8>>,
    /// Records that came after `release` and were ignored (a late retransmission).
    pub ignored_after_release: u64,
    pub role: DtlsRole,
    pub state: DtlsState,
    remote_fingerprint: (String, String),
    pub remote_cert_pem: Option<String>,
    pub failure: Option<String>,
}

impl DtlsTransport {
    pub fn new(
        cert: &DtlsCertificate,
        role: DtlsRole,
        remote_fp: (String, String),
    ) -> Result<Self, String> {
        let ctx = match role {
            DtlsRole::Client => &cert.ctx_client,
            DtlsRole::Server => &cert.ctx_server,
        };
        let mut ssl = Ssl::new(ctx).map_err(|e| e.to_string())?;
        ssl.set_mtu(1200).map_err(|e| e.to_string())?;
        match role {
            DtlsRole::Client => ssl.set_connect_state(),
            DtlsRole::Server => ssl.set_accept_state(),
        }
        let stream = SslStream::new(ssl, DatagramPipe::default()).map_err(|e| e.to_string())?;
        Ok(Self {
            stream: Some(stream),
            close_notify: VecDeque::new(),
            ignored_after_release: 0,
            role,
            state: DtlsState::New,
            remote_fingerprint: remote_fp,
            remote_cert_pem: None,
            failure: None,
        })
    }

    /// Starts the handshake (the client sends its ClientHello).
    pub fn start(&mut self, events: &mut Vec<DtlsEvent>) {
        if self.state != DtlsState::New {
            return;
        }
        self.state = DtlsState::Connecting;
        events.push(DtlsEvent::StateChanged);
        self.drive(events);
    }

    pub fn handle_datagram(&mut self, data: &[u8], events: &mut Vec<DtlsEvent>) {
        if matches!(self.state, DtlsState::Failed | DtlsState::Closed) {
            return;
        }
        let Some(stream) = self.stream.as_mut() else {
            // Released: an alert record of the new epoch is the peer closing (it cannot be
            // authenticated any more; it comes only from the ICE-validated tuple). Anything else
            // is a late retransmission, ignored.
            let epoch = data
                .get(3..5)
                .map_or(0, |e| u16::from_be_bytes([e[0], e[1]]));
            if data.first() == Some(&21) && epoch >= 1 {
                self.state = DtlsState::Closed;
                events.push(DtlsEvent::StateChanged);
            } else {
                self.ignored_after_release += 1;
            }
            return;
        };
        stream.get_mut().incoming.push_back(data.to_vec());
        if self.state == DtlsState::New {
            self.state = DtlsState::Connecting;
            events.push(DtlsEvent::StateChanged);
        }
        self.drive(events);
    }

    /// Retransmits the last flight when OpenSSL's timer expired.
    pub fn handle_timeout(&mut self, events: &mut Vec<DtlsEvent>) {
        if self.state == DtlsState::Connecting {
            self.drive(events);
        }
    }

    /// Outgoing DTLS datagrams to send to the peer.
    pub fn pop_outgoing(&mut self) -> Option<Vec<u8>> {
        match self.stream.as_mut() {
            Some(s) => s.get_mut().outgoing.pop_front(),
            None if self.state == DtlsState::Closed => self.close_notify.pop_front(),
            None => None,
        }
    }

    pub fn send_application_data(&mut self, data: &[u8]) -> bool {
        self.state == DtlsState::Connected
            && self
                .stream
                .as_mut()
                .is_some_and(|s| s.ssl_write(data).is_ok())
    }

    /// Frees the OpenSSL connection of a connected transport (see the module's note), keeping
    /// the close_notify `close` will send. Only for a transport carrying no application data,
    /// and only once the peer can no longer need a retransmission of the last flight.
    pub fn release(&mut self) {
        if self.state != DtlsState::Connected {
            return;
        }
        let Some(mut stream) = self.stream.take() else {
            return;
        };
        // Sent during the handshake and already taken; what is queued now is the alert.
        stream.get_mut().outgoing.clear();
        let _ = stream.shutdown();
        self.close_notify = std::mem::take(&mut stream.get_mut().outgoing);
    }

    pub fn released(&self) -> bool {
        self.stream.is_none()
    }

    pub fn close(&mut self) {
        if self.state == DtlsState::Connected {
            if let Some(s) = self.stream.as_mut() {
                let _ = s.shutdown();
            }
        }
        self.state = DtlsState::Closed;
    }

    fn fail(&mut self, why: String, events: &mut Vec<DtlsEvent>) {
        self.failure = Some(why);
        self.state = DtlsState::Failed;
        events.push(DtlsEvent::StateChanged);
    }

    fn drive(&mut self, events: &mut Vec<DtlsEvent>) {
        if self.state == DtlsState::Connecting {
            let Some(stream) = self.stream.as_mut() else {
                return;
            };
            match stream.do_handshake() {
                Ok(()) => self.on_handshake_done(events),
                Err(e) if matches!(e.code(), ErrorCode::WANT_READ | ErrorCode::WANT_WRITE) => {
                    return
                }
                Err(e) => {
                    let why = e
                        .ssl_error()
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| e.to_string());
                    return self.fail(format!("DTLS handshake failed: {why}"), events);
                }
            }
        }
        if self.state == DtlsState::Connected {
            let Some(stream) = self.stream.as_mut() else {
                return;
            };
            let mut buf = [0u8; 2048];
            loop {
                match stream.ssl_read(&mut buf) {
                    Ok(n) if n > 0 => events.push(DtlsEvent::Data(buf[..n].to_vec())),
                    Ok(_) => break,
                    Err(e) if e.code() == ErrorCode::ZERO_RETURN => {
                        self.state = DtlsState::Closed;
                        events.push(DtlsEvent::StateChanged);
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
    }

    fn on_handshake_done(&mut self, events: &mut Vec<DtlsEvent>) {
        let Some(ssl) = self.stream.as_ref().map(|s| s.ssl()) else {
            return;
        };
        let Some(peer) = ssl.peer_certificate() else {
            return self.fail("no peer certificate".into(), events);
        };
        let (alg, value) = &self.remote_fingerprint;
        match fingerprint(&peer, alg) {
            Some(fp) if fp.eq_ignore_ascii_case(value) => {}
            _ => return self.fail(format!("remote {alg} fingerprint does not match"), events),
        }
        self.remote_cert_pem = peer.to_pem().ok().and_then(|p| String::from_utf8(p).ok());
        let Some(profile) = ssl
            .selected_srtp_profile()
            .and_then(|p| SrtpProfile::from_openssl_name(p.name()))
        else {
            return self.fail("no SRTP profile negotiated".into(), events);
        };
        let (kl, sl) = (profile.key_len(), profile.salt_len());
        let mut km = vec![0u8; 2 * (kl + sl)];
        if ssl
            .export_keying_material(&mut km, "EXTRACTOR-dtls_srtp", None)
            .is_err()
        {
            return self.fail("SRTP key export failed".into(), events);
        }
        let (ck, rest) = km.split_at(kl);
        let (sk, rest) = rest.split_at(kl);
        let (cs, ss) = rest.split_at(sl);
        let client = [ck, cs].concat();
        let server = [sk, ss].concat();
        let (local_key, remote_key) = match self.role {
            DtlsRole::Client => (client, server),
            DtlsRole::Server => (server, client),
        };
        self.state = DtlsState::Connected;
        events.push(DtlsEvent::StateChanged);
        events.push(DtlsEvent::Connected(SrtpKeys {
            profile,
            local_key,
            remote_key,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pump(
        a: &mut DtlsTransport,
        b: &mut DtlsTransport,
        ea: &mut Vec<DtlsEvent>,
        eb: &mut Vec<DtlsEvent>,
    ) {
        for _ in 0..20 {
            let mut moved = false;
            while let Some(d) = a.pop_outgoing() {
                b.handle_datagram(&d, eb);
                moved = true;
            }
            while let Some(d) = b.pop_outgoing() {
                a.handle_datagram(&d, ea);
                moved = true;
            }
            if !moved {
                break;
            }
        }
    }

    fn fp(c: &DtlsCertificate) -> (String, String) {
        c.fingerprints
            .iter()
            .find(|(a, _)| a == "sha-256")
            .cloned()
            .unwrap()
    }

    #[test]
    fn handshake_exports_matching_keys() {
        let (ca, cb) = (
            DtlsCertificate::generate().unwrap(),
            DtlsCertificate::generate().unwrap(),
        );
        assert_eq!(ca.fingerprints.len(), 5);
        let mut a = DtlsTransport::new(&ca, DtlsRole::Client, fp(&cb)).unwrap();
        let mut b = DtlsTransport::new(&cb, DtlsRole::Server, fp(&ca)).unwrap();
        let (mut ea, mut eb) = (Vec::new(), Vec::new());
        a.start(&mut ea);
        pump(&mut a, &mut b, &mut ea, &mut eb);
        assert_eq!(a.state, DtlsState::Connected, "{:?}", a.failure);
        assert_eq!(b.state, DtlsState::Connected, "{:?}", b.failure);
        let ka = ea
            .iter()
            .find_map(|e| {
                if let DtlsEvent::Connected(k) = e {
                    Some(k.clone())
                } else {
                    None
                }
            })
            .unwrap();
        let kb = eb
            .iter()
            .find_map(|e| {
                if let DtlsEvent::Connected(k) = e {
                    Some(k.clone())
                } else {
                    None
                }
            })
            .unwrap();
        assert_eq!(ka.profile, SrtpProfile::AeadAes256Gcm);
        assert_eq!(ka.local_key, kb.remote_key);
        assert_eq!(ka.remote_key, kb.local_key);
        assert!(a.send_application_data(b"sctp"));
        pump(&mut a, &mut b, &mut ea, &mut eb);
        assert!(eb
            .iter()
            .any(|e| matches!(e, DtlsEvent::Data(d) if d == b"sctp")));
    }

    fn connected_pair() -> (DtlsTransport, DtlsTransport) {
        let (ca, cb) = (
            DtlsCertificate::generate().unwrap(),
            DtlsCertificate::generate().unwrap(),
        );
        let mut a = DtlsTransport::new(&ca, DtlsRole::Client, fp(&cb)).unwrap();
        let mut b = DtlsTransport::new(&cb, DtlsRole::Server, fp(&ca)).unwrap();
        let (mut ea, mut eb) = (Vec::new(), Vec::new());
        a.start(&mut ea);
        pump(&mut a, &mut b, &mut ea, &mut eb);
        assert_eq!(
            (a.state, b.state),
            (DtlsState::Connected, DtlsState::Connected)
        );
        (a, b)
    }

    #[test]
    fn a_released_connection_still_closes_both_ways() {
        // The released side closes: the close_notify written at release reaches the peer,
        // which decrypts and accepts it.
        let (mut a, mut b) = connected_pair();
        b.release();
        assert!(b.released());
        assert_eq!(b.state, DtlsState::Connected);
        assert_eq!(b.pop_outgoing(), None, "nothing is sent at release");
        assert!(!b.send_application_data(b"x"));
        b.close();
        let alert = b.pop_outgoing().expect("close_notify");
        assert_eq!(alert[0], 21, "an alert record");
        let mut ea = Vec::new();
        a.handle_datagram(&alert, &mut ea);
        assert_eq!(a.state, DtlsState::Closed);
        assert!(matches!(ea[..], [DtlsEvent::StateChanged]));

        // The peer closes a released side: its (encrypted) alert is taken as the close; a late
        // handshake retransmission before it is ignored and counted.
        let (mut a, mut b) = connected_pair();
        b.release();
        let mut eb = Vec::new();
        // A handshake record (type 22) of epoch 0, one byte long.
        let handshake = [22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1];
        b.handle_datagram(&handshake, &mut eb);
        assert_eq!(
            (b.state, b.ignored_after_release),
            (DtlsState::Connected, 1)
        );
        a.close();
        while let Some(d) = a.pop_outgoing() {
            b.handle_datagram(&d, &mut eb);
        }
        assert_eq!(b.state, DtlsState::Closed);
        assert!(matches!(eb[..], [DtlsEvent::StateChanged]));
    }

    #[test]
    fn fingerprint_mismatch_fails() {
        let (ca, cb) = (
            DtlsCertificate::generate().unwrap(),
            DtlsCertificate::generate().unwrap(),
        );
        let wrong = fp(&ca);
        let mut a = DtlsTransport::new(&ca, DtlsRole::Client, wrong).unwrap();
        let mut b = DtlsTransport::new(&cb, DtlsRole::Server, fp(&ca)).unwrap();
        let (mut ea, mut eb) = (Vec::new(), Vec::new());
        a.start(&mut ea);
        pump(&mut a, &mut b, &mut ea, &mut eb);
        assert_eq!(a.state, DtlsState::Failed);
    }
}
