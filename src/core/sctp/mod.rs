//! SCTP for data channels (RFC 8831 over DTLS, RFC 8261), driven sans-IO with `sctp-proto`:
//! it takes the SCTP packets that arrive as DTLS application data (or, on Plain/Pipe
//! transports, as UDP datagrams) and gives back packets to send and messages received.
//!
//! Streams are negotiated out of band (mediasoup's way: `sctpStreamParameters.streamId`), so
//! the DCEP open handshake is not used; messages keep their PPID (RFC 8831 §8).

use bytes::Bytes;
use sctp_proto::{
    Association, AssociationHandle, ClientConfig, DatagramEvent, Endpoint, EndpointConfig, Event,
    Payload, PayloadProtocolIdentifier as Ppid, ReliabilityType, ServerConfig, StreamEvent,
    TransportConfig,
};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SctpState {
    New,
    Connecting,
    Connected,
    Failed,
    Closed,
}

impl SctpState {
    pub fn as_str(self) -> &'static str {
        match self {
            SctpState::New => "new",
            SctpState::Connecting => "connecting",
            SctpState::Connected => "connected",
            SctpState::Failed => "failed",
            SctpState::Closed => "closed",
        }
    }
}

/// A received message.
#[derive(Debug)]
pub struct SctpMessage {
    pub stream_id: u16,
    pub ppid: u32,
    pub data: Vec<u8>,
}

pub fn ppid_from(p: Ppid) -> u32 {
    match p {
        Ppid::Dcep => 50,
        Ppid::String => 51,
        Ppid::Binary => 53,
        Ppid::StringEmpty => 56,
        Ppid::BinaryEmpty => 57,
        Ppid::Unknown => 0,
    }
}

fn ppid_to(p: u32) -> Option<Ppid> {
    Some(match p {
        50 => Ppid::Dcep,
        51 => Ppid::String,
        53 => Ppid::Binary,
        56 => Ppid::StringEmpty,
        57 => Ppid::BinaryEmpty,
        _ => return None,
    })
}

/// Per-stream sending options (from a DataConsumer's sctpStreamParameters).
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamOptions {
    pub ordered: bool,
    pub max_packet_life_time: Option<u32>,
    pub max_retransmits: Option<u32>,
}

pub struct SctpAssociation {
    endpoint: Endpoint,
    assoc: Option<(AssociationHandle, Association)>,
    pub state: SctpState,
    pub os: u16,
    pub mis: u16,
    pub max_message_size: u64,
    peer: SocketAddr,
    opened: HashSet<u16>,
    pub messages_received: u64,
    pub messages_sent: u64,
    /// The peer's outbound and inbound stream counts from its INIT or INIT ACK.
    peer_streams: Option<(u16, u16)>,
    /// Per stream: user bytes written, and user bytes that left in DATA chunks (first
    /// transmissions only); their difference is the stream's buffered amount.
    written: HashMap<u16, u64>,
    transmitted: HashMap<u16, u64>,
    /// Highest TSN seen leaving, to tell first transmissions from retransmissions.
    highest_tsn: Option<u32>,
}

impl SctpAssociation {
    pub fn new(os: u16, mis: u16, max_message_size: u64) -> Self {
        let transport = TransportConfig::default()
            .with_max_num_outbound_streams(os)
            .with_max_num_inbound_streams(mis)
            .with_max_message_size(max_message_size.min(u32::MAX as u64) as u32);
        let mut server = ServerConfig::new();
        server.transport = Arc::new(transport);
        Self {
            endpoint: Endpoint::new(Arc::new(EndpointConfig::default()), Some(Arc::new(server))),
            assoc: None,
            state: SctpState::New,
            os,
            mis,
            max_message_size,
            // The association is the only one on its carrier: the address is only a key.
            peer: SocketAddr::from(([0, 0, 0, 0], 5000)),
            opened: HashSet::new(),
            messages_received: 0,
            messages_sent: 0,
            peer_streams: None,
            written: HashMap::new(),
            transmitted: HashMap::new(),
            highest_tsn: None,
        }
    }

    /// Streams usable each way once connected (RFC 4960 §5.1.2): outbound = min(our OS, the
    /// peer's MIS), inbound = min(our MIS, the peer's OS).
    pub fn negotiated_streams(&self) -> Option<(u16, u16)> {
        if self.state != SctpState::Connected {
            return None;
        }
        let (peer_os, peer_mis) = self.peer_streams?;
        Some((self.os.min(peer_mis), self.mis.min(peer_os)))
    }

    /// Starts an association as the initiator (Plain/Pipe transports; over DTLS the browser
    /// initiates and we answer).
    pub fn connect(&mut self) {
        if self.assoc.is_some() {
            return;
        }
        let transport = TransportConfig::default()
            .with_max_num_outbound_streams(self.os)
            .with_max_num_inbound_streams(self.mis)
            .with_max_message_size(self.max_message_size.min(u32::MAX as u64) as u32);
        let cfg = ClientConfig {
            transport: Arc::new(transport),
        };
        if let Ok((h, a)) = self.endpoint.connect(cfg, self.peer) {
            self.assoc = Some((h, a));
            self.state = SctpState::Connecting;
        }
    }

    /// Feeds one SCTP packet; returns whether the state changed, and messages received.
    pub fn handle_packet(&mut self, now: Instant, data: &[u8], out: &mut Vec<SctpMessage>) -> bool {
        let before = self.state;
        if let Some(streams) = init_streams(data) {
            self.peer_streams = Some(streams);
        }
        let Some((h, ev)) =
            self.endpoint
                .handle(now, self.peer, None, None, Bytes::copy_from_slice(data))
        else {
            return false;
        };
        match ev {
            DatagramEvent::NewAssociation(a) => {
                self.assoc = Some((h, a));
                if self.state == SctpState::New {
                    self.state = SctpState::Connecting;
                }
            }
            DatagramEvent::AssociationEvent(e) => {
                if let Some((ah, a)) = self.assoc.as_mut() {
                    if *ah == h {
                        a.handle_event(e);
                    }
                }
            }
        }
        self.poll_events(out);
        before != self.state
    }

    fn poll_events(&mut self, out: &mut Vec<SctpMessage>) {
        let Some((_, a)) = self.assoc.as_mut() else {
            return;
        };
        while let Some(ev) = a.poll() {
            match ev {
                Event::Connected => self.state = SctpState::Connected,
                Event::AssociationLost { .. } => self.state = SctpState::Closed,
                Event::Stream(StreamEvent::Opened) => while a.accept_stream().is_some() {},
                Event::Stream(StreamEvent::Readable { id }) => {
                    if let Ok(mut s) = a.stream(id) {
                        while let Ok(Some(chunks)) = s.read_sctp() {
                            let mut buf = vec![0u8; chunks.len()];
                            if let Ok(n) = chunks.read(&mut buf) {
                                buf.truncate(n);
                                let ppid = ppid_from(chunks.ppi);
                                // Empty-message PPIDs carry one placeholder byte.
                                if ppid == 56 || ppid == 57 {
                                    buf.clear();
                                }
                                self.messages_received += 1;
                                out.push(SctpMessage {
                                    stream_id: id,
                                    ppid,
                                    data: buf,
                                });
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Queues a message on `stream_id` (opening it with `opts` the first time).
    /// Returns the stream's buffered amount, or None when it cannot be sent.
    pub fn send(
        &mut self,
        stream_id: u16,
        ppid: u32,
        data: &[u8],
        opts: StreamOptions,
    ) -> Option<usize> {
        if self.state != SctpState::Connected || data.len() as u64 > self.max_message_size {
            return None;
        }
        let ppi = ppid_to(ppid)?;
        let (_, a) = self.assoc.as_mut()?;
        if !self.opened.contains(&stream_id) {
            let mut s = match a.stream(stream_id) {
                Ok(s) => s,
                Err(_) => a.open_stream(stream_id, ppi).ok()?,
            };
            let (rel, val) = match (opts.max_packet_life_time, opts.max_retransmits) {
                (Some(t), _) => (ReliabilityType::Timed, t),
                (None, Some(r)) => (ReliabilityType::Rexmit, r),
                _ => (ReliabilityType::Reliable, 0),
            };
            s.set_reliability_params(!opts.ordered, rel, val).ok()?;
            self.opened.insert(stream_id);
        }
        let mut s = a.stream(stream_id).ok()?;
        // Empty messages go as one zero byte with the "empty" PPIDs (RFC 8831 §6.6).
        let (payload, ppi) = match (data.is_empty(), ppi) {
            (true, Ppid::String) => (&[0u8][..], Ppid::StringEmpty),
            (true, _) => (&[0u8][..], Ppid::BinaryEmpty),
            _ => (data, ppi),
        };
        s.write_sctp(&Bytes::copy_from_slice(payload), ppi).ok()?;
        self.messages_sent += 1;
        *self.written.entry(stream_id).or_default() += payload.len() as u64;
        Some(self.buffered_amount(stream_id))
    }

    /// Bytes written on the stream that have not left yet (RTCDataChannel's and mediasoup's
    /// `bufferedAmount`: 0 once everything was handed to the network, acknowledged or not;
    /// sctp-proto's own figure counts until acknowledgement).
    pub fn buffered_amount(&mut self, stream_id: u16) -> usize {
        let written = self.written.get(&stream_id).copied().unwrap_or(0);
        let sent = self.transmitted.get(&stream_id).copied().unwrap_or(0);
        written.saturating_sub(sent) as usize
    }

    /// Counts the user bytes of DATA chunks leaving for the first time, per stream.
    fn account_transmitted(&mut self, packet: &[u8]) {
        let mut i = 12;
        while i + 4 <= packet.len() {
            let len = u16::from_be_bytes([packet[i + 2], packet[i + 3]]) as usize;
            if len < 4 {
                return;
            }
            if packet[i] == 0 && len >= 16 && i + 16 <= packet.len() {
                let tsn = u32::from_be_bytes([
                    packet[i + 4],
                    packet[i + 5],
                    packet[i + 6],
                    packet[i + 7],
                ]);
                let sid = u16::from_be_bytes([packet[i + 8], packet[i + 9]]);
                let first_time = self
                    .highest_tsn
                    .is_none_or(|h| (tsn.wrapping_sub(h) as i32) > 0);
                if first_time {
                    self.highest_tsn = Some(tsn);
                    *self.transmitted.entry(sid).or_default() += (len - 16) as u64;
                }
            }
            i += (len + 3) & !3;
        }
    }

    /// SCTP packets to send to the peer (each one a datagram / DTLS record of its own).
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<Bytes>> {
        let (_, a) = self.assoc.as_mut()?;
        let t = a.poll_transmit(now)?;
        match t.payload {
            Payload::RawEncode(packets) => {
                for p in &packets {
                    self.account_transmitted(p);
                }
                Some(packets)
            }
            Payload::PartialDecode(_) => None,
        }
    }

    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<SctpMessage>) {
        if let Some((_, a)) = self.assoc.as_mut() {
            if a.poll_timeout().is_some_and(|t| t <= now) {
                a.handle_timeout(now);
            }
        }
        self.poll_events(out);
    }

    pub fn close(&mut self) {
        if let Some((_, a)) = self.assoc.as_mut() {
            let _ = a.shutdown();
        }
        self.state = SctpState::Closed;
    }
}

/// The stream counts (OS, MIS) of an INIT or INIT ACK chunk leading an SCTP packet: after
/// the 12-byte common header, the chunk header (type 1 or 2, flags, length), the initiate tag
/// and the advertised receiver window come the outbound and inbound stream counts.
fn init_streams(packet: &[u8]) -> Option<(u16, u16)> {
    let chunk = packet.get(12..)?;
    if !matches!(chunk.first()?, 1 | 2) || chunk.len() < 16 {
        return None;
    }
    Some((
        u16::from_be_bytes([chunk[12], chunk[13]]),
        u16::from_be_bytes([chunk[14], chunk[15]]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exchanges packets in simulated time (10 ms steps, 3 s), running both sides' timers.
    fn pump(
        start: Instant,
        a: &mut SctpAssociation,
        b: &mut SctpAssociation,
        ra: &mut Vec<SctpMessage>,
        rb: &mut Vec<SctpMessage>,
    ) -> Instant {
        let mut now = start;
        for _ in 0..300 {
            a.handle_timeout(now, ra);
            b.handle_timeout(now, rb);
            while let Some(ps) = a.poll_transmit(now) {
                for p in ps {
                    b.handle_packet(now, &p, rb);
                }
            }
            while let Some(ps) = b.poll_transmit(now) {
                for p in ps {
                    a.handle_packet(now, &p, ra);
                }
            }
            now += std::time::Duration::from_millis(10);
        }
        now
    }

    #[test]
    fn association_carries_messages_with_their_ppid_both_ways() {
        let mut now = Instant::now();
        let mut client = SctpAssociation::new(1024, 300, 262_144);
        let mut server = SctpAssociation::new(500, 1024, 262_144);
        let (mut rc, mut rs) = (Vec::new(), Vec::new());
        assert_eq!(client.negotiated_streams(), None);
        client.connect();
        now = pump(now, &mut client, &mut server, &mut rc, &mut rs);
        assert_eq!(client.state, SctpState::Connected);
        assert_eq!(server.state, SctpState::Connected);
        // (outbound, inbound): min(our OS, their MIS), min(our MIS, their OS). The server read
        // the client's own counts from its INIT; sctp-proto answers with counts already reduced
        // to what it accepts (its MIS = min of both MIS), and those are what the client can use.
        assert_eq!(server.negotiated_streams(), Some((300, 1024)));
        assert_eq!(client.negotiated_streams(), Some((300, 300)));
        let ordered = StreamOptions {
            ordered: true,
            ..Default::default()
        };
        // Buffered until it leaves (nothing has left yet), not until it is acknowledged.
        assert_eq!(client.send(3, 51, b"hello", ordered), Some(5));
        assert!(client.send(3, 53, &[1, 2, 3], ordered).is_some());
        assert!(client.send(3, 51, b"", ordered).is_some());
        assert_eq!(client.buffered_amount(3), 5 + 3 + 1);
        now = pump(now, &mut client, &mut server, &mut rc, &mut rs);
        assert_eq!(client.buffered_amount(3), 0);
        let got: Vec<(u16, u32, Vec<u8>)> = rs
            .drain(..)
            .map(|m| (m.stream_id, m.ppid, m.data))
            .collect();
        assert_eq!(
            got,
            vec![
                (3, 51, b"hello".to_vec()),
                (3, 53, vec![1, 2, 3]),
                (3, 56, vec![])
            ]
        );
        let big = vec![7u8; 100_000];
        assert!(server.send(8, 51, b"small", ordered).is_some());
        assert!(server.send(8, 53, &big, ordered).is_some());
        pump(now, &mut client, &mut server, &mut rc, &mut rs);
        assert_eq!(
            rc.len(),
            2,
            "{:?}",
            rc.iter().map(|m| m.data.len()).collect::<Vec<_>>()
        );
        assert_eq!(rc[0].data, b"small");
        assert_eq!(rc[1].data, big);
        // Over the maximum message size: refused.
        assert!(server.send(8, 53, &vec![0u8; 300_000], ordered).is_none());
    }
}
