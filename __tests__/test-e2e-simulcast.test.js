'use strict';
// Simulcast with real Chromium peers: A sends three encodings (¼, ½ and full resolution of a
// 1280×720 camera) in VP8, H264, VP9 and AV1 (the last two simulcast, which mediasoup lacks);
// B's consumer forwards the preferred layer, switching at
// keyframes, and setPreferredLayers() moves B between them. B's decoded width is the verdict.
// VP8's and VP9's three temporal layers (TID in their payload descriptors): a preferred
// temporal layer of 0 quarters B's frame rate with no loss seen by B (sequence numbers, and
// VP8's PictureIDs, close over the dropped frames), 2 restores it.
const mediasoup = require('../');
const { mediaCodecs } = require('./helpers/media');
const { useBrowserCall, waitFor, SIMULCAST_ENCODINGS } = require('./helpers/e2e');

const env = useBrowserCall(mediasoup);

// The router's video codecs for these calls: VP9 profile 0 (what Chromium encodes) and AV1,
// starting at 1 Mbit/s as the VP8 entry does (an SVC encoder adds its upper spatial layers only
// as its estimate grows).
const videoCodecs = [
	...mediaCodecs.map(c => (c.mimeType === 'video/VP9' ? { ...c, parameters: { 'profile-id': 0, 'x-google-start-bitrate': 1000 } } : c)),
	{ kind: 'video', mimeType: 'video/AV1', clockRate: 90000, parameters: { 'x-google-start-bitrate': 1000 } },
];

test.each(['video/VP8', 'video/H264', 'video/VP9', 'video/AV1'])('simulcast %s: B decodes the preferred layer and follows setPreferredLayers() down and up', async videoCodec => {
	const router = await env.worker.createRouter({ mediaCodecs: videoCodecs });
	const a = await env.openPeer(router);
	const b = await env.openPeer(router);
	try {
		await a.produce({
			audio: false,
			videoCodec,
			width: 1280,
			height: 720,
			encodings: SIMULCAST_ENCODINGS,
		});
		const producer = a.producers.find(p => p.kind === 'video');
		expect(producer.type).toBe('simulcast');
		expect(producer.rtpParameters.codecs[0].mimeType.toLowerCase()).toBe(videoCodec.toLowerCase());
		const consumer = await b.consume(producer);
		expect(consumer.type).toBe('simulcast');
		const changes = [];
		consumer.on('layerschange', l => changes.push(l));
		const width = async () => (await b.receiveStats()).frameWidth;
		const view = async () =>
			`B ${JSON.stringify(await b.receiveStats())}; consumer ${JSON.stringify(consumer.currentLayers)} ${JSON.stringify(await consumer.getStats())}; producer ${JSON.stringify(await producer.getStats())}`;
		// Default: the highest layer, once the sender's estimate lets it send that layer (B showing
		// 1280 px while the consumer forwards layer 2: checked together, as a bandwidth dip may
		// take the consumer down a layer between two separate looks).
		const top = await waitFor(async () => (await width()) === 1280 && consumer.currentLayers?.spatialLayer === 2, 25000, 250);
		if (!top) {
			throw new Error(`never got the full layer: ${await view()}`);
		}
		expect((await b.receiveStats()).videoCodec.toLowerCase()).toBe(videoCodec.toLowerCase());
		await consumer.setPreferredLayers({ spatialLayer: 0 });
		expect(consumer.preferredLayers.spatialLayer).toBe(0);
		const low = await waitFor(async () => (await width()) === 320, 10000, 100);
		if (!low) {
			throw new Error(`did not switch down to 320: ${await view()}`);
		}
		expect(consumer.currentLayers.spatialLayer).toBe(0);
		await consumer.setPreferredLayers({ spatialLayer: 1 });
		const mid = await waitFor(async () => (await width()) === 640, 10000, 100);
		if (!mid) {
			throw new Error(`did not switch up to 640: ${await view()}`);
		}
		expect(changes.map(l => l?.spatialLayer)).toEqual(expect.arrayContaining([2, 0, 1]));
		expect(await consumer.dump()).toMatchObject({ type: 'simulcast', preferredSpatialLayer: 1, currentSpatialLayer: 1, currentTemporalLayer: 2 });
		// One outgoing stream throughout, decoding continuously (no freeze at the switches).
		const [out] = await consumer.getStats();
		console.log(`[e2e simulcast] layers ${JSON.stringify(changes)}; consumer stats ${JSON.stringify(out)}`);
		expect(out.ssrc).toBe(consumer.rtpParameters.encodings[0].ssrc);
		expect(out.packetCount).toBeGreaterThan(0);
		const before = (await b.receiveStats()).framesDecoded;
		await new Promise(r => setTimeout(r, 1000));
		expect((await b.receiveStats()).framesDecoded - before).toBeGreaterThan(10);
		if (videoCodec !== 'video/VP8' && videoCodec !== 'video/VP9') {
			return;
		}
		// Temporal layers: the frame rate B decodes over 2 s, after 1 s to settle.
		const fps = async () => {
			await new Promise(r => setTimeout(r, 1000));
			const s0 = await b.receiveStats();
			await new Promise(r => setTimeout(r, 2000));
			const s1 = await b.receiveStats();
			return { fps: (s1.framesDecoded - s0.framesDecoded) / 2, lost: s1.packetsLost - s0.packetsLost };
		};
		const full = await fps();
		await consumer.setPreferredLayers({ spatialLayer: 1, temporalLayer: 0 });
		const base = await fps();
		expect(consumer.currentLayers).toEqual({ spatialLayer: 1, temporalLayer: 0 });
		await consumer.setPreferredLayers({ spatialLayer: 1, temporalLayer: 2 });
		const restored = await fps();
		console.log(`[e2e simulcast] fps all temporal layers ${full.fps}, base layer ${base.fps}, restored ${restored.fps}; lost ${base.lost}/${restored.lost}`);
		if (!(base.fps <= full.fps * 0.4 && restored.fps >= full.fps * 0.7)) {
			throw new Error(`frame rates ${JSON.stringify({ full, base, restored })}: ${await view()}`);
		}
		expect(base.lost).toBe(0);
		expect(consumer.currentLayers).toEqual({ spatialLayer: 1, temporalLayer: 2 });
	} finally {
		await a.close();
		await b.close();
		router.close();
	}
}, 90000);

// VP9 SVC: A sends one VP9 stream with three spatial and three temporal layers, K-SVC
// (L3T3_KEY: upper layers refer to lower ones only at keyframes) and full SVC (L3T3); B's
// consumer (type 'svc') forwards the spatial layers up to the preferred one by the VP9 payload
// descriptor, so B decodes 1280, then 320, then 640 wide.
test.each(['L3T3_KEY', 'L3T3'])('svc VP9 %s: B decodes the preferred spatial layer', async scalabilityMode => {
	const router = await env.worker.createRouter({ mediaCodecs: videoCodecs });
	const a = await env.openPeer(router);
	const b = await env.openPeer(router);
	try {
		await a.produce({ audio: false, videoCodec: 'video/VP9', width: 1280, height: 720, encodings: [{ scalabilityMode }] });
		const producer = a.producers.find(p => p.kind === 'video');
		expect(producer.type).toBe('svc');
		const consumer = await b.consume(producer);
		expect(consumer.type).toBe('svc');
		const changes = [];
		consumer.on('layerschange', l => changes.push(l));
		const width = async () => (await b.receiveStats()).frameWidth;
		const view = async () =>
			`B ${JSON.stringify(await b.receiveStats())}; consumer ${JSON.stringify(consumer.currentLayers)} ${JSON.stringify(await consumer.dump())} ${JSON.stringify(await consumer.getStats())}; producer ${JSON.stringify(await producer.getStats())}`;
		const took = [];
		for (const [spatialLayer, w] of [
			[2, 1280],
			[0, 320],
			[1, 640],
		]) {
			await consumer.setPreferredLayers({ spatialLayer, temporalLayer: 2 });
			const t0 = Date.now();
			const ok = await waitFor(async () => (await width()) === w, 25000, 200);
			took.push(`${spatialLayer}: ${Date.now() - t0} ms`);
			if (!ok) {
				throw new Error(`preferred spatial layer ${spatialLayer}: B never decoded ${w} wide: ${await view()}`);
			}
			expect(consumer.currentLayers.spatialLayer).toBe(spatialLayer);
		}
		const before = (await b.receiveStats()).framesDecoded;
		await new Promise(r => setTimeout(r, 1000));
		expect((await b.receiveStats()).framesDecoded - before).toBeGreaterThan(10);
		console.log(`[e2e svc ${scalabilityMode}] switches took ${took.join(', ')}; layers ${JSON.stringify(changes)}`);
	} finally {
		await a.close();
		await b.close();
		router.close();
	}
}, 90000);
