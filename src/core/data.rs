//! DataProducer and DataConsumer: messages between SCTP streams (data channels) and direct
//! (Node) endpoints, routed producer → consumers by the router.
//!
//! Owns each object's stream parameters, subchannels, pause state and counters. It does not
//! touch SCTP associations or transports (the router sends through them) nor other objects.

use crate::core::sctp::StreamOptions;
use serde_json::{json, Value};

/// Which data consumers a message sent with `dataProducer.send()` reaches: those subscribed to
/// one of `subchannels` (all if none given), to `required` if given, and not to `ignored`. A
/// message from a browser's data channel carries none and reaches every consumer. Between
/// routers (`pipeToRouter`) the options travel with the message (`encode_subchannels`), so
/// the other router's consumers are chosen as if the message had been sent there.
#[derive(Debug, Default, Clone, Copy)]
pub struct SubchannelFilter<'a> {
    pub subchannels: Option<&'a [u16]>,
    pub required: Option<u16>,
    pub ignored: Option<u16>,
}

/// The header a message crossing a pipe transport starts with when it was sent with
/// subchannel options: an 8-byte token ("SubChan" and flag bits: 1 = a required subchannel
/// follows, 2 = an ignored one follows), the subchannel count, the subchannels, then the
/// required and ignored ones, all big-endian 16-bit (the layout mediasoup's newer workers use
/// for the same purpose). Pipes join this package's own routers: both ends speak it.
const SUBCHANNEL_TOKEN: u64 = 0x5375_6243_6861_6E00;
const FLAG_REQUIRED: u64 = 0x1;
const FLAG_IGNORED: u64 = 0x2;

/// Prepends the filter to a message for a pipe; None when there is nothing to carry.
pub fn encode_subchannels(f: &SubchannelFilter<'_>, data: &[u8]) -> Option<Vec<u8>> {
    let list = f.subchannels.unwrap_or(&[]);
    if list.is_empty() && f.required.is_none() && f.ignored.is_none() {
        return None;
    }
    let count = u16::try_from(list.len()).ok()?;
    let mut token = SUBCHANNEL_TOKEN;
    if f.required.is_some() {
        token |= FLAG_REQUIRED;
    }
    if f.ignored.is_some() {
        token |= FLAG_IGNORED;
    }
    let mut out = Vec::with_capacity(14 + 2 * list.len() + data.len());
    out.extend_from_slice(&token.to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    for s in list {
        out.extend_from_slice(&s.to_be_bytes());
    }
    for v in [f.required, f.ignored].into_iter().flatten() {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(data);
    Some(out)
}

/// The subchannel options a message from a pipe carried, and where its payload starts.
#[derive(Debug, PartialEq, Eq)]
pub struct Carried {
    pub subchannels: Vec<u16>,
    pub required: Option<u16>,
    pub ignored: Option<u16>,
    pub payload_at: usize,
}

impl Carried {
    pub fn filter(&self) -> SubchannelFilter<'_> {
        SubchannelFilter {
            subchannels: Some(&self.subchannels),
            required: self.required,
            ignored: self.ignored,
        }
    }
}

/// None when the message carries no options (or the header is cut short: then it is a
/// payload like any other).
pub fn decode_subchannels(data: &[u8]) -> Option<Carried> {
    let token = u64::from_be_bytes(data.get(..8)?.try_into().ok()?);
    if token & !(FLAG_REQUIRED | FLAG_IGNORED) != SUBCHANNEL_TOKEN {
        return None;
    }
    let count = usize::from(u16::from_be_bytes(data.get(8..10)?.try_into().ok()?));
    let word = |at: usize| {
        data.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let mut at = 10;
    let mut subchannels = Vec::with_capacity(count);
    for _ in 0..count {
        subchannels.push(word(at)?);
        at += 2;
    }
    let mut field = |flag: u64| -> Option<Option<u16>> {
        if token & flag == 0 {
            return Some(None);
        }
        let v = word(at)?;
        at += 2;
        Some(Some(v))
    };
    let required = field(FLAG_REQUIRED)?;
    let ignored = field(FLAG_IGNORED)?;
    Some(Carried {
        subchannels,
        required,
        ignored,
        payload_at: at,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    Sctp,
    Direct,
}

impl DataKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DataKind::Sctp => "sctp",
            DataKind::Direct => "direct",
        }
    }
}

pub struct DataProducer {
    pub id: String,
    pub transport: u32,
    pub kind: DataKind,
    pub stream_id: Option<u16>,
    pub sctp_stream_parameters: Value,
    pub label: String,
    pub protocol: String,
    pub paused: bool,
    pub consumers: Vec<u32>,
    pub messages: u64,
    pub bytes: u64,
}

impl DataProducer {
    pub fn dump(&self) -> Value {
        without_nulls(json!({
            "id": self.id,
            "type": self.kind.as_str(),
            "sctpStreamParameters": self.sctp_stream_parameters,
            "label": self.label,
            "protocol": self.protocol,
            "paused": self.paused,
        }))
    }

    pub fn stats(&self, ts: u64) -> Value {
        json!([{
            "type": "data-producer",
            "timestamp": ts,
            "label": self.label,
            "protocol": self.protocol,
            "messagesReceived": self.messages,
            "bytesReceived": self.bytes,
        }])
    }
}

pub struct DataConsumer {
    pub id: String,
    pub transport: u32,
    pub producer: u32,
    pub data_producer_id: String,
    pub kind: DataKind,
    pub stream_id: Option<u16>,
    pub options: StreamOptions,
    pub sctp_stream_parameters: Value,
    pub label: String,
    pub protocol: String,
    pub paused: bool,
    pub producer_paused: bool,
    pub subchannels: Vec<u16>,
    pub messages: u64,
    pub bytes: u64,
    pub buffered_amount_low_threshold: usize,
    /// Whether the buffered amount was above the threshold (to emit 'bufferedamountlow' once
    /// it falls back).
    pub above_threshold: bool,
}

impl DataConsumer {
    /// Whether a message with these subchannel options reaches this consumer (mediasoup 3.13+
    /// subchannels: a message with subchannels goes to consumers subscribed to any of them;
    /// `requiredSubchannel` must be among theirs).
    pub fn accepts(&self, f: &SubchannelFilter<'_>) -> bool {
        let (subchannels, required) = (f.subchannels, f.required);
        // A consumer subscribed to the ignored subchannel does not get the message (mediasoup
        // 3.27's ignoredSubchannel: typically the sender's own subchannel, no echo).
        if f.ignored.is_some_and(|i| self.subchannels.contains(&i)) {
            return false;
        }
        if let Some(r) = required {
            if !self.subchannels.contains(&r) {
                return false;
            }
        }
        match subchannels {
            // An empty list is no list (mediasoup checks `!subchannels.empty()`).
            Some(list) if !list.is_empty() => list.iter().any(|s| self.subchannels.contains(s)),
            _ => true,
        }
    }

    pub fn dump(&self) -> Value {
        without_nulls(json!({
            "id": self.id,
            "dataProducerId": self.data_producer_id,
            "type": self.kind.as_str(),
            "sctpStreamParameters": self.sctp_stream_parameters,
            "label": self.label,
            "protocol": self.protocol,
            "bufferedAmountLowThreshold": self.buffered_amount_low_threshold,
            "paused": self.paused,
            "dataProducerPaused": self.producer_paused,
            "subchannels": self.subchannels,
        }))
    }

    pub fn stats(&self, ts: u64, buffered: usize) -> Value {
        json!([{
            "type": "data-consumer",
            "timestamp": ts,
            "label": self.label,
            "protocol": self.protocol,
            "messagesSent": self.messages,
            "bytesSent": self.bytes,
            "bufferedAmount": buffered,
        }])
    }
}

/// Dumps leave out what a transport kind does not have (e.g. SCTP parameters when direct).
fn without_nulls(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.retain(|_, x| !x.is_null());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consumer(subchannels: Vec<u16>) -> DataConsumer {
        DataConsumer {
            id: "c".into(),
            transport: 0,
            producer: 0,
            data_producer_id: "p".into(),
            kind: DataKind::Direct,
            stream_id: None,
            options: StreamOptions::default(),
            sctp_stream_parameters: Value::Null,
            label: String::new(),
            protocol: String::new(),
            paused: false,
            producer_paused: false,
            subchannels,
            messages: 0,
            bytes: 0,
            buffered_amount_low_threshold: 0,
            above_threshold: false,
        }
    }

    #[test]
    fn subchannel_filtering() {
        let f = |subchannels, required, ignored| SubchannelFilter {
            subchannels,
            required,
            ignored,
        };
        let c = consumer(vec![1, 2]);
        assert!(c.accepts(&f(None, None, None)));
        assert!(c.accepts(&f(Some(&[2, 9]), None, None)));
        assert!(!c.accepts(&f(Some(&[9]), None, None)));
        assert!(c.accepts(&f(None, Some(1), None)));
        assert!(!c.accepts(&f(None, Some(3), None)));
        assert!(!consumer(vec![]).accepts(&f(Some(&[1]), None, None)));
        assert!(!c.accepts(&f(None, None, Some(2))));
        assert!(c.accepts(&f(None, None, Some(3))));
        assert!(consumer(vec![]).accepts(&f(None, None, Some(3))));
        // An empty list is no list.
        assert!(consumer(vec![]).accepts(&f(Some(&[]), None, None)));
    }

    #[test]
    fn subchannel_options_cross_a_pipe_and_come_back_out() {
        let f = SubchannelFilter {
            subchannels: Some(&[10, 20, 300]),
            required: Some(5),
            ignored: Some(6),
        };
        let wire = encode_subchannels(&f, &[1, 2, 3, 4]).unwrap();
        assert_eq!(&wire[..8], b"SubChan\x03");
        assert_eq!(wire.len(), 4 + 8 + 2 + 6 + 2 + 2);
        let c = decode_subchannels(&wire).unwrap();
        assert_eq!(
            (c.subchannels.clone(), c.required, c.ignored),
            (vec![10, 20, 300], Some(5), Some(6))
        );
        assert_eq!(&wire[c.payload_at..], &[1, 2, 3, 4]);
        // Only an ignored subchannel.
        let f = SubchannelFilter {
            ignored: Some(9),
            ..Default::default()
        };
        let wire = encode_subchannels(&f, b"x").unwrap();
        let c = decode_subchannels(&wire).unwrap();
        assert_eq!(
            (
                c.subchannels.len(),
                c.required,
                c.ignored,
                &wire[c.payload_at..]
            ),
            (0, None, Some(9), &b"x"[..])
        );
        // Nothing to carry, a payload that merely looks like the token, a header cut short.
        assert!(encode_subchannels(&SubchannelFilter::default(), b"x").is_none());
        assert!(decode_subchannels(b"SubChan").is_none());
        let mut cut = encode_subchannels(
            &SubchannelFilter {
                subchannels: Some(&[1, 2]),
                ..Default::default()
            },
            b"",
        )
        .unwrap();
        cut.truncate(12);
        assert!(decode_subchannels(&cut).is_none());
    }
}
