'use strict';
// DirectTransport: RTP in with producer.send(), out as consumer 'rtp' events; RTCP in with
// sendRtcp() and out as 'rtcp' events. Buffers cross the binding as Buffers, not JSON.
const mediasoup = require('../');
const { UnsupportedError } = mediasoup.errors;
const { mediaCodecs, rtp, parseRtp, pli, parseRtcp } = require('./helpers/media');

let worker, router;
beforeEach(async () => {
	worker = await mediasoup.createWorker();
	router = await worker.createRouter({ mediaCodecs });
});
afterEach(() => worker.close());

const VP8_KEY = Buffer.from([0x10, 0x00, 0x9d, 0x01, 0x2a, 1, 2, 3]);

test('producer.send() → consumer "rtp" (rewritten), and sendRtcp() PLI → producer side "rtcp"', async () => {
	const tIn = await router.createDirectTransport();
	const tOut = await router.createDirectTransport();
	expect(tIn.type).toBe('direct');
	const producer = await tIn.produce({
		kind: 'video',
		rtpParameters: {
			codecs: [{ mimeType: 'video/VP8', payloadType: 96, clockRate: 90000, rtcpFeedback: [{ type: 'nack', parameter: 'pli' }] }],
			encodings: [{ ssrc: 777 }],
		},
	});
	const consumer = await tOut.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
	const got = [];
	consumer.on('rtp', b => got.push(b));
	for (let seq = 1; seq <= 5; seq++) {
		producer.send(rtp({ pt: 96, seq, ts: seq * 3000, ssrc: 777, marker: true, payload: VP8_KEY }));
	}
	await new Promise(r => setTimeout(r, 100));
	expect(got).toHaveLength(5);
	expect(got.every(b => Buffer.isBuffer(b))).toBe(true);
	const first = parseRtp(got[0]);
	expect(first.ssrc).toBe(consumer.rtpParameters.encodings[0].ssrc);
	expect(first.pt).toBe(consumer.rtpParameters.codecs[0].payloadType);
	expect(first.payload.equals(VP8_KEY)).toBe(true);
	expect(got.map(b => parseRtp(b).seq)).toEqual([0, 1, 2, 3, 4].map(i => (first.seq + i) & 0xffff));

	const rtcp = new Promise(r => tIn.once('rtcp', r));
	tOut.sendRtcp(pli(1, consumer.rtpParameters.encodings[0].ssrc));
	const packet = await rtcp;
	const fb = parseRtcp(packet).find(p => p.pt === 206 && p.count === 1);
	expect(fb.body.readUInt32BE(4)).toBe(777);

	const [stats] = await tOut.getStats();
	expect(stats.type).toBe('direct-transport');
	expect(stats.rtpBytesSent).toBeGreaterThan(0);
	expect((await tIn.dump()).direct).toBe(true);
});

test('DirectTransport bitrate setters throw UnsupportedError; send() validates its argument', async () => {
	const t = await router.createDirectTransport({ maxMessageSize: 1000 });
	await expect(t.setMaxIncomingBitrate(1000)).rejects.toThrow(UnsupportedError);
	await expect(t.setMaxOutgoingBitrate(1000)).rejects.toThrow(UnsupportedError);
	await expect(t.setMinOutgoingBitrate(1000)).rejects.toThrow(UnsupportedError);
	expect(() => t.sendRtcp('nope')).toThrow(TypeError);
	const producer = await t.produce({
		kind: 'audio',
		rtpParameters: { codecs: [{ mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2 }], encodings: [{ ssrc: 5 }] },
	});
	expect(() => producer.send({})).toThrow(TypeError);
	// Garbage is dropped by the worker, not a crash.
	producer.send(Buffer.from([1, 2, 3]));
	await expect(worker.dump()).resolves.toBeTruthy();
});
