'use strict';
const mediasoup = require('../');
const { UnsupportedError, WorkerClosedError } = mediasoup.errors;
const { mediaCodecs } = require('./helpers/media');

let worker;
beforeEach(async () => {
	worker = await mediasoup.createWorker();
});
afterEach(() => worker.close());

test('worker.createRouter() with PeerWave codecs assigns mediasoup payload types', async () => {
	const onNew = jest.fn();
	worker.observer.once('newrouter', onNew);
	const router = await worker.createRouter({ mediaCodecs, appData: { room: 'a' } });
	expect(onNew).toHaveBeenCalledWith(router);
	expect(typeof router.id).toBe('string');
	expect(router.closed).toBe(false);
	expect(router.appData).toEqual({ room: 'a' });
	const codecs = router.rtpCapabilities.codecs;
	const summary = codecs.map(c => [c.mimeType, c.preferredPayloadType, c.parameters.apt]);
	expect(summary).toEqual([
		['audio/opus', 100, undefined],
		['video/VP8', 101, undefined],
		['video/rtx', 102, 101],
		['video/VP9', 103, undefined],
		['video/rtx', 104, 103],
		['video/H264', 105, undefined],
		['video/rtx', 106, 105],
	]);
	expect(codecs[0].parameters).toEqual({ useinbandfec: 1, usedtx: 1 });
	expect(codecs[0].rtcpFeedback).toEqual([{ type: 'nack', parameter: '' }, { type: 'transport-cc', parameter: '' }]);
	expect(codecs[5].parameters).toEqual({ 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 });
	expect(router.rtpCapabilities.headerExtensions.find(e => e.uri === 'urn:ietf:params:rtp-hdrext:ssrc-audio-level').preferredId).toBe(6);
	expect(worker.routersForTesting.size).toBe(1);
});

test('worker.createRouter() rejects unsupported codecs, duplicated PTs and wrong appData', async () => {
	await expect(
		worker.createRouter({ mediaCodecs: [{ kind: 'audio', mimeType: 'audio/chicken', clockRate: 8000 }] })
	).rejects.toThrow(UnsupportedError);
	await expect(
		worker.createRouter({
			mediaCodecs: [
				{ kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2, preferredPayloadType: 100 },
				{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000, preferredPayloadType: 100 },
			],
		})
	).rejects.toThrow(/duplicated codec.preferredPayloadType/);
	await expect(worker.createRouter({ mediaCodecs: [{ mimeType: 'audio/opus' }] })).rejects.toThrow(TypeError);
	await expect(worker.createRouter({ appData: 'NOT-AN-OBJECT' })).rejects.toThrow(TypeError);
});

test('router.dump() lists transports, producers and consumers', async () => {
	const router = await worker.createRouter({ mediaCodecs });
	const t = await router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' } });
	const producer = await t.produce({
		kind: 'audio',
		rtpParameters: { codecs: [{ mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2 }], encodings: [{ ssrc: 11 }] },
	});
	const consumer = await t.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
	const dump = await router.dump();
	expect(dump.id).toBe(router.id);
	expect(dump.transportIds).toEqual([t.id]);
	expect(dump.mapProducerIdConsumerIds).toEqual([{ key: producer.id, values: [consumer.id] }]);
	expect(dump.mapConsumerIdProducerId).toEqual([{ key: consumer.id, value: producer.id }]);
});

test('router.close() closes transports (routerclose), producers and consumers (transportclose)', async () => {
	const router = await worker.createRouter({ mediaCodecs });
	const t = await router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }] });
	const producer = await t.produce({
		kind: 'audio',
		rtpParameters: { codecs: [{ mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2 }], encodings: [{ ssrc: 11 }] },
	});
	const onRouterClose = jest.fn();
	const onProducerClose = jest.fn();
	const onObserverClose = jest.fn();
	t.on('routerclose', onRouterClose);
	producer.on('transportclose', onProducerClose);
	router.observer.once('close', onObserverClose);
	router.close();
	expect(router.closed).toBe(true);
	expect(t.closed).toBe(true);
	expect(producer.closed).toBe(true);
	expect(onRouterClose).toHaveBeenCalledTimes(1);
	expect(onProducerClose).toHaveBeenCalledTimes(1);
	expect(onObserverClose).toHaveBeenCalledTimes(1);
	expect(worker.routersForTesting.size).toBe(0);
	expect((await worker.dump()).routerIds).toEqual([]);
	await expect(router.dump()).rejects.toThrow(/Router not found/);
});

test('router.canConsume()', async () => {
	const router = await worker.createRouter({ mediaCodecs });
	const t = await router.createPlainTransport({ listenIp: '127.0.0.1' });
	const producer = await t.produce({
		kind: 'video',
		rtpParameters: {
			codecs: [{ mimeType: 'video/H264', payloadType: 112, clockRate: 90000, parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f' } }],
			encodings: [{ ssrc: 22 }],
		},
	});
	expect(router.canConsume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities })).toBe(true);
	const vp8Only = { codecs: [{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000, preferredPayloadType: 96 }] };
	expect(router.canConsume({ producerId: producer.id, rtpCapabilities: vp8Only })).toBe(false);
	expect(router.canConsume({ producerId: 'nope', rtpCapabilities: router.rtpCapabilities })).toBe(false);
});

test('a router of a closed worker rejects with WorkerClosedError', async () => {
	const router = await worker.createRouter();
	worker.close();
	expect(router.closed).toBe(true);
	await expect(router.dump()).rejects.toThrow(WorkerClosedError);
	await expect(router.createWebRtcTransport({ listenIps: ['127.0.0.1'] })).rejects.toThrow(WorkerClosedError);
});
