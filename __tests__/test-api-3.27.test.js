'use strict';
// What only mediasoup ≥ 3.15 has: WorkerClosedError / NotFoundError, updateMediaCodecs(),
// the package's subpath exports.
const mediasoup = require('../');
const { WorkerClosedError, NotFoundError, UnsupportedError } = mediasoup.errors;
const { mediaCodecs } = require('./helpers/media');

test('subpath exports: peerwave-sfu/types, /errors, /ortc, /extras', () => {
	expect(require('peerwave-sfu/errors').WorkerClosedError).toBe(WorkerClosedError);
	expect(require('peerwave-sfu/types').NotFoundError).toBe(NotFoundError);
	expect(typeof require('peerwave-sfu/ortc').generateRouterRtpCapabilities).toBe('function');
	const { EnhancedEventEmitter, enhancedOnce } = require('peerwave-sfu/extras');
	expect(typeof enhancedOnce).toBe('function');
	expect(new EnhancedEventEmitter()).toBeInstanceOf(require('node:events').EventEmitter);
	expect(require('peerwave-sfu').types.InvalidStateError).toBe(WorkerClosedError);
});

test('router.updateMediaCodecs() changes rtpCapabilities and validates like createRouter()', async () => {
	const worker = await mediasoup.createWorker();
	const router = await worker.createRouter({ mediaCodecs: mediaCodecs.slice(0, 1) });
	expect(router.rtpCapabilities.codecs.map(c => c.mimeType)).toEqual(['audio/opus']);
	router.updateMediaCodecs(mediaCodecs);
	expect(router.rtpCapabilities.codecs.map(c => c.mimeType)).toEqual([
		'audio/opus',
		'video/VP8',
		'video/rtx',
		'video/VP9',
		'video/rtx',
		'video/H264',
		'video/rtx',
	]);
	expect(() => router.updateMediaCodecs([{ kind: 'audio', mimeType: 'audio/chicken', clockRate: 1 }])).toThrow(UnsupportedError);
	// A producer created after the update may use the new codecs.
	const t = await router.createPlainTransport({ listenIp: '127.0.0.1' });
	await expect(
		t.produce({ kind: 'video', rtpParameters: { codecs: [{ mimeType: 'video/VP8', payloadType: 96, clockRate: 90000 }], encodings: [{ ssrc: 1 }] } })
	).resolves.toBeTruthy();
	worker.close();
});

test('NotFoundError for unknown producers; WorkerClosedError after close', async () => {
	const worker = await mediasoup.createWorker();
	const router = await worker.createRouter({ mediaCodecs });
	const t = await router.createWebRtcTransport({ listenIps: ['127.0.0.1'] });
	await expect(t.consume({ producerId: 'nope', rtpCapabilities: router.rtpCapabilities })).rejects.toThrow(NotFoundError);
	await expect(router.pipeToRouter({ producerId: 'nope', router: await worker.createRouter() })).rejects.toThrow(NotFoundError);
	worker.close();
	await expect(t.getStats()).rejects.toThrow(WorkerClosedError);
});
