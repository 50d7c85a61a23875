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

test('getters return clones: changing what they return changes nothing inside', async () => {
	const worker = await mediasoup.createWorker();
	const router = await worker.createRouter({ mediaCodecs });
	router.rtpCapabilities.codecs.length = 0;
	expect(router.rtpCapabilities.codecs.length).toBe(7);
	const t = await router.createWebRtcTransport({ listenIps: ['127.0.0.1'] });
	t.iceCandidates[0].port = 1;
	expect(t.iceCandidates[0].port).not.toBe(1);
	const producer = await t.produce({
		kind: 'audio',
		rtpParameters: { codecs: [{ mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2 }], encodings: [{ ssrc: 1 }] },
	});
	producer.rtpParameters.codecs[0].payloadType = 5;
	expect(producer.rtpParameters.codecs[0].payloadType).toBe(111);
	worker.close();
});

test('data subchannels on a DirectTransport: filtering, required subchannel, set/add/remove', async () => {
	const worker = await mediasoup.createWorker();
	const router = await worker.createRouter();
	const t = await router.createDirectTransport();
	const dp = await t.produceData({ label: 'sub' });
	expect(dp.type).toBe('direct');
	const dc1 = await t.consumeData({ dataProducerId: dp.id, subchannels: [1, 2] });
	const dc2 = await t.consumeData({ dataProducerId: dp.id, subchannels: [2, 3] });
	const got1 = [];
	const got2 = [];
	dc1.on('message', (m, ppid) => got1.push([m.toString(), ppid]));
	dc2.on('message', (m, ppid) => got2.push([m.toString(), ppid]));
	dp.send('all');
	dp.send('to 1', undefined, [1]);
	dp.send('to 3', undefined, [3]);
	dp.send('to 2 needs 1', undefined, [2], 1);
	dp.send(Buffer.from('bin'), undefined, [2]);
	await new Promise(r => setTimeout(r, 100));
	expect(got1).toEqual([['all', 51], ['to 1', 51], ['to 2 needs 1', 51], ['bin', 53]]);
	expect(got2).toEqual([['all', 51], ['to 3', 51], ['bin', 53]]);
	await dc1.setSubchannels([5, 4, 4]);
	expect(dc1.subchannels).toEqual([4, 5]);
	await dc1.addSubchannel(9);
	await dc1.removeSubchannel(4);
	expect(dc1.subchannels).toEqual([5, 9]);
	// DataConsumer.send() is for SCTP DataConsumers: on a DirectTransport 3.27 rejects it.
	await expect(dc2.send('direct to consumer')).rejects.toThrow(TypeError);
	worker.close();
});

test('run-time class names are 3.27\'s (WorkerImpl, RouterImpl, …), the classes stay in `types`', async () => {
	const worker = await mediasoup.createWorker();
	const router = await worker.createRouter({ mediaCodecs });
	const listenInfo = { protocol: 'udp', ip: '127.0.0.1' };
	const webRtcServer = await worker.createWebRtcServer({ listenInfos: [listenInfo] });
	const webrtc = await router.createWebRtcTransport({ listenInfos: [listenInfo], enableSctp: true });
	const plain = await router.createPlainTransport({ listenInfo });
	const pipe = await router.createPipeTransport({ listenInfo });
	const direct = await router.createDirectTransport();
	const producer = await direct.produce({
		kind: 'audio',
		rtpParameters: { codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }], encodings: [{ ssrc: 11 }] },
	});
	const consumer = await direct.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
	const dataProducer = await direct.produceData();
	const dataConsumer = await direct.consumeData({ dataProducerId: dataProducer.id });
	const level = await router.createAudioLevelObserver();
	const speaker = await router.createActiveSpeakerObserver();
	const names = [worker, webRtcServer, router, webrtc, plain, pipe, direct, producer, consumer, dataProducer, dataConsumer, level, speaker].map(
		o => o.constructor.name
	);
	expect(names).toEqual([
		'WorkerImpl',
		'WebRtcServerImpl',
		'RouterImpl',
		'WebRtcTransportImpl',
		'PlainTransportImpl',
		'PipeTransportImpl',
		'DirectTransportImpl',
		'ProducerImpl',
		'ConsumerImpl',
		'DataProducerImpl',
		'DataConsumerImpl',
		'AudioLevelObserverImpl',
		'ActiveSpeakerObserverImpl',
	]);
	expect(webrtc).toBeInstanceOf(mediasoup.types.WebRtcTransport);
	expect(webrtc).toBeInstanceOf(mediasoup.types.Transport);
	expect(Object.getPrototypeOf(mediasoup.types.WebRtcTransport).name).toBe('TransportImpl');
	worker.close();
});

test('sctpParameters carry 3.27\'s settings (isDataChannel false on plain and pipe transports)', async () => {
	const worker = await mediasoup.createWorker();
	const router = await worker.createRouter({ mediaCodecs });
	const plain = await router.createPlainTransport({
		listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
		enableSctp: true,
		maxSendMessageSize: 100000,
		maxReceiveMessageSize: 120000,
		sctpSendBufferSize: 300000,
		sctpPerStreamSendQueueLimit: 400000,
		sctpMaxReceiverWindowBufferSize: 500000,
	});
	expect(plain.sctpParameters).toMatchObject({
		port: 5000,
		maxSendMessageSize: 100000,
		maxReceiveMessageSize: 120000,
		sendBufferSize: 300000,
		perStreamSendQueueLimit: 400000,
		maxReceiverWindowBufferSize: 500000,
		isDataChannel: false,
	});
	expect(plain.sctpNegotiatedCapabilities).toBeUndefined();
	const pipe = await router.createPipeTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, enableSctp: true });
	expect(pipe.sctpParameters.isDataChannel).toBe(false);
	expect((await plain.dump()).sctpParameters).toEqual(plain.sctpParameters);
	worker.close();
});

test('pipeToRouter() called by two routers on each other at once makes one PipeTransport pair (counted by 3.27 class name)', async () => {
	const [w1, w2] = await Promise.all([mediasoup.createWorker(), mediasoup.createWorker()]);
	const [routerA, routerB] = await Promise.all([w1.createRouter({ mediaCodecs }), w2.createRouter({ mediaCodecs })]);
	const opus = { kind: 'audio', rtpParameters: { codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }], encodings: [{ ssrc: 7 }] } };
	const producerA = await (await routerA.createWebRtcTransport({ listenIps: ['127.0.0.1'] })).produce(opus);
	const producerB = await (await routerB.createWebRtcTransport({ listenIps: ['127.0.0.1'] })).produce(opus);
	const pipes = [new Set(), new Set()];
	[routerA, routerB].forEach((r, i) =>
		r.observer.on('newtransport', t => {
			if (t.constructor.name === 'PipeTransportImpl') {
				pipes[i].add(t.id);
			}
		})
	);
	await Promise.all([
		routerA.pipeToRouter({ producerId: producerA.id, router: routerB }),
		routerB.pipeToRouter({ producerId: producerB.id, router: routerA }),
	]);
	expect(pipes.map(p => p.size)).toEqual([1, 1]);
	w1.close();
	w2.close();
});

test('pipe consumers and pipe producers keep the dependency-descriptor header extension (id 7), as 3.27', async () => {
	const worker = await mediasoup.createWorker();
	const [routerA, routerB] = await Promise.all([worker.createRouter({ mediaCodecs }), worker.createRouter({ mediaCodecs })]);
	const t = await routerA.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' } });
	const producer = await t.produce({
		kind: 'video',
		rtpParameters: {
			codecs: [{ mimeType: 'video/VP8', payloadType: 96, clockRate: 90000 }],
			encodings: [{ ssrc: 1111 }],
			headerExtensions: [{ uri: 'https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension', id: 3 }],
		},
	});
	const { pipeConsumer, pipeProducer } = await routerA.pipeToRouter({ producerId: producer.id, router: routerB, keepId: false });
	const dd = 'https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension';
	for (const params of [pipeConsumer.rtpParameters, pipeProducer.rtpParameters]) {
		expect(params.headerExtensions.find(e => e.uri === dd)).toEqual({ uri: dd, id: 7, encrypt: false, parameters: {} });
		const ids = params.headerExtensions.map(e => e.id);
		expect(ids).toEqual([...ids].sort((a, b) => a - b));
	}
	const pipe = await routerA.createPipeTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' } });
	const direct = await pipe.consume({ producerId: producer.id });
	expect(direct.rtpParameters.headerExtensions.some(e => e.uri === dd)).toBe(true);
	worker.close();
});

test('DataConsumer with ordered: true clears the producer\'s partial-reliability limits; unordered ones take theirs', async () => {
	const worker = await mediasoup.createWorker();
	const router = await worker.createRouter({ mediaCodecs });
	const listenInfo = { protocol: 'udp', ip: '127.0.0.1' };
	const t = await router.createPlainTransport({ listenInfo, enableSctp: true });
	const dp = await t.produceData({ sctpStreamParameters: { streamId: 1, ordered: false, maxRetransmits: 3 } });
	const inherit = await t.consumeData({ dataProducerId: dp.id });
	expect(inherit.sctpStreamParameters).toMatchObject({ ordered: false, maxRetransmits: 3 });
	const ordered = await t.consumeData({ dataProducerId: dp.id, ordered: true });
	expect(ordered.sctpStreamParameters.ordered).toBe(true);
	expect(ordered.sctpStreamParameters.maxRetransmits).toBeUndefined();
	expect(ordered.sctpStreamParameters.maxPacketLifeTime).toBeUndefined();
	const timed = await t.consumeData({ dataProducerId: dp.id, maxPacketLifeTime: 500 });
	expect(timed.sctpStreamParameters).toMatchObject({ ordered: false, maxPacketLifeTime: 500 });
	worker.close();
});

test('WebRtcServer with several TCP listen infos and enableUdp: false: one ICE candidate per listen info', async () => {
	const worker = await mediasoup.createWorker();
	const webRtcServer = await worker.createWebRtcServer({
		listenInfos: [
			{ protocol: 'tcp', ip: '127.0.0.1' },
			{ protocol: 'tcp', ip: '127.0.0.1', announcedAddress: '203.0.113.7' },
			{ protocol: 'udp', ip: '127.0.0.1' },
		],
	});
	const router = await worker.createRouter({ mediaCodecs });
	const t = await router.createWebRtcTransport({ webRtcServer, enableUdp: false, enableTcp: true });
	expect(t.iceCandidates.map(c => [c.protocol, c.address, c.tcpType])).toEqual([
		['tcp', '127.0.0.1', 'passive'],
		['tcp', '203.0.113.7', 'passive'],
	]);
	worker.close();
});

test('subchannels, requiredSubchannel and ignoredSubchannel (3.27) choose the same consumers locally and through pipeToRouter', async () => {
	const [w1, w2] = await Promise.all([mediasoup.createWorker(), mediasoup.createWorker()]);
	const [a, b] = await Promise.all([w1.createRouter({ mediaCodecs }), w2.createRouter({ mediaCodecs })]);
	const ta = await a.createDirectTransport();
	const dp = await ta.produceData();
	const { pipeDataProducer } = await a.pipeToRouter({ dataProducerId: dp.id, router: b });
	const tb = await b.createDirectTransport();
	const got = {};
	const listen = async (name, transport, dataProducerId, subchannels) => {
		got[name] = [];
		const dc = await transport.consumeData({ dataProducerId, subchannels });
		dc.on('message', m => got[name].push(m.toString()));
	};
	await listen('a1', ta, dp.id, [1]);
	await listen('a2', ta, dp.id, [2]);
	await listen('b-none', tb, pipeDataProducer.id, []);
	await listen('b1', tb, pipeDataProducer.id, [1]);
	await listen('b12', tb, pipeDataProducer.id, [1, 2]);
	// Wait until the pipe's SCTP association carries messages.
	let tries = 0;
	while (got['b-none'].length === 0 && tries++ < 50) {
		dp.send('ping');
		await new Promise(r => setTimeout(r, 100));
	}
	for (const k of Object.keys(got)) {
		got[k].length = 0;
	}
	dp.send('all');
	dp.send('not to 1', undefined, undefined, undefined, 1);
	dp.send('to 1', undefined, [1]);
	dp.send('to 2, must have 1', undefined, [2], 1);
	dp.send('empty list', undefined, []);
	await new Promise(r => setTimeout(r, 500));
	// The options travel with the message through the pipe: router B's consumers are chosen
	// exactly as router A's are.
	expect(got).toEqual({
		a1: ['all', 'to 1', 'empty list'],
		a2: ['all', 'not to 1', 'empty list'],
		'b-none': ['all', 'not to 1', 'empty list'],
		b1: ['all', 'to 1', 'empty list'],
		b12: ['all', 'to 1', 'to 2, must have 1', 'empty list'],
	});
	w1.close();
	w2.close();
});
