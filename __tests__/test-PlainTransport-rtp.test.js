'use strict';
// Real RTP from Node UDP sockets: sender → PlainTransport (comedia) → Producer → Consumer →
// PlainTransport → receiver. Checks rewriting, NACK/RTX, PLI, producer-side NACKs and
// pause/resume continuity on the wire.
const mediasoup = require('../');
const { mediaCodecs, rtp, parseRtp, isRtcp, nack, pli, parseRtcp, socket, collector } = require('./helpers/media');

const VP8_KEY = Buffer.from([0x10, 0x00, 0x9d, 0x01, 0x2a, 1, 2, 3, 4]);
const VP8_DELTA = Buffer.from([0x10, 0x01, 5, 6, 7, 8]);

const sleep = ms => new Promise(r => setTimeout(r, ms));

let worker, router, sendSock, recvSock, tIn, tOut, producer, consumer, rx, tx;
const SSRC = 1111;

beforeAll(async () => {
	worker = await mediasoup.createWorker();
	router = await worker.createRouter({ mediaCodecs });
	sendSock = await socket();
	recvSock = await socket();
	rx = collector(recvSock);
	tx = collector(sendSock);
	tIn = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, comedia: true });
	tOut = await router.createPlainTransport({ listenIp: { ip: '127.0.0.1' }, rtcpMux: true });
	await tOut.connect({ ip: '127.0.0.1', port: recvSock.address().port });
	producer = await tIn.produce({
		kind: 'video',
		rtpParameters: {
			codecs: [
				{
					mimeType: 'video/VP8',
					payloadType: 96,
					clockRate: 90000,
					rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }],
				},
			],
			encodings: [{ ssrc: SSRC }],
		},
	});
	consumer = await tOut.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
});

afterAll(() => {
	sendSock?.close();
	recvSock?.close();
	worker?.close();
});

let seq = 1000;
let ts = 5000;
function send(payload, opts = {}) {
	const s = opts.seq ?? seq++;
	sendSock.send(rtp({ pt: 96, seq: s, ts, ssrc: SSRC, marker: true, payload }), tIn.tuple.localPort, '127.0.0.1');
	ts += 3000;
	return s;
}

test('comedia learns the sender tuple and emits "tuple"', async () => {
	const tuple = new Promise(resolve => tIn.once('tuple', resolve));
	send(VP8_KEY);
	const t = await tuple;
	expect(t.remoteIp).toBe('127.0.0.1');
	expect(t.remotePort).toBe(sendSock.address().port);
	expect(t.protocol).toBe('udp');
	expect(tIn.tuple.remotePort).toBe(sendSock.address().port);
});

test('the consumer rewrites SSRC, payload type and sequence numbers and keeps the payload', async () => {
	const { ssrc } = consumer.rtpParameters.encodings[0];
	const vp8 = consumer.rtpParameters.codecs.find(c => c.mimeType === 'video/VP8');
	const first = parseRtp(await rx.next(m => !isRtcp(m)));
	expect(first.ssrc).toBe(ssrc);
	expect(first.pt).toBe(vp8.payloadType);
	expect(first.payload.equals(VP8_KEY)).toBe(true);
	// MID header extension with the consumer's mid.
	const midExt = consumer.rtpParameters.headerExtensions.find(e => e.uri === 'urn:ietf:params:rtp-hdrext:sdes:mid');
	expect(first.exts.get(midExt.id).toString()).toBe(consumer.rtpParameters.mid);
	for (let i = 0; i < 5; i++) {
		send(VP8_DELTA);
	}
	await rx.next(m => !isRtcp(m) && parseRtp(m).seq === ((first.seq + 5) & 0xffff));
	const got = rx.seen.filter(m => !isRtcp(m)).map(parseRtp);
	expect(got.map(p => p.seq)).toEqual([0, 1, 2, 3, 4, 5].map(i => (first.seq + i) & 0xffff));
	expect(got.every(p => p.ssrc === ssrc)).toBe(true);
});

test('a NACK from the receiver is answered with RTX carrying the original sequence number', async () => {
	const media = rx.seen.filter(m => !isRtcp(m)).map(parseRtp);
	const target = media[2];
	const { ssrc, rtx } = consumer.rtpParameters.encodings[0];
	const rtxCodec = consumer.rtpParameters.codecs.find(c => /rtx$/i.test(c.mimeType));
	recvSock.send(nack(12345, ssrc, [target.seq]), tOut.tuple.localPort, '127.0.0.1');
	const r = parseRtp(await rx.next(m => !isRtcp(m) && parseRtp(m).ssrc === rtx.ssrc));
	expect(r.pt).toBe(rtxCodec.payloadType);
	expect(r.payload.readUInt16BE(0)).toBe(target.seq);
	expect(r.payload.subarray(2).equals(target.payload)).toBe(true);
	const [stats] = await consumer.getStats();
	expect(stats.nackCount).toBeGreaterThanOrEqual(1);
	expect(stats.packetsRetransmitted).toBeGreaterThanOrEqual(1);
});

test('a PLI from the receiver reaches the sender as a PLI for the producer SSRC', async () => {
	const { ssrc } = consumer.rtpParameters.encodings[0];
	recvSock.send(pli(12345, ssrc), tOut.tuple.localPort, '127.0.0.1');
	const msg = await tx.next(m => isRtcp(m) && parseRtcp(m).some(p => p.pt === 206 && p.count === 1));
	const p = parseRtcp(msg).find(x => x.pt === 206);
	expect(p.body.readUInt32BE(4)).toBe(SSRC);
	const [s] = await consumer.getStats();
	expect(s.pliCount).toBeGreaterThanOrEqual(1);
});

test('a gap in the producer stream is NACKed to the sender', async () => {
	const skipped = seq++;
	send(VP8_DELTA);
	const msg = await tx.next(m => isRtcp(m) && parseRtcp(m).some(p => p.pt === 205 && p.count === 1));
	const fb = parseRtcp(msg).find(p => p.pt === 205);
	expect(fb.body.readUInt32BE(4)).toBe(SSRC);
	expect(fb.body.readUInt16BE(8)).toBe(skipped);
	// The retransmission repairs it; stats count it.
	send(VP8_DELTA, { seq: skipped });
	await sleep(100);
	const [s] = await producer.getStats();
	expect(s.type).toBe('inbound-rtp');
	expect(s.ssrc).toBe(SSRC);
	expect(s.nackCount).toBeGreaterThanOrEqual(1);
	expect(s.packetsRepaired).toBeGreaterThanOrEqual(1);
});

test('producer pause/resume: events, nothing forwarded while paused, continuity after a keyframe', async () => {
	const { ssrc } = consumer.rtpParameters.encodings[0];
	// The highest output sequence number so far (a repaired packet may have arrived last).
	const lastOut = Math.max(...rx.seen.filter(m => !isRtcp(m) && parseRtp(m).ssrc === ssrc).map(m => parseRtp(m).seq));
	const paused = new Promise(r => consumer.once('producerpause', r));
	await producer.pause();
	await paused;
	expect(consumer.producerPaused).toBe(true);
	await sleep(50);
	rx.clear();
	send(VP8_DELTA);
	send(VP8_DELTA);
	await sleep(150);
	expect(rx.seen.filter(m => !isRtcp(m) && parseRtp(m).ssrc === consumer.rtpParameters.encodings[0].ssrc)).toHaveLength(0);
	const before = (await consumer.getStats())[0].packetCount;
	const resumed = new Promise(r => consumer.once('producerresume', r));
	await producer.resume();
	await resumed;
	expect(consumer.producerPaused).toBe(false);
	// On resume the SFU asks the sender for a keyframe, and drops deltas until one comes.
	await tx.next(m => isRtcp(m) && parseRtcp(m).some(p => p.pt === 206));
	send(VP8_DELTA);
	await sleep(50);
	expect((await consumer.getStats())[0].packetCount).toBe(before);
	rx.clear();
	send(VP8_KEY);
	const k = parseRtp(await rx.next(m => !isRtcp(m)));
	expect(k.payload.equals(VP8_KEY)).toBe(true);
	// Output numbering continues where it stopped, despite the input jump.
	expect(k.seq).toBe((lastOut + 1) & 0xffff);
	const media = (await consumer.dump()).rtpParameters;
	expect(media.encodings[0].ssrc).toBe(k.ssrc);
});

test('the consumer sends sender reports with its SSRC and CNAME', async () => {
	const { ssrc } = consumer.rtpParameters.encodings[0];
	const sr = await rx.next(m => isRtcp(m) && parseRtcp(m).some(p => p.pt === 200 && p.body.readUInt32BE(0) === ssrc), 3000);
	const sdes = parseRtcp(sr).find(p => p.pt === 202);
	expect(sdes.body.subarray(6, 6 + sdes.body[5]).toString()).toBe(consumer.rtpParameters.rtcp.cname);
});

test('malformed datagrams are dropped without harm', async () => {
	for (const junk of [Buffer.from([0x80]), Buffer.from([0x80, 96, 0]), Buffer.alloc(40, 0xff), Buffer.from([0x81, 200, 0xff, 0xff])]) {
		sendSock.send(junk, tIn.tuple.localPort, '127.0.0.1');
	}
	await sleep(50);
	rx.clear();
	send(VP8_KEY);
	const p = parseRtp(await rx.next(m => !isRtcp(m)));
	expect(p.payload.equals(VP8_KEY)).toBe(true);
});

test('trace events: producer rtp/keyframe (in) and pli (out); consumer rtp (out), nack and pli (in)', async () => {
	const ptrace = [];
	const ctrace = [];
	producer.on('trace', t => ptrace.push(t));
	consumer.on('trace', t => ctrace.push(t));
	await producer.enableTraceEvent(['rtp', 'keyframe', 'pli', 'chicken']);
	await consumer.enableTraceEvent(['rtp', 'nack', 'pli']);
	expect((await producer.dump()).traceEventTypes).toEqual(['rtp', 'keyframe', 'pli']);
	send(VP8_KEY);
	send(VP8_DELTA);
	const { ssrc } = consumer.rtpParameters.encodings[0];
	const last = parseRtp(await rx.next(m => !isRtcp(m) && parseRtp(m).ssrc === ssrc && parseRtp(m).payload.equals(VP8_DELTA)));
	recvSock.send(nack(12345, ssrc, [last.seq]), tOut.tuple.localPort, '127.0.0.1');
	recvSock.send(pli(12345, ssrc), tOut.tuple.localPort, '127.0.0.1');
	await new Promise(r => setTimeout(r, 150));
	expect(ptrace.map(t => [t.type, t.direction])).toEqual(
		expect.arrayContaining([['keyframe', 'in'], ['rtp', 'in'], ['pli', 'out']])
	);
	const kf = ptrace.find(t => t.type === 'keyframe');
	expect(kf.info).toMatchObject({ ssrc: SSRC, isKeyFrame: true, payloadType: 96 });
	expect(typeof kf.timestamp).toBe('number');
	expect(ctrace.map(t => [t.type, t.direction])).toEqual(expect.arrayContaining([['rtp', 'out'], ['nack', 'in'], ['pli', 'in']]));
	await producer.enableTraceEvent([]);
	await consumer.enableTraceEvent([]);
});

test('a change of the video-orientation extension emits "videoorientationchange"', async () => {
	const w = await mediasoup.createWorker();
	const r = await w.createRouter({ mediaCodecs });
	const t = await r.createPlainTransport({ listenIp: '127.0.0.1', comedia: true });
	const p = await t.produce({
		kind: 'video',
		rtpParameters: {
			codecs: [{ mimeType: 'video/VP8', payloadType: 96, clockRate: 90000 }],
			headerExtensions: [{ uri: 'urn:3gpp:video-orientation', id: 8 }],
			encodings: [{ ssrc: 9999 }],
		},
	});
	const changes = [];
	p.on('videoorientationchange', o => changes.push(o));
	const s = await socket();
	// Camera 1 (back), no flip, 90°; the same again (no event); then 270°.
	for (const [seq, cvo] of [[1, 0x09], [2, 0x09], [3, 0x0b]]) {
		s.send(rtp({ pt: 96, seq, ts: seq, ssrc: 9999, payload: VP8_KEY, exts: [[8, Buffer.from([cvo])]] }), t.tuple.localPort, '127.0.0.1');
		await sleep(20);
	}
	await sleep(50);
	expect(changes).toEqual([
		{ camera: true, flip: false, rotation: 90 },
		{ camera: true, flip: false, rotation: 270 },
	]);
	s.close();
	w.close();
});

test('two consumers of one producer on one connected PlainTransport each get every packet (their copies leave the shared socket together)', async () => {
	const w = await mediasoup.createWorker();
	const r = await w.createRouter({ mediaCodecs });
	const sender = await socket();
	const receiver = await socket();
	const got = collector(receiver);
	const tSend = await r.createPlainTransport({ listenIp: '127.0.0.1', comedia: true });
	const tRecv = await r.createPlainTransport({ listenIp: '127.0.0.1', rtcpMux: true });
	await tRecv.connect({ ip: '127.0.0.1', port: receiver.address().port });
	const p = await tSend.produce({
		kind: 'audio',
		rtpParameters: { codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }], encodings: [{ ssrc: 4242 }] },
	});
	const c1 = await tRecv.consume({ producerId: p.id, rtpCapabilities: r.rtpCapabilities });
	const c2 = await tRecv.consume({ producerId: p.id, rtpCapabilities: r.rtpCapabilities });
	for (let i = 0; i < 50; i++) {
		sender.send(rtp({ pt: 100, seq: 100 + i, ts: i * 960, ssrc: 4242, payload: Buffer.alloc(200, i) }), tSend.tuple.localPort, '127.0.0.1');
		if (i % 10 === 9) await sleep(5);
	}
	const count = ssrc => got.seen.filter(m => !isRtcp(m) && parseRtp(m).ssrc === ssrc).length;
	const [s1, s2] = [c1.rtpParameters.encodings[0].ssrc, c2.rtpParameters.encodings[0].ssrc];
	for (let i = 0; i < 50 && (count(s1) < 50 || count(s2) < 50); i++) await sleep(20);
	expect(count(s1)).toBe(50);
	expect(count(s2)).toBe(50);
	// The payload made it through unchanged for both.
	const last = got.seen.filter(m => !isRtcp(m) && parseRtp(m).ssrc === s2).pop();
	expect(parseRtp(last).payload.equals(Buffer.alloc(200, 49))).toBe(true);
	sender.close();
	receiver.close();
	w.close();
});
