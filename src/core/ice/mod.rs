//! ICE-lite server (RFC 8445 §2.5, RFC 8838 for trickle semantics, RFC 7675 consent).
//!
//! mediasoup's state machine: 'new' → 'connected' on a valid check without nomination,
//! 'completed' on a nominated one (USE-CANDIDATE), 'disconnected' when every tuple's consent
//! expires; a later valid check brings it back.

pub mod stun;

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use stun::{StunMessage, StunWriter};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IceState {
    New,
    Connected,
    Completed,
    Disconnected,
    Closed,
}

impl IceState {
    pub fn as_str(self) -> &'static str {
        match self {
            IceState::New => "new",
            IceState::Connected => "connected",
            IceState::Completed => "completed",
            IceState::Disconnected => "disconnected",
            IceState::Closed => "closed",
        }
    }
}

/// A 5-tuple as the transport sees it: local socket id plus remote address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tuple {
    pub socket: u32,
    pub remote: SocketAddr,
}

#[derive(Debug)]
struct KnownTuple {
    tuple: Tuple,
    last_check: Instant,
}

/// What the transport must do after a STUN message.
#[derive(Debug, Default)]
pub struct IceOutcome {
    pub response: Option<Vec<u8>>,
    pub state_changed: bool,
    pub selected_changed: bool,
}

pub struct IceServer {
    pub ufrag: String,
    pub pwd: String,
    old_ufrag: Option<String>,
    old_pwd: Option<String>,
    pub state: IceState,
    tuples: Vec<KnownTuple>,
    pub selected: Option<Tuple>,
    pub consent_timeout: Duration,
    last_nomination: u32,
    /// Counters for checks rejected (bad integrity, bad username, role conflict).
    pub rejected: u64,
}

impl IceServer {
    pub fn new(ufrag: String, pwd: String, consent_timeout: Duration) -> Self {
        Self {
            ufrag,
            pwd,
            old_ufrag: None,
            old_pwd: None,
            state: IceState::New,
            tuples: Vec::new(),
            selected: None,
            consent_timeout,
            last_nomination: 0,
            rejected: 0,
        }
    }

    /// restartIce(): new credentials; the old ones keep working until the first check with the
    /// new ones (as mediasoup does, so a slow peer is not cut off).
    pub fn restart(&mut self, ufrag: String, pwd: String) {
        self.old_ufrag = Some(std::mem::replace(&mut self.ufrag, ufrag));
        self.old_pwd = Some(std::mem::replace(&mut self.pwd, pwd));
        self.last_nomination = 0;
    }

    pub fn is_valid_tuple(&self, t: &Tuple) -> bool {
        self.tuples.iter().any(|k| k.tuple == *t)
    }

    /// Handles a STUN message from `tuple`.
    pub fn handle_stun(&mut self, now: Instant, tuple: Tuple, msg: &StunMessage<'_>) -> IceOutcome {
        let mut out = IceOutcome::default();
        if msg.class_method == stun::BINDING_INDICATION {
            return out;
        }
        if msg.class_method != stun::BINDING_REQUEST {
            self.rejected += 1;
            return out;
        }
        let err = |code: u16, reason: &str| {
            let mut v = Vec::with_capacity(64);
            let mut w = StunWriter::new(&mut v, stun::BINDING_ERROR, &msg.transaction_id);
            w.error_code(code, reason);
            w.fingerprint();
            v
        };
        // RFC 8445 §7.3: a request needs USERNAME, MESSAGE-INTEGRITY and PRIORITY.
        let (Some(user), true, Some(_)) = (msg.username, msg.has_integrity(), msg.priority) else {
            self.rejected += 1;
            out.response = Some(err(400, "Bad Request"));
            return out;
        };
        let local = user.split(|&c| c == b':').next().unwrap_or(&[]);
        let pwd = if local == self.ufrag.as_bytes() {
            if self.old_ufrag.is_some() {
                self.old_ufrag = None;
                self.old_pwd = None;
            }
            self.pwd.clone()
        } else if self.old_ufrag.as_deref().map(str::as_bytes) == Some(local) {
            self.old_pwd.clone().unwrap_or_default()
        } else {
            self.rejected += 1;
            out.response = Some(err(401, "Unauthorized"));
            return out;
        };
        if !msg.check_integrity(pwd.as_bytes()) {
            self.rejected += 1;
            out.response = Some(err(401, "Unauthorized"));
            return out;
        }
        // We are ICE-lite and always controlled: a peer that claims controlled too conflicts.
        if msg.ice_controlled {
            self.rejected += 1;
            out.response = Some(err(487, "Role Conflict"));
            return out;
        }
        let mut v = Vec::with_capacity(96);
        let mut w = StunWriter::new(&mut v, stun::BINDING_SUCCESS, &msg.transaction_id);
        w.xor_mapped_address(tuple.remote);
        w.integrity(pwd.as_bytes());
        w.fingerprint();
        out.response = Some(v);

        match self.tuples.iter_mut().find(|k| k.tuple == tuple) {
            Some(k) => k.last_check = now,
            None => self.tuples.push(KnownTuple {
                tuple,
                last_check: now,
            }),
        }
        let nominated = msg.use_candidate
            || msg
                .nomination
                .is_some_and(|n| n >= self.last_nomination && n > 0);
        if let Some(n) = msg.nomination {
            self.last_nomination = self.last_nomination.max(n);
        }
        let prev_state = self.state;
        let prev_sel = self.selected;
        match self.state {
            IceState::New | IceState::Disconnected => {
                self.selected = Some(tuple);
                self.state = if nominated {
                    IceState::Completed
                } else {
                    IceState::Connected
                };
            }
            IceState::Connected => {
                if nominated {
                    self.selected = Some(tuple);
                    self.state = IceState::Completed;
                }
            }
            IceState::Completed => {
                if nominated {
                    self.selected = Some(tuple);
                }
            }
            IceState::Closed => {}
        }
        out.state_changed = prev_state != self.state;
        out.selected_changed = prev_sel != self.selected;
        out
    }

    /// Called when a TCP connection closed: forgets its tuple.
    pub fn remove_socket(&mut self, socket: u32) -> IceOutcome {
        self.tuples.retain(|k| k.tuple.socket != socket);
        self.reselect()
    }

    fn reselect(&mut self) -> IceOutcome {
        let mut out = IceOutcome::default();
        if self.selected.is_some_and(|s| !self.is_valid_tuple(&s)) {
            self.selected = self.tuples.last().map(|k| k.tuple);
            out.selected_changed = true;
            if self.selected.is_none()
                && matches!(self.state, IceState::Connected | IceState::Completed)
            {
                self.state = IceState::Disconnected;
                out.state_changed = true;
            }
        }
        out
    }

    /// Consent freshness: drops tuples whose last valid check is older than the timeout.
    pub fn handle_timeout(&mut self, now: Instant) -> IceOutcome {
        let to = self.consent_timeout;
        self.tuples
            .retain(|k| now.duration_since(k.last_check) < to);
        self.reselect()
    }

    pub fn close(&mut self) {
        self.state = IceState::Closed;
        self.tuples.clear();
        self.selected = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(user: &str, pwd: &str, use_cand: bool, controlled: bool) -> Vec<u8> {
        let mut v = Vec::new();
        let mut w = StunWriter::new(&mut v, stun::BINDING_REQUEST, &[1; 12]);
        w.username(user.as_bytes());
        w.priority(0x6e00_01ff);
        if use_cand {
            w.use_candidate();
        }
        w.ice_role(!controlled, 0x0102_0304_0506_0708);
        w.integrity(pwd.as_bytes());
        w.fingerprint();
        v
    }

    fn tuple(port: u16) -> Tuple {
        Tuple {
            socket: 1,
            remote: format!("127.0.0.1:{port}").parse().unwrap(),
        }
    }

    #[test]
    fn connects_then_completes_and_expires() {
        let t0 = Instant::now();
        let mut ice = IceServer::new("lufrag".into(), "lpwd".into(), Duration::from_secs(30));
        let r = request("lufrag:rem", "lpwd", false, false);
        let o = ice.handle_stun(t0, tuple(5000), &StunMessage::parse(&r).unwrap());
        let resp = StunMessage::parse(o.response.as_ref().unwrap()).unwrap();
        assert_eq!(resp.class_method, stun::BINDING_SUCCESS);
        assert!(resp.check_integrity(b"lpwd"));
        assert_eq!(ice.state, IceState::Connected);
        let r = request("lufrag:rem", "lpwd", true, false);
        let o = ice.handle_stun(t0, tuple(5001), &StunMessage::parse(&r).unwrap());
        assert!(o.state_changed && o.selected_changed);
        assert_eq!(ice.state, IceState::Completed);
        assert_eq!(ice.selected, Some(tuple(5001)));
        let o = ice.handle_timeout(t0 + Duration::from_secs(31));
        assert!(o.state_changed);
        assert_eq!(ice.state, IceState::Disconnected);
    }

    #[test]
    fn rejects_bad_credentials_and_role_conflict() {
        let t0 = Instant::now();
        let mut ice = IceServer::new("lufrag".into(), "lpwd".into(), Duration::from_secs(30));
        for (r, code) in [
            (request("lufrag:rem", "nope", true, false), 401u16),
            (request("other:rem", "lpwd", true, false), 401),
            (request("lufrag:rem", "lpwd", true, true), 487),
        ] {
            let o = ice.handle_stun(t0, tuple(5000), &StunMessage::parse(&r).unwrap());
            let resp = o.response.unwrap();
            assert_eq!(u16::from_be_bytes([resp[0], resp[1]]), stun::BINDING_ERROR);
            assert_eq!(resp[27] as u16, code % 100);
        }
        assert_eq!(ice.state, IceState::New);
        assert_eq!(ice.rejected, 3);
    }

    #[test]
    fn restart_accepts_old_until_new_used() {
        let t0 = Instant::now();
        let mut ice = IceServer::new("a".into(), "pa".into(), Duration::from_secs(30));
        ice.restart("b".into(), "pb".into());
        let r = request("a:x", "pa", true, false);
        assert!(
            ice.handle_stun(t0, tuple(1), &StunMessage::parse(&r).unwrap())
                .state_changed
        );
        let r = request("b:x", "pb", true, false);
        ice.handle_stun(t0, tuple(1), &StunMessage::parse(&r).unwrap());
        let r = request("a:x", "pa", true, false);
        let o = ice.handle_stun(t0, tuple(1), &StunMessage::parse(&r).unwrap());
        assert_eq!(o.response.unwrap()[1], 0x11);
    }
}
