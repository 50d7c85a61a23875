'use strict';
const mediasoup = require('../');
const { UnsupportedError, NotFoundError } = mediasoup.errors;
const { mediaCodecs } = require('./helpers/media');

let worker, router, transport1, transport2;
beforeAll(async () => {
	worker = await mediasoup.createWorker();
	router = await worker.createRouter({ mediaCodecs });
	transport1 = await router.createWebRtcTransport({ listenIps: ['127.0.0.1'] });
	transport2 = await router.createPlainTransport({ listenIp: '127.0.0.1' });
});
afterAll(() => worker.close());

const audioParams = () => ({
	mid: 'AUDIO',
	codecs: [
		{
			mimeType: 'audio/opus',
			payloadType: 111,
			clockRate: 48000,
			channels: 2,
			parameters: { useinbandfec: 1, usedtx: 1, foo: 'bar' },
		},
	],
	headerExtensions: [
		{ uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: 10 },
		{ uri: 'urn:ietf:params:rtp-hdrext:ssrc-audio-level', id: 12 },
	],
	encodings: [{ ssrc: 11111111, dtx: true }],
	rtcp: { cname: 'audio-1' },
});

const videoParams = () => ({
	mid: 'VIDEO',
	codecs: [
		{ mimeType: 'video/VP8', payloadType: 112, clockRate: 90000, rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }] },
		{ mimeType: 'video/rtx', payloadType: 113, clockRate: 90000, parameters: { apt: 112 } },
	],
	headerExtensions: [{ uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: 10 }],
	encodings: [
		{ rid: 'r0', scalabilityMode: 'L1T3', maxBitrate: 100000 },
		{ rid: 'r1', scalabilityMode: 'L1T3', maxBitrate: 500000 },
	],
	rtcp: { cname: 'video-1' },
});

test('transport.produce() succeeds; producer fields, dump and observer events', async () => {
	const onNew = jest.fn();
	transport1.observer.once('newproducer', onNew);
	const producer = await transport1.produce({ kind: 'audio', rtpParameters: audioParams(), appData: { foo: 1 } });
	expect(onNew).toHaveBeenCalledWith(producer);
	expect(producer.kind).toBe('audio');
	expect(producer.type).toBe('simple');
	expect(producer.paused).toBe(false);
	expect(producer.score).toEqual([]);
	expect(producer.appData).toEqual({ foo: 1 });
	expect(producer.rtpParameters.rtcp.cname).toBe('audio-1');
	const dump = await producer.dump();
	expect(dump).toMatchObject({ id: producer.id, kind: 'audio', type: 'simple', paused: false });
	expect(dump.rtpMapping.codecs).toEqual([{ payloadType: 111, mappedPayloadType: 100 }]);
	const tdump = await transport1.dump();
	expect(tdump.producerIds).toEqual([producer.id]);
	expect(tdump.rtpListener.midTable).toEqual([{ key: 'AUDIO', value: producer.id }]);
	producer.close();
	expect(producer.closed).toBe(true);
});

test('a simulcast producer gets type "simulcast" and its consumer one encoding L2T3', async () => {
	const producer = await transport1.produce({ kind: 'video', rtpParameters: videoParams() });
	expect(producer.type).toBe('simulcast');
	const consumer = await transport2.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
	expect(consumer.type).toBe('simulcast');
	expect(consumer.rtpParameters.encodings).toHaveLength(1);
	expect(consumer.rtpParameters.encodings[0].scalabilityMode).toBe('L2T3');
	expect(consumer.rtpParameters.encodings[0].maxBitrate).toBe(500000);
	expect(consumer.rtpParameters.encodings[0].rtx.ssrc).toBe(consumer.rtpParameters.encodings[0].ssrc + 1);
	producer.close();
});

test('transport.produce() with wrong arguments rejects with TypeError / UnsupportedError', async () => {
	await expect(transport1.produce({ kind: 'chicken', rtpParameters: audioParams() })).rejects.toThrow(/invalid kind/);
	await expect(transport1.produce({ kind: 'audio', rtpParameters: {} })).rejects.toThrow(/missing params.codecs/);
	await expect(
		transport1.produce({ kind: 'audio', rtpParameters: { codecs: [{ mimeType: 'audio/opus', clockRate: 48000 }] } })
	).rejects.toThrow(/missing codec.payloadType/);
	await expect(
		transport1.produce({
			kind: 'audio',
			rtpParameters: { codecs: [{ mimeType: 'audio/ISAC', payloadType: 108, clockRate: 32000 }], encodings: [{ ssrc: 1 }] },
		})
	).rejects.toThrow(UnsupportedError);
	await expect(
		transport1.produce({
			kind: 'video',
			rtpParameters: { codecs: [{ mimeType: 'video/rtx', payloadType: 113, clockRate: 90000, parameters: { apt: 112 } }] },
		})
	).rejects.toThrow(/missing media codec found for RTX PT 113/);
	await expect(transport1.produce({ kind: 'audio', rtpParameters: audioParams(), appData: 'x' })).rejects.toThrow(/appData/);
});

test('an SSRC or MID already in the RTP listener is refused', async () => {
	const p = await transport1.produce({ kind: 'audio', rtpParameters: audioParams() });
	const again = audioParams();
	again.mid = 'OTHER';
	await expect(transport1.produce({ kind: 'audio', rtpParameters: again })).rejects.toThrow(/ssrc already exists/);
	const sameMid = audioParams();
	sameMid.encodings = [{ ssrc: 999 }];
	await expect(transport1.produce({ kind: 'audio', rtpParameters: sameMid })).rejects.toThrow(/MID already exists/);
	p.close();
});

test('transport.consume(): fields, mid, paused, events and errors', async () => {
	const producer = await transport1.produce({ kind: 'audio', rtpParameters: audioParams() });
	const onNew = jest.fn();
	transport2.observer.once('newconsumer', onNew);
	const consumer = await transport2.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities, paused: true, appData: { c: 1 } });
	expect(onNew).toHaveBeenCalledWith(consumer);
	expect(consumer.producerId).toBe(producer.id);
	expect(consumer.kind).toBe('audio');
	expect(consumer.type).toBe('simple');
	expect(consumer.paused).toBe(true);
	expect(consumer.producerPaused).toBe(false);
	expect(consumer.priority).toBe(1);
	// The producer has sent nothing yet: its encoding scores are 0 (as mediasoup reports).
	expect(consumer.score).toEqual({ score: 10, producerScore: 0, producerScores: [0] });
	// MIDs are assigned per transport in order: the simulcast test above took '0'.
	expect(consumer.rtpParameters.mid).toBe('1');
	expect(consumer.rtpParameters.codecs).toHaveLength(1);
	expect(consumer.rtpParameters.codecs[0]).toMatchObject({ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 });
	// Producer codec parameters travel to the consumer.
	expect(consumer.rtpParameters.codecs[0].parameters).toEqual({ useinbandfec: 1, usedtx: 1, foo: 'bar' });
	expect(consumer.rtpParameters.encodings[0].rtx).toBeUndefined();
	const second = await transport2.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities, mid: 'custom' });
	expect(second.rtpParameters.mid).toBe('custom');

	const onPause = jest.fn();
	const onResume = jest.fn();
	consumer.observer.on('pause', onPause);
	consumer.observer.on('resume', onResume);
	await consumer.resume();
	expect(consumer.paused).toBe(false);
	expect(onResume).toHaveBeenCalledTimes(1);
	await consumer.pause();
	expect(onPause).toHaveBeenCalledTimes(1);
	const dump = await consumer.dump();
	expect(dump).toMatchObject({ id: consumer.id, producerId: producer.id, kind: 'audio', type: 'simple', paused: true, producerPaused: false });
	await consumer.setPriority(2);
	expect(consumer.priority).toBe(2);
	await consumer.unsetPriority();
	expect(consumer.priority).toBe(1);
	await consumer.requestKeyFrame();

	const pPause = new Promise(r => consumer.once('producerpause', r));
	await producer.pause();
	await pPause;
	expect(consumer.producerPaused).toBe(true);
	const pResume = new Promise(r => consumer.once('producerresume', r));
	await producer.resume();
	await pResume;
	expect(consumer.producerPaused).toBe(false);

	const closed = new Promise(r => consumer.once('producerclose', r));
	producer.close();
	await closed;
	expect(consumer.closed).toBe(true);
	expect((await transport2.dump()).consumerIds).not.toContain(consumer.id);
});

test('transport.consume() errors: missing producerId, unknown producer, incompatible capabilities', async () => {
	await expect(transport2.consume({ rtpCapabilities: router.rtpCapabilities })).rejects.toThrow(/missing producerId/);
	await expect(transport2.consume({ producerId: 'nope', rtpCapabilities: router.rtpCapabilities })).rejects.toThrow(NotFoundError);
	const producer = await transport1.produce({ kind: 'audio', rtpParameters: audioParams() });
	const caps = { codecs: [{ kind: 'audio', mimeType: 'audio/PCMU', clockRate: 8000, preferredPayloadType: 0 }] };
	await expect(transport2.consume({ producerId: producer.id, rtpCapabilities: caps })).rejects.toThrow(UnsupportedError);
	await expect(transport2.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities, mid: '' })).resolves.toBeTruthy();
	producer.close();
});

test('transport close: producers and consumers get "transportclose"', async () => {
	const t = await router.createPlainTransport({ listenIp: '127.0.0.1' });
	const producer = await transport1.produce({ kind: 'audio', rtpParameters: audioParams() });
	const consumer = await t.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
	const onTc = jest.fn();
	consumer.on('transportclose', onTc);
	t.close();
	expect(onTc).toHaveBeenCalledTimes(1);
	expect(consumer.closed).toBe(true);
	const [stats] = await producer.getStats().then(s => (s.length ? s : [{}]));
	expect(stats).toBeDefined();
	producer.close();
});

test('getStats() of a producer with no packets yet is an empty list; of a consumer an outbound-rtp entry', async () => {
	const producer = await transport1.produce({ kind: 'audio', rtpParameters: audioParams() });
	expect(await producer.getStats()).toEqual([]);
	const consumer = await transport2.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
	const [s] = await consumer.getStats();
	expect(s).toMatchObject({ type: 'outbound-rtp', kind: 'audio', mimeType: 'audio/opus', packetCount: 0, score: 10 });
	expect(s.ssrc).toBe(consumer.rtpParameters.encodings[0].ssrc);
	producer.close();
});
