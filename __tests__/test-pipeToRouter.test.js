'use strict';
// RTP through router.pipeToRouter(): between routers of two workers (keepId), between routers
// of one worker (keepId: false), and over PipeTransports with SRTP and RTX.
const mediasoup = require('../');
const { mediaCodecs, rtp, parseRtp, isRtcp, socket, collector } = require('./helpers/media');

const VP8_KEY = Buffer.from([0x10, 0x00, 0x9d, 0x01, 0x2a, 7, 7, 7]);
const SSRC = 4242;

let workers = [];
let sockets = [];
afterEach(() => {
	for (const s of sockets) s.close();
	for (const w of workers) w.close();
	sockets = [];
	workers = [];
});

async function setup(sameWorker) {
	const w1 = await mediasoup.createWorker();
	const w2 = sameWorker ? w1 : await mediasoup.createWorker();
	workers.push(w1);
	if (!sameWorker) workers.push(w2);
	const routerA = await w1.createRouter({ mediaCodecs });
	const routerB = await w2.createRouter({ mediaCodecs });
	const sender = await socket();
	const receiver = await socket();
	sockets.push(sender, receiver);
	const tIn = await routerA.createPlainTransport({ listenIp: '127.0.0.1', comedia: true });
	const producer = await tIn.produce({
		kind: 'video',
		rtpParameters: {
			codecs: [{ mimeType: 'video/VP8', payloadType: 96, clockRate: 90000, rtcpFeedback: [{ type: 'nack', parameter: 'pli' }] }],
			encodings: [{ ssrc: SSRC }],
		},
	});
	const tOut = await routerB.createPlainTransport({ listenIp: '127.0.0.1' });
	await tOut.connect({ ip: '127.0.0.1', port: receiver.address().port });
	const send = (seq, payload = VP8_KEY) =>
		sender.send(rtp({ pt: 96, seq, ts: seq * 3000, ssrc: SSRC, marker: true, payload }), tIn.tuple.localPort, '127.0.0.1');
	return { routerA, routerB, producer, tOut, send, rx: collector(receiver), sender: collector(sender) };
}

async function flows({ routerA, routerB, producer, tOut, send, rx }, options) {
	const { pipeConsumer, pipeProducer } = await routerA.pipeToRouter({ producerId: producer.id, router: routerB, ...options });
	expect(pipeConsumer.type).toBe('pipe');
	expect(pipeConsumer.kind).toBe('video');
	expect(pipeProducer.kind).toBe('video');
	if (options.keepId === false) {
		expect(pipeProducer.id).not.toBe(producer.id);
	} else {
		expect(pipeProducer.id).toBe(producer.id);
	}
	const consumer = await tOut.consume({ producerId: pipeProducer.id, rtpCapabilities: routerB.rtpCapabilities });
	for (let seq = 100; seq < 110; seq++) {
		send(seq);
		await new Promise(r => setTimeout(r, 5));
	}
	const got = parseRtp(await rx.next(m => !isRtcp(m) && parseRtp(m).ssrc === consumer.rtpParameters.encodings[0].ssrc));
	expect(got.payload.equals(VP8_KEY)).toBe(true);
	return { pipeConsumer, pipeProducer, consumer };
}

test('pipeToRouter() between routers of two workers forwards real RTP (keepId)', async () => {
	const ctx = await setup(false);
	const { pipeConsumer, pipeProducer } = await flows(ctx, {});
	// One pipe transport on each side, next to the plain ones.
	expect((await ctx.routerA.dump()).transportIds).toHaveLength(2);
	expect((await ctx.routerB.dump()).transportIds).toHaveLength(2);
	// Pausing the original propagates through the pipe.
	const paused = new Promise(r => pipeProducer.observer.once('pause', r));
	await ctx.producer.pause();
	await paused;
	expect(pipeConsumer.producerPaused).toBe(true);
	// Closing the original closes both ends of the pipe.
	const closed = new Promise(r => pipeProducer.observer.once('close', r));
	ctx.producer.close();
	await closed;
	expect(pipeConsumer.closed).toBe(true);
	expect(pipeProducer.closed).toBe(true);
});

test('pipeToRouter() between routers of the same worker with keepId: false', async () => {
	const ctx = await setup(true);
	await flows(ctx, { keepId: false });
	// The pair of pipe transports is reused for a second producer.
	const before = (await ctx.routerA.dump()).transportIds.length;
	await expect(ctx.routerA.pipeToRouter({ producerId: ctx.producer.id, router: ctx.routerB, keepId: false })).resolves.toBeTruthy();
	expect((await ctx.routerA.dump()).transportIds.length).toBe(before);
});

test('pipeToRouter() with enableSrtp and enableRtx', async () => {
	const ctx = await setup(false);
	await flows(ctx, { enableSrtp: true, enableRtx: true });
	const dump = await ctx.routerA.dump();
	const pipeIds = dump.transportIds;
	expect(pipeIds.length).toBe(2);
});

test('pipeToRouter() argument errors', async () => {
	const ctx = await setup(false);
	await expect(ctx.routerA.pipeToRouter({ router: ctx.routerB })).rejects.toThrow(/missing producerId/);
	await expect(ctx.routerA.pipeToRouter({ producerId: ctx.producer.id })).rejects.toThrow(/missing router/);
	await expect(ctx.routerA.pipeToRouter({ producerId: ctx.producer.id, router: ctx.routerA })).rejects.toThrow(/cannot use this Router/);
	await expect(ctx.routerA.pipeToRouter({ producerId: 'nope', router: ctx.routerB })).rejects.toThrow(mediasoup.errors.NotFoundError);
});

test('createPipeTransport() fields, connect() and dump()', async () => {
	const w = await mediasoup.createWorker();
	workers.push(w);
	const r = await w.createRouter({ mediaCodecs });
	const t = await r.createPipeTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, enableSrtp: true, enableRtx: true });
	expect(t.type).toBe('pipe');
	expect(t.tuple).toMatchObject({ localAddress: '127.0.0.1', protocol: 'udp' });
	expect(t.srtpParameters.cryptoSuite).toBe('AEAD_AES_256_GCM');
	await expect(t.connect({ ip: '127.0.0.1', port: 9999 })).rejects.toThrow(TypeError);
	await t.connect({ ip: '127.0.0.1', port: 9999, srtpParameters: t.srtpParameters });
	expect(t.tuple).toMatchObject({ remoteIp: '127.0.0.1', remotePort: 9999 });
	const dump = await t.dump();
	expect(dump.rtx).toBe(true);
	const [stats] = await t.getStats();
	expect(stats.type).toBe('pipe-transport');
	await expect(r.createPipeTransport({})).rejects.toThrow(TypeError);
});
