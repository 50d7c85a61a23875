//! WebRtcServer: UDP sockets and TCP listeners shared by many WebRtcTransports. A datagram is
//! routed to its transport by the ICE username fragment of a STUN check (the local ufrag is
//! the USERNAME's first half), and afterwards by its 5-tuple once ICE validated it.

use crate::core::ice::Tuple;
use crate::core::transport::LocalSocket;
use rustc_hash::FxHashMap as HashMap;

pub struct WebRtcServer {
    pub id: String,
    pub sockets: Vec<LocalSocket>,
    pub transports: Vec<u32>,
    pub by_ufrag: HashMap<String, u32>,
    pub by_tuple: HashMap<Tuple, u32>,
}

impl WebRtcServer {
    /// The transport a datagram belongs to: by USERNAME for STUN, else by validated tuple.
    pub fn route(&self, tuple: &Tuple, stun_username: Option<&[u8]>) -> Option<u32> {
        if let Some(user) = stun_username {
            let local = user.split(|&c| c == b':').next()?;
            let local = std::str::from_utf8(local).ok()?;
            return self.by_ufrag.get(local).copied();
        }
        self.by_tuple.get(tuple).copied()
    }

    pub fn forget_transport(&mut self, k: u32) {
        self.transports.retain(|t| *t != k);
        self.by_ufrag.retain(|_, t| *t != k);
        self.by_tuple.retain(|_, t| *t != k);
    }
}
