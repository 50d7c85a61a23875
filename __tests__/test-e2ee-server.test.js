'use strict';
// The `e2ee` option of produce() (peerwave-sfu extension): validated, kept on the producer,
// carried through pipeToRouter, and refused to PlainTransport / DirectTransport consumers
// (they serve recording and processing, which would only get ciphertext). Forwarding and
// simulcast switching of whole-frame encrypted media are proven in Rust
// (tests/scenario_e2ee.rs) and with Chromium (test-e2e-e2ee.test.js).
const mediasoup = require('../');
const { UnsupportedError } = mediasoup.errors;
const { mediaCodecs } = require('./helpers/media');

let worker, router, webrtc, plain, direct;
beforeAll(async () => {
	worker = await mediasoup.createWorker();
	router = await worker.createRouter({ mediaCodecs });
	webrtc = await router.createWebRtcTransport({ listenIps: ['127.0.0.1'] });
	plain = await router.createPlainTransport({ listenIp: '127.0.0.1' });
	direct = await router.createDirectTransport();
});
afterAll(() => worker.close());

const videoParams = ssrc => ({
	codecs: [{ mimeType: 'video/VP8', payloadType: 112, clockRate: 90000, rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }] }],
	headerExtensions: [],
	encodings: [{ ssrc }],
	rtcp: { cname: 'v' },
});

test('produce({ e2ee }) is kept on the producer; a wrong value is a TypeError naming the field', async () => {
	const p = await webrtc.produce({ kind: 'video', rtpParameters: videoParams(1001), e2ee: 'whole-frame' });
	expect(p.e2ee).toBe('whole-frame');
	const q = await webrtc.produce({ kind: 'video', rtpParameters: videoParams(1002), e2ee: 'clear-prefix' });
	expect(q.e2ee).toBe('clear-prefix');
	const r = await webrtc.produce({ kind: 'video', rtpParameters: videoParams(1003) });
	expect(r.e2ee).toBeUndefined();
	await expect(webrtc.produce({ kind: 'video', rtpParameters: videoParams(1004), e2ee: 'yes' })).rejects.toThrow(TypeError);
	await expect(webrtc.produce({ kind: 'video', rtpParameters: videoParams(1004), e2ee: 'yes' })).rejects.toThrow(/e2ee/);
	for (const x of [p, q, r]) {
		x.close();
	}
});

test('an encrypted producer is consumed over WebRTC and pipes, refused to PlainTransport and DirectTransport', async () => {
	const p = await webrtc.produce({ kind: 'video', rtpParameters: videoParams(2001), e2ee: 'whole-frame' });
	const c = await webrtc.consume({ producerId: p.id, rtpCapabilities: router.rtpCapabilities });
	expect(c.kind).toBe('video');
	for (const t of [plain, direct]) {
		const err = await t.consume({ producerId: p.id, rtpCapabilities: router.rtpCapabilities }).catch(e => e);
		expect(err).toBeInstanceOf(UnsupportedError);
		expect(err.message).toMatch(/end-to-end encrypted/);
		expect(err.message).toMatch(t === plain ? /PlainTransport/ : /DirectTransport/);
	}
	// Nothing was created by the refusals.
	expect((await router.dump()).mapProducerIdConsumerIds.find(m => m.key === p.id).values).toEqual([c.id]);
	// Through pipeToRouter the flag follows the producer, and the other router refuses too.
	const router2 = await worker.createRouter({ mediaCodecs });
	const { pipeProducer } = await router.pipeToRouter({ producerId: p.id, router: router2, keepId: false });
	expect(pipeProducer.e2ee).toBe('whole-frame');
	const plain2 = await router2.createPlainTransport({ listenIp: '127.0.0.1' });
	await expect(plain2.consume({ producerId: pipeProducer.id, rtpCapabilities: router2.rtpCapabilities })).rejects.toThrow(UnsupportedError);
	const webrtc2 = await router2.createWebRtcTransport({ listenIps: ['127.0.0.1'] });
	await expect(webrtc2.consume({ producerId: pipeProducer.id, rtpCapabilities: router2.rtpCapabilities })).resolves.toBeDefined();
	router2.close();
	p.close();
});

test('a producer without e2ee is consumed on a PlainTransport as in mediasoup', async () => {
	const p = await webrtc.produce({ kind: 'video', rtpParameters: videoParams(3001) });
	await expect(plain.consume({ producerId: p.id, rtpCapabilities: router.rtpCapabilities })).resolves.toBeDefined();
	p.close();
});
