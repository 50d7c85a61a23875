'use strict';
// Real peers: two headless Chromium pages with mediasoup-client. Peer A sends its fake camera
// and microphone; peer B consumes both; B's decoder statistics are the verdict.
const mediasoup = require('../');
const { mediaCodecs } = require('./helpers/media');
const { useBrowserCall, waitFor } = require('./helpers/e2e');

const env = useBrowserCall(mediasoup);

async function call(videoCodec) {
	const router = await env.worker.createRouter({ mediaCodecs });
	const a = await env.openPeer(router);
	const b = await env.openPeer(router);
	try {
		const t0 = Date.now();
		await a.produce({ videoCodec });
		expect(a.producers.map(p => p.kind).sort()).toEqual(['audio', 'video']);
		const consumers = [];
		for (const p of a.producers) {
			consumers.push(await b.consume(p));
		}
		const firstFrame = await waitFor(async () => (await b.receiveStats()).framesDecoded > 0, 20000, 50);
		const tFirst = Date.now() - t0;
		const stats = await waitFor(async () => {
			const s = await b.receiveStats();
			return s.framesDecoded > 60 && s.totalSamplesReceived > 0 ? s : null;
		}, 30000);
		const last = stats || (await b.receiveStats());
		// The figure quoted in the README: produce() to first decoded frame at the other peer.
		console.log(`[e2e ${videoCodec}] first decoded frame after ${tFirst} ms; ${JSON.stringify(last)}`);
		expect(firstFrame).toBeTruthy();
		expect(last.framesDecoded).toBeGreaterThan(60);
		expect(last.totalSamplesReceived).toBeGreaterThan(0);
		expect(last.videoCodec).toBe(videoCodec);
		expect(last.audioCodec).toBe('audio/opus');
		expect(a.send.dtlsState).toBe('connected');
		expect(['connected', 'completed']).toContain(a.send.iceState);
		expect(a.send.iceSelectedTuple.protocol).toBe('udp');
		expect(a.send.dtlsRemoteCert).toMatch(/BEGIN CERTIFICATE/);
		// Server-side statistics agree with what the browser saw.
		const video = consumers.find(c => c.kind === 'video');
		const [out, inb] = await video.getStats();
		expect(out.type).toBe('outbound-rtp');
		expect(out.packetCount).toBeGreaterThan(50);
		expect(inb.type).toBe('inbound-rtp');
		expect(inb.mimeType).toBe(videoCodec);
		const [tstats] = await b.recv.getStats();
		expect(tstats.bytesSent).toBeGreaterThan(10000);
	} finally {
		await a.close();
		await b.close();
		router.close();
	}
}

test('Chromium A sends VP8 + Opus, Chromium B decodes both through the SFU', async () => {
	await call('video/VP8');
});

test('Chromium A sends H264 (42e01f, packetization-mode 1) + Opus, Chromium B decodes both', async () => {
	await call('video/H264');
});

test('transport-cc feedback keeps Chromium\'s bandwidth estimate up (it decays without feedback)', async () => {
	const router = await env.worker.createRouter({ mediaCodecs });
	const a = await env.openPeer(router);
	try {
		await a.produce({ videoCodec: 'video/VP8' });
		// Without feedback GoogCC falls from its ~1 Mbps start towards ~300 kbps within seconds;
		// with feedback from the SFU it ramps up (to several Mbps on loopback).
		await new Promise(r => setTimeout(r, 6000));
		const { availableOutgoingBitrate } = await a.page.evaluate(() => window.pw.sendStats());
		console.log(`[e2e bwe] Chromium availableOutgoingBitrate after 6 s: ${availableOutgoingBitrate}`);
		expect(availableOutgoingBitrate).toBeGreaterThan(1500000);
	} finally {
		await a.close();
		router.close();
	}
});

test('a transport frees its DTLS connection once Chromium sends SRTP, media goes on, and DTLS still closes both ways', async () => {
	const router = await env.worker.createRouter({ mediaCodecs });
	const released = new Set();
	mediasoup.setLogEventListeners({
		ondebug: (namespace, log) => {
			const m = /DTLS connection released.*transportId:([\w-]+)/.exec(log);
			if (m) released.add(m[1]);
		},
	});
	await env.worker.updateSettings({ logLevel: 'debug', logTags: ['dtls'] });
	const a = await env.openPeer(router);
	const b = await env.openPeer(router);
	try {
		await a.produce({ videoCodec: 'video/VP8' });
		for (const p of a.producers) await b.consume(p);
		// A's SRTP releases the send transport; B's receiver reports (SRTCP) the receive one.
		const both = await waitFor(() => released.has(a.send.id) && released.has(b.recv.id), 15000, 100);
		const before = (await b.receiveStats()).framesDecoded;
		await new Promise(r => setTimeout(r, 2000));
		const after = (await b.receiveStats()).framesDecoded;
		console.log(`[e2e dtls release] released ${[...released].length} transports; B decoded ${before} then ${after} frames; browser DTLS ${JSON.stringify(await b.dtlsStates())}`);
		expect(both).toBe(true);
		expect(after - before).toBeGreaterThan(30);
		expect(b.recv.dtlsState).toBe('connected');
		expect(await b.dtlsStates()).toEqual({ send: 'none', recv: 'connected' });

		// The SFU closes B's receive transport: the close_notify written at release is one
		// Chromium authenticates (its DTLS transport goes 'closed', not 'failed').
		b.recv.close();
		const closedAtB = await waitFor(async () => (await b.dtlsStates()).recv === 'closed', 5000, 100);
		expect(closedAtB).toBe(true);

		// Chromium closes A's send transport: the SFU's released transport sees the alert.
		const states = [];
		a.send.on('dtlsstatechange', s => states.push(s));
		await a.closeSendTransport();
		await waitFor(() => states.includes('closed'), 5000, 100);
		expect(states).toEqual(['closed']);
		expect(a.send.dtlsState).toBe('closed');
	} finally {
		mediasoup.setLogEventListeners();
		await env.worker.updateSettings({ logLevel: 'error', logTags: [] });
		await a.close();
		await b.close();
		router.close();
	}
});
