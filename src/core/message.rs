//! Messages between the io driver and the core engine.

use serde_json::Value;
use std::net::SocketAddr;

/// A request from JS: mediasoup's method names, the target handler and a JSON body.
#[derive(Debug, Clone)]
pub struct Request {
    pub id: u32,
    pub method: String,
    pub handler_id: String,
    pub data: Value,
    /// Binary payload (`producer.send`, `transport.sendRtcp`).
    pub payload: Option<Vec<u8>>,
}

/// Error classes the facade turns into mediasoup's JS errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    Error,
    TypeError,
    NotFound,
    Unsupported,
}

impl ErrorKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorKind::Error => "Error",
            ErrorKind::TypeError => "TypeError",
            ErrorKind::NotFound => "NotFoundError",
            ErrorKind::Unsupported => "UnsupportedError",
        }
    }
}

#[derive(Debug, Clone)]
pub struct CoreError {
    pub kind: ErrorKind,
    pub reason: String,
}

impl CoreError {
    pub fn error(reason: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Error,
            reason: reason.into(),
        }
    }
    pub fn type_error(reason: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::TypeError,
            reason: reason.into(),
        }
    }
    pub fn unsupported(reason: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Unsupported,
            reason: reason.into(),
        }
    }
    pub fn not_found(reason: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::NotFound,
            reason: reason.into(),
        }
    }
}

/// What the core asks the driver to do.
#[derive(Debug)]
pub enum Output {
    Transmit {
        socket: u32,
        to: SocketAddr,
        data: Vec<u8>,
    },
    Response {
        id: u32,
        result: Result<Value, CoreError>,
    },
    Notification {
        target: String,
        event: &'static str,
        data: Value,
    },
    /// Binary data for the JS side (DirectTransport RTP/RTCP), never as JSON.
    Binary {
        target: String,
        event: &'static str,
        data: Vec<u8>,
        ppid: u32,
    },
    CloseSocket(u32),
    /// A plain or pipe transport's remote is now fixed: the io layer connects the UDP socket
    /// so the kernel keeps the route instead of looking it up per datagram (the engine drops
    /// datagrams from any other address anyway, as mediasoup does).
    ConnectSocket {
        socket: u32,
        to: SocketAddr,
    },
    /// A worker log line (already filtered by logLevel / logTags).
    Log {
        level: &'static str,
        tag: &'static str,
        message: String,
    },
}
