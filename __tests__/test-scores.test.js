'use strict';
// Producer and consumer scores from real RTP and RTCP on Node UDP sockets, computed as mediasoup
// computes them: a received stream is scored at each sender report from the packets expected,
// lost, repaired and retransmitted since the last one, a sent stream at each receiver report;
// the score is the weighted average of the last 24 interval scores; a received stream without
// packets for 1.5 s scores 0 until one comes.
const mediasoup = require('../');
const { mediaCodecs, rtp, parseRtp, isRtcp, socket, collector } = require('./helpers/media');

const sleep = ms => new Promise(r => setTimeout(r, ms));
const SSRC = 4242;
const VP8_KEY = Buffer.from([0x10, 0x00, 0x9d, 0x01, 0x2a, 1, 2, 3, 4]);
const VP8_DELTA = Buffer.from([0x10, 0x01, 5, 6, 7, 8]);

/** An RTCP sender report for `ssrc` (no report blocks). */
function senderReport(ssrc, rtpTs, packets, octets) {
	const b = Buffer.alloc(28);
	b[0] = 0x80;
	b[1] = 200;
	b.writeUInt16BE(6, 2);
	b.writeUInt32BE(ssrc, 4);
	const ms = Date.now() + 2208988800000;
	b.writeUInt32BE(Math.floor(ms / 1000) >>> 0, 8);
	b.writeUInt32BE(Math.floor(((ms % 1000) / 1000) * 2 ** 32) >>> 0, 12);
	b.writeUInt32BE(rtpTs >>> 0, 16);
	b.writeUInt32BE(packets, 20);
	b.writeUInt32BE(octets, 24);
	return b;
}

/** An RTCP receiver report from `sender` with one block about `media`. */
function receiverReport(sender, media, { fractionLost, totalLost, highestSeq }) {
	const b = Buffer.alloc(32);
	b[0] = 0x81;
	b[1] = 201;
	b.writeUInt16BE(7, 2);
	b.writeUInt32BE(sender, 4);
	b.writeUInt32BE(media, 8);
	b.writeUInt32BE(((fractionLost & 0xff) << 24) | (totalLost & 0xffffff), 12);
	b.writeUInt32BE(highestSeq >>> 0, 16);
	return b;
}

let worker, router, sendSock, recvSock, tIn, tOut, producer, consumer, rx;

beforeAll(async () => {
	worker = await mediasoup.createWorker();
	router = await worker.createRouter({ mediaCodecs });
	sendSock = await socket();
	recvSock = await socket();
	rx = collector(recvSock);
	tIn = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, comedia: true });
	tOut = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, rtcpMux: true });
	await tOut.connect({ ip: '127.0.0.1', port: recvSock.address().port });
	producer = await tIn.produce({
		kind: 'video',
		rtpParameters: {
			codecs: [{ mimeType: 'video/VP8', payloadType: 96, clockRate: 90000, rtcpFeedback: [] }],
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

/**
 * Sends 50 packets/s with a sender report every 500 ms; `lose(seq)` packets are skipped (lost
 * on the way), nothing is sent while `paused`. Returns a stop function.
 */
function sender(state) {
	const media = setInterval(() => {
		state.ts += 1800;
		if (state.paused) {
			return;
		}
		const seq = state.seq++ & 0xffff;
		if (state.lose(seq)) {
			return;
		}
		state.sent++;
		// A keyframe every second (the consumer starts at one).
		const payload = state.sent % 50 === 1 ? VP8_KEY : VP8_DELTA;
		sendSock.send(rtp({ pt: 96, seq, ts: state.ts, ssrc: SSRC, marker: true, payload }), tIn.tuple.localPort, '127.0.0.1');
	}, 20);
	const reports = setInterval(() => {
		sendSock.send(senderReport(SSRC, state.ts, state.sent, state.sent * 30), tIn.tuple.localPort, '127.0.0.1');
	}, 500);
	return () => {
		clearInterval(media);
		clearInterval(reports);
	};
}

const producerScore = () => producer.score[0]?.score;
const state = { seq: 1000, ts: 0, sent: 0, paused: false, lose: () => false };

test('producer score: 10 on a clean stream, down with loss, 0 when it stops, 10 when it comes back', async () => {
	const events = [];
	producer.on('score', s => events.push(s.map(e => e.score)));
	const stop = sender(state);
	try {
		await sleep(2500);
		expect(producer.score).toMatchObject([{ encodingIdx: 0, ssrc: SSRC, score: 10 }]);
		// One packet in four lost for 4 s: each interval scores round(0.75⁴·10) = 3.
		state.lose = seq => seq % 4 === 0;
		await sleep(4000);
		const lossy = producerScore();
		expect(lossy).toBeLessThanOrEqual(6);
		expect(events.some(e => e[0] < 10)).toBe(true);
		// Clean again for a second, then the sender goes quiet: inactivity after 1.5 s.
		state.lose = () => false;
		await sleep(1000);
		state.paused = true;
		await sleep(3000);
		expect(producerScore()).toBe(0);
		expect(events.at(-1)).toEqual([0]);
		// Back: the history starts again at 10.
		state.paused = false;
		await sleep(2000);
		expect(producerScore()).toBe(10);
		console.log(`[scores] producer score events ${JSON.stringify(events)}`);
	} finally {
		stop();
	}
}, 30000);

test('consumer score from receiver reports: down when the receiver reports loss, back up when it stops', async () => {
	const events = [];
	consumer.on('score', s => events.push(s));
	// The same sender continues (sequence numbers and timestamps go on).
	Object.assign(state, { paused: false, lose: () => false });
	const stop = sender(state);
	const out = consumer.rtpParameters.encodings[0].ssrc;
	let received = 0;
	let highest = 0;
	recvSock.on('message', m => {
		if (!isRtcp(m)) {
			const p = parseRtp(m);
			if (p.ssrc === out) {
				received++;
				highest = p.seq;
			}
		}
	});
	// The receiver claims one packet in three lost, cumulatively, every 500 ms.
	let claimLoss = true;
	let lost = 0;
	let lastReceived = 0;
	const rr = setInterval(() => {
		const fresh = received - lastReceived;
		lastReceived = received;
		const newLost = claimLoss ? Math.round(fresh / 2) : 0;
		lost += newLost;
		const fraction = fresh > 0 ? Math.min(255, Math.round((newLost / (fresh + newLost)) * 256)) : 0;
		recvSock.send(receiverReport(7777, out, { fractionLost: fraction, totalLost: lost, highestSeq: 0x10000 + highest }), tOut.tuple.localPort, '127.0.0.1');
	}, 500);
	try {
		await sleep(4000);
		expect(rx.seen.length).toBeGreaterThan(50);
		const low = consumer.score;
		expect(low.score).toBeLessThan(10);
		expect(low.producerScore).toBe(10);
		expect(events.some(e => e.score < 10)).toBe(true);
		const [stats] = await consumer.getStats();
		expect(stats.score).toBe(low.score);
		claimLoss = false;
		// Clean intervals push the bad ones out of the weighted average's weight.
		await sleep(6000);
		expect(consumer.score.score).toBeGreaterThan(low.score);
		console.log(`[scores] consumer score events ${JSON.stringify(events.map(e => e.score))}`);
	} finally {
		clearInterval(rr);
		stop();
	}
}, 30000);
