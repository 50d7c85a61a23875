//! DataProducer and DataConsumer: messages between SCTP streams (data channels) and direct
//! (Node) endpoints, routed producer → consumers by the router.
//!
//! Owns each object's stream parameters, subchannels, pause state and counters. It does not
//! touch SCTP associations or transports (the router sends through them) nor other objects.

use crate::core::sctp::StreamOptions;
use serde_json::{json, Value};

/// Which data consumers a message sent with `dataProducer.send()` reaches: those subscribed to
/// one of `subchannels` (all if none given), to `required` if given, and not to `ignored`. A
/// message that arrives over SCTP carries no subchannels and reaches every consumer, as in
/// mediasoup (a pipe DataConsumer has no subchannels, so messages sent with subchannels do not
/// cross a pipe).
#[derive(Debug, Default, Clone, Copy)]
pub struct SubchannelFilter<'a> {
    pub subchannels: Option<&'a [u16]>,
    pub required: Option<u16>,
    pub ignored: Option<u16>,
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
            Some(list) => list.iter().any(|s| self.subchannels.contains(s)),
            None => true,
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
    }
}
