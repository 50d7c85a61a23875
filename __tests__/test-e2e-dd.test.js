'use strict';
// Routing by the dependency descriptor, with real Chromium peers. Debian's Chromium offers the
// descriptor only with the field trial below, so this suite starts its own browser with it
// (every other suite runs a default Chromium and routes by payload descriptors).
// - AV1 SVC (L3T3 and K-SVC L3T3_KEY): AV1 has no payload descriptor with layer ids; the SVC
//   consumer reads each frame's layers, decode target indications and keyframes from the
//   descriptor alone, so B decodes 1280, then 320, then 640 wide as the preferred spatial
//   layer changes. Chromium reassembles AV1 SVC frames only by the descriptor, so B gets it,
//   its active decode targets rewritten for the layers forwarded.
// - VP8 simulcast with the descriptor: temporal layers are dropped by the descriptor's
//   temporal id and switch points (the VP8 payload descriptor is only used for PictureIDs);
//   B, whose Chromium offers the descriptor too, gets it rewritten: frame numbers continuing
//   across spatial switches, active decode targets naming the temporal layers it gets.
const mediasoup = require('../');
const { useBrowserCall, waitFor, SIMULCAST_ENCODINGS } = require('./helpers/e2e');

const DD_URI = 'https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension';
const env = useBrowserCall(mediasoup, { chromiumArgs: ['--force-fieldtrials=WebRTC-DependencyDescriptorAdvertised/Enabled/'] });

const mediaCodecs = [
	{ kind: 'video', mimeType: 'video/AV1', clockRate: 90000, parameters: { 'x-google-start-bitrate': 1000 } },
	{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000, parameters: { 'x-google-start-bitrate': 1000 } },
];

async function serverView(b, producer, consumer) {
	return `B ${JSON.stringify(await b.receiveStats())}; consumer ${JSON.stringify(consumer.currentLayers)} ${JSON.stringify(await consumer.dump())} ${JSON.stringify(await consumer.getStats())}; producer ${JSON.stringify(await producer.getStats())}`;
}

test.each(['L3T3', 'L3T3_KEY'])('svc AV1 %s by the dependency descriptor: B decodes the preferred spatial layer', async scalabilityMode => {
	const router = await env.worker.createRouter({ mediaCodecs });
	const a = await env.openPeer(router);
	const b = await env.openPeer(router);
	try {
		await a.produce({ audio: false, videoCodec: 'video/AV1', width: 1280, height: 720, encodings: [{ scalabilityMode }] });
		const producer = a.producers.find(p => p.kind === 'video');
		expect(producer.type).toBe('svc');
		expect(producer.rtpParameters.headerExtensions.map(e => e.uri)).toContain(DD_URI);
		const consumer = await b.consume(producer);
		expect(consumer.type).toBe('svc');
		// B's Chromium offers the descriptor too: it gets it, rewritten for the layers it gets.
		expect(consumer.rtpParameters.headerExtensions.map(e => e.uri)).toContain(DD_URI);
		const changes = [];
		consumer.on('layerschange', l => changes.push(l));
		const took = [];
		for (const [spatialLayer, w] of [
			[2, 1280],
			[0, 320],
			[1, 640],
		]) {
			await consumer.setPreferredLayers({ spatialLayer, temporalLayer: 2 });
			const t0 = Date.now();
			const ok = await waitFor(async () => (await b.receiveStats()).frameWidth === w, 25000, 200);
			took.push(`${spatialLayer}: ${Date.now() - t0} ms`);
			if (!ok) {
				throw new Error(`preferred spatial layer ${spatialLayer}: B never decoded ${w} wide: ${await serverView(b, producer, consumer)}`);
			}
			expect(consumer.currentLayers.spatialLayer).toBe(spatialLayer);
		}
		const before = await b.receiveStats();
		await new Promise(r => setTimeout(r, 1000));
		const after = await b.receiveStats();
		expect(after.framesDecoded - before.framesDecoded).toBeGreaterThan(10);
		expect(after.frameWidth).toBe(640);
		console.log(`[e2e dd AV1 ${scalabilityMode}] switches took ${took.join(', ')}; layers ${JSON.stringify(changes)}`);
	} finally {
		await a.close();
		await b.close();
		router.close();
	}
}, 90000);

test('simulcast VP8 with the dependency descriptor: temporal layers dropped by its temporal ids', async () => {
	const router = await env.worker.createRouter({ mediaCodecs });
	const a = await env.openPeer(router);
	const b = await env.openPeer(router);
	try {
		await a.produce({
			audio: false,
			videoCodec: 'video/VP8',
			width: 1280,
			height: 720,
			encodings: SIMULCAST_ENCODINGS.map(e => ({ ...e, scalabilityMode: 'L1T3' })),
		});
		const producer = a.producers.find(p => p.kind === 'video');
		expect(producer.type).toBe('simulcast');
		expect(producer.rtpParameters.headerExtensions.map(e => e.uri)).toContain(DD_URI);
		const consumer = await b.consume(producer);
		await consumer.setPreferredLayers({ spatialLayer: 1, temporalLayer: 2 });
		if (!(await waitFor(async () => (await b.receiveStats()).frameWidth === 640, 20000, 200))) {
			throw new Error(`B never decoded layer 1: ${await serverView(b, producer, consumer)}`);
		}
		const fps = async () => {
			const s0 = await b.receiveStats();
			await new Promise(r => setTimeout(r, 2000));
			const s1 = await b.receiveStats();
			return { fps: (s1.framesDecoded - s0.framesDecoded) / 2, lost: s1.packetsLost - s0.packetsLost };
		};
		await new Promise(r => setTimeout(r, 1000));
		const full = await fps();
		await consumer.setPreferredLayers({ spatialLayer: 1, temporalLayer: 0 });
		await new Promise(r => setTimeout(r, 500));
		const base = await fps();
		expect(consumer.currentLayers).toEqual({ spatialLayer: 1, temporalLayer: 0 });
		await consumer.setPreferredLayers({ spatialLayer: 1, temporalLayer: 2 });
		await new Promise(r => setTimeout(r, 500));
		const back = await fps();
		console.log(`[e2e dd VP8 simulcast] fps T2 ${full.fps}, T0 ${base.fps}, T2 again ${back.fps}; lost ${full.lost}/${base.lost}/${back.lost}`);
		if (!(base.fps < full.fps * 0.5 && back.fps > full.fps * 0.7)) {
			throw new Error(`frame rate did not follow the temporal layer (${full.fps} → ${base.fps} → ${back.fps}): ${await serverView(b, producer, consumer)}`);
		}
		expect(base.lost + back.lost).toBe(0);
		// Spatial switches: each encoding numbers its frames on its own; B's descriptor frame
		// numbers continue across the switches (B keeps decoding).
		expect(consumer.rtpParameters.headerExtensions.map(e => e.uri)).toContain(DD_URI);
		for (const [spatialLayer, w] of [
			[2, 1280],
			[0, 320],
			[1, 640],
		]) {
			await consumer.setPreferredLayers({ spatialLayer, temporalLayer: 2 });
			if (!(await waitFor(async () => (await b.receiveStats()).frameWidth === w, 10000, 200))) {
				throw new Error(`B never decoded layer ${spatialLayer} (${w} wide): ${await serverView(b, producer, consumer)}`);
			}
		}
		const s0 = await b.receiveStats();
		await new Promise(r => setTimeout(r, 1000));
		expect((await b.receiveStats()).framesDecoded - s0.framesDecoded).toBeGreaterThan(10);
	} finally {
		await a.close();
		await b.close();
		router.close();
	}
}, 90000);
