'use strict';
// Shared fixtures: PeerWave's router codecs, RTP/RTCP packet builders and a STUN client for
// driving transports from plain Node sockets.
const crypto = require('node:crypto');
const zlib = require('node:zlib');
const dgram = require('node:dgram');

const mediaCodecs = [
	{ kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2, parameters: { useinbandfec: 1, usedtx: 1 } },
	{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000, parameters: { 'x-google-start-bitrate': 1000 } },
	{ kind: 'video', mimeType: 'video/VP9', clockRate: 90000, parameters: { 'profile-id': 2 } },
	{
		kind: 'video',
		mimeType: 'video/H264',
		clockRate: 90000,
		parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 },
	},
];

/** An RTP packet: 12-byte header (+ one-byte extensions) and the given payload. */
function rtp({ pt, seq, ts, ssrc, marker = false, payload, exts = [] }) {
	let ext = Buffer.alloc(0);
	if (exts.length) {
		const parts = [];
		for (const [id, value] of exts) {
			parts.push(Buffer.from([(id << 4) | (value.length - 1)]), value);
		}
		let body = Buffer.concat(parts);
		if (body.length % 4) {
			body = Buffer.concat([body, Buffer.alloc(4 - (body.length % 4))]);
		}
		ext = Buffer.concat([Buffer.from([0xbe, 0xde, 0, body.length / 4]), body]);
	}
	const h = Buffer.alloc(12);
	h[0] = 0x80 | (exts.length ? 0x10 : 0);
	h[1] = (marker ? 0x80 : 0) | pt;
	h.writeUInt16BE(seq & 0xffff, 2);
	h.writeUInt32BE(ts >>> 0, 4);
	h.writeUInt32BE(ssrc >>> 0, 8);
	return Buffer.concat([h, ext, payload]);
}

function parseRtp(b) {
	const cc = b[0] & 0x0f;
	let off = 12 + cc * 4;
	const exts = new Map();
	if (b[0] & 0x10) {
		const len = b.readUInt16BE(off + 2) * 4;
		const profile = b.readUInt16BE(off);
		let i = off + 4;
		const end = i + len;
		while (i < end) {
			if (b[i] === 0) {
				i++;
				continue;
			}
			if (profile === 0xbede) {
				const id = b[i] >> 4;
				const l = (b[i] & 0x0f) + 1;
				exts.set(id, b.subarray(i + 1, i + 1 + l));
				i += 1 + l;
			} else {
				const id = b[i];
				const l = b[i + 1];
				exts.set(id, b.subarray(i + 2, i + 2 + l));
				i += 2 + l;
			}
		}
		off = end;
	}
	return {
		marker: Boolean(b[1] & 0x80),
		pt: b[1] & 0x7f,
		seq: b.readUInt16BE(2),
		ts: b.readUInt32BE(4),
		ssrc: b.readUInt32BE(8),
		exts,
		payload: b.subarray(off),
	};
}

function isRtcp(b) {
	return b.length >= 4 && b[1] >= 192 && b[1] <= 223;
}

/** Generic NACK (RFC 4585) for a list of sequence numbers close together. */
function nack(sender, media, seqs) {
	const pid = seqs[0];
	let blp = 0;
	for (const s of seqs.slice(1)) {
		blp |= 1 << ((s - pid - 1) & 0xffff);
	}
	const b = Buffer.alloc(16);
	b[0] = 0x81;
	b[1] = 205;
	b.writeUInt16BE(3, 2);
	b.writeUInt32BE(sender, 4);
	b.writeUInt32BE(media, 8);
	b.writeUInt16BE(pid, 12);
	b.writeUInt16BE(blp, 14);
	return b;
}

function pli(sender, media) {
	const b = Buffer.alloc(12);
	b[0] = 0x81;
	b[1] = 206;
	b.writeUInt16BE(2, 2);
	b.writeUInt32BE(sender, 4);
	b.writeUInt32BE(media, 8);
	return b;
}

/** Splits compound RTCP into [{ pt, count, body }]. */
function parseRtcp(b) {
	const out = [];
	let i = 0;
	while (i + 4 <= b.length) {
		const len = (b.readUInt16BE(i + 2) + 1) * 4;
		out.push({ pt: b[i + 1], count: b[i] & 0x1f, body: b.subarray(i + 4, i + len) });
		i += len;
	}
	return out;
}

/** A STUN Binding request with USERNAME, PRIORITY, ICE-CONTROLLING, USE-CANDIDATE, MI, FP. */
function stunBindingRequest({ username, password, useCandidate = true, tid = crypto.randomBytes(12) }) {
	const attrs = [];
	const attr = (type, value) => {
		const h = Buffer.alloc(4);
		h.writeUInt16BE(type, 0);
		h.writeUInt16BE(value.length, 2);
		const pad = Buffer.alloc((4 - (value.length % 4)) % 4);
		attrs.push(h, value, pad);
	};
	attr(0x0006, Buffer.from(username));
	const prio = Buffer.alloc(4);
	prio.writeUInt32BE(0x6e0001ff);
	attr(0x0024, prio);
	attr(0x802a, crypto.randomBytes(8));
	if (useCandidate) {
		attr(0x0025, Buffer.alloc(0));
	}
	const header = (len) => {
		const h = Buffer.alloc(20);
		h.writeUInt16BE(0x0001, 0);
		h.writeUInt16BE(len, 2);
		h.writeUInt32BE(0x2112a442, 4);
		tid.copy(h, 8);
		return h;
	};
	let body = Buffer.concat(attrs);
	const miInput = Buffer.concat([header(body.length + 24), body]);
	const mac = crypto.createHmac('sha1', password).update(miInput).digest();
	const mi = Buffer.concat([Buffer.from([0x00, 0x08, 0x00, 0x14]), mac]);
	body = Buffer.concat([body, mi]);
	const fpInput = Buffer.concat([header(body.length + 8), body]);
	const crc = (zlib.crc32(fpInput) ^ 0x5354554e) >>> 0;
	const fp = Buffer.alloc(8);
	fp.writeUInt16BE(0x8028, 0);
	fp.writeUInt16BE(4, 2);
	fp.writeUInt32BE(crc, 4);
	return { packet: Buffer.concat([header(body.length + 8), body, fp]), tid };
}

/** Message class/method and whether MESSAGE-INTEGRITY checks out with `password`. */
function parseStunResponse(b, password) {
	const type = b.readUInt16BE(0);
	let i = 20;
	let integrity = false;
	let errorCode;
	while (i + 4 <= b.length) {
		const t = b.readUInt16BE(i);
		const l = b.readUInt16BE(i + 2);
		if (t === 0x0008 && password) {
			const h = Buffer.from(b.subarray(0, 20));
			h.writeUInt16BE(i + 24 - 20, 2);
			const mac = crypto.createHmac('sha1', password).update(Buffer.concat([h, b.subarray(20, i)])).digest();
			integrity = mac.equals(b.subarray(i + 4, i + 24));
		}
		if (t === 0x0009) {
			errorCode = b[i + 6] * 100 + b[i + 7];
		}
		i += 4 + l + ((4 - (l % 4)) % 4);
	}
	return { type, integrity, errorCode, tid: b.subarray(8, 20) };
}

/** A UDP socket bound on 127.0.0.1. */
function socket() {
	return new Promise(resolve => {
		const s = dgram.createSocket('udp4');
		s.bind(0, '127.0.0.1', () => resolve(s));
	});
}

/** Collects datagrams; `next(pred)` resolves with the first (past or future) match. */
function collector(sock) {
	const seen = [];
	const waiters = [];
	sock.on('message', msg => {
		seen.push(msg);
		for (let i = waiters.length - 1; i >= 0; i--) {
			if (waiters[i].pred(msg)) {
				waiters[i].resolve(msg);
				waiters.splice(i, 1);
			}
		}
	});
	return {
		seen,
		next(pred, ms = 3000) {
			const found = seen.find(pred);
			if (found) {
				return Promise.resolve(found);
			}
			return new Promise((resolve, reject) => {
				const timer = setTimeout(() => reject(new Error('timeout waiting for packet')), ms);
				waiters.push({
					pred,
					resolve: m => {
						clearTimeout(timer);
						resolve(m);
					},
				});
			});
		},
		clear() {
			seen.length = 0;
		},
	};
}

module.exports = {
	mediaCodecs,
	rtp,
	parseRtp,
	isRtcp,
	nack,
	pli,
	parseRtcp,
	stunBindingRequest,
	parseStunResponse,
	socket,
	collector,
};
