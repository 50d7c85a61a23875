//! Socket setup for transports: binding UDP sockets and TCP listeners from mediasoup's
//! `listenInfo` objects, with ports taken from the listen info or the worker's range.

use mio::net::{TcpListener, TcpStream, UdpSocket};
use serde_json::Value;
use socket2::{Domain, Protocol as SockProto, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr};

pub enum Sock {
    Udp(UdpSock),
    Listener(TcpListener),
    Conn(Box<TcpConn>),
}

/// A UDP socket, whether it is bound to an IPv6 address (known once at bind time, so sending
/// never asks the kernel with `getsockname`), and the peer it is connected to, if any.
pub struct UdpSock {
    pub socket: UdpSocket,
    v6: bool,
    peer: Option<SocketAddr>,
}

impl UdpSock {
    /// Connects the socket to a transport's fixed remote, so the kernel keeps the route
    /// instead of looking it up per datagram; sends to `to` then carry no address.
    pub fn connect(&mut self, to: SocketAddr) {
        if self.socket.connect(self.wire(to)).is_ok() {
            self.peer = Some(to);
        }
    }

    /// The address to give the kernel for a datagram to `to`: none when connected to it.
    pub fn dest(&self, to: SocketAddr) -> Option<SocketAddr> {
        (self.peer != Some(to)).then(|| self.wire(to))
    }

    /// Sends one datagram; a full socket buffer drops it, as a congested network would.
    pub fn send(&self, data: &[u8], to: SocketAddr) {
        let _ = match self.dest(to) {
            None => self.socket.send(data),
            Some(a) => self.socket.send_to(data, a),
        };
    }

    /// An IPv4 destination as an IPv6-bound socket must be given it (IPv4-mapped).
    fn wire(&self, to: SocketAddr) -> SocketAddr {
        match to {
            SocketAddr::V4(v4) if self.v6 => {
                SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port())
            }
            _ => to,
        }
    }
}

/// An ICE-TCP connection with RFC 4571 framing (2-byte big-endian length before each packet).
pub struct TcpConn {
    pub stream: TcpStream,
    pub listener: u32,
    pub peer: SocketAddr,
    pub rbuf: Vec<u8>,
    pub wbuf: Vec<u8>,
}

impl TcpConn {
    /// Takes complete frames out of the read buffer.
    pub fn next_frame(&mut self, out: &mut Vec<u8>) -> bool {
        if self.rbuf.len() < 2 {
            return false;
        }
        let len = u16::from_be_bytes([self.rbuf[0], self.rbuf[1]]) as usize;
        if self.rbuf.len() < 2 + len {
            return false;
        }
        out.clear();
        out.extend_from_slice(&self.rbuf[2..2 + len]);
        self.rbuf.drain(..2 + len);
        true
    }
}

pub struct Bound {
    pub sock: Sock,
    pub protocol: &'static str,
    pub ip: String,
    pub port: u16,
    pub announced: Option<String>,
}

fn bind_one(proto: &str, ip: IpAddr, port: u16, info: &Value) -> io::Result<Sock> {
    let addr = SocketAddr::new(ip, port);
    let domain = if ip.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let flags = &info["flags"];
    if proto == "tcp" {
        let s = Socket::new(domain, Type::STREAM, Some(SockProto::TCP))?;
        if ip.is_ipv6() {
            s.set_only_v6(flags["ipv6Only"].as_bool().unwrap_or(false))?;
        }
        s.set_reuse_address(true)?;
        s.bind(&SockAddr::from(addr))?;
        s.listen(256)?;
        s.set_nonblocking(true)?;
        Ok(Sock::Listener(TcpListener::from_std(s.into())))
    } else {
        let s = Socket::new(domain, Type::DGRAM, Some(SockProto::UDP))?;
        if ip.is_ipv6() {
            s.set_only_v6(flags["ipv6Only"].as_bool().unwrap_or(false))?;
        }
        if flags["udpReusePort"].as_bool().unwrap_or(false) {
            s.set_reuse_port(true)?;
        }
        if let Some(n) = info["sendBufferSize"].as_u64() {
            s.set_send_buffer_size(n as usize)?;
        }
        if let Some(n) = info["recvBufferSize"].as_u64() {
            s.set_recv_buffer_size(n as usize)?;
        }
        s.bind(&SockAddr::from(addr))?;
        s.set_nonblocking(true)?;
        Ok(Sock::Udp(UdpSock {
            socket: UdpSocket::from_std(s.into()),
            v6: addr.is_ipv6(),
            peer: None,
        }))
    }
}

/// Binds the socket a listen info asks for; with no fixed port, tries ports of the range
/// starting at a random one.
pub fn bind(info: &Value, default_range: (u16, u16), random: u32) -> Result<Bound, String> {
    let proto = if info["protocol"].as_str() == Some("tcp") {
        "tcp"
    } else {
        "udp"
    };
    let ip_s = info["ip"].as_str().ok_or("missing listenInfo.ip")?;
    let ip: IpAddr = ip_s
        .parse()
        .map_err(|_| format!("wrong listenInfo.ip '{ip_s}'"))?;
    let announced = info["announcedAddress"]
        .as_str()
        .or(info["announcedIp"].as_str())
        .map(str::to_string);
    let fixed = info["port"].as_u64().unwrap_or(0) as u16;
    let mk = |sock, port| Bound {
        sock,
        protocol: proto,
        ip: ip_s.to_string(),
        port,
        announced: announced.clone(),
    };
    if fixed != 0 {
        let s = bind_one(proto, ip, fixed, info)
            .map_err(|e| format!("cannot bind {proto} {ip}:{fixed}: {e}"))?;
        return Ok(mk(s, fixed));
    }
    let (min, max) = match info["portRange"].as_object() {
        Some(r) => (
            r["min"].as_u64().unwrap_or(default_range.0 as u64) as u16,
            r["max"].as_u64().unwrap_or(default_range.1 as u64) as u16,
        ),
        None => default_range,
    };
    if min > max {
        return Err(format!("wrong portRange [min:{min}, max:{max}]"));
    }
    let span = (max - min) as u32 + 1;
    let start = random % span;
    let mut last_err = None;
    for i in 0..span {
        let port = min + ((start + i) % span) as u16;
        match bind_one(proto, ip, port, info) {
            Ok(s) => {
                let port = match &s {
                    Sock::Udp(u) => u.socket.local_addr().map(|a| a.port()).unwrap_or(port),
                    Sock::Listener(l) => l.local_addr().map(|a| a.port()).unwrap_or(port),
                    Sock::Conn(_) => port,
                };
                return Ok(mk(s, port));
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last_err = Some(e),
            Err(e) => return Err(format!("cannot bind {proto} {ip}:{port}: {e}")),
        }
    }
    Err(format!(
        "no more available ports [protocol:{proto}, ip:'{ip}', range:{min}-{max}]: {last_err:?}"
    ))
}
