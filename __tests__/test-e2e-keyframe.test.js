'use strict';
// Keyframes for late and simultaneous joiners, with real Chromium peers. A consumer whose
// transport connects after the producer's keyframe went by must still get one: the SFU asks
// for it when the transport can carry it and asks again if it does not come (a receiver that
// has decoded nothing sends no PLI of its own). Repeated, because the race is one of timing.
const mediasoup = require('../');
const { mediaCodecs } = require('./helpers/media');
const { useBrowserCall, waitFor } = require('./helpers/e2e');

const env = useBrowserCall(mediasoup);

/** The server's view of a consumer that did not decode: printed when a call fails. */
async function serverView(name, peer, consumer) {
	const [stats, tstats] = await Promise.all([consumer.getStats(), peer.recv.getStats()]);
	return `${name}: ice ${peer.recv.iceState} dtls ${peer.recv.dtlsState} paused ${consumer.paused} ` +
		`producerPaused ${consumer.producerPaused}; consumer stats ${JSON.stringify(stats)}; ` +
		`transport stats ${JSON.stringify(tstats)}; browser ${JSON.stringify(await peer.receiveStats())}; logs ${peer.logs.join(' | ')}`;
}

test('three Chromium pages, 20 calls (every other one with a late transport connect): both receivers decode video every time', async () => {
	const CALLS = 20;
	const failures = [];
	for (let i = 0; i < CALLS; i++) {
		const router = await env.worker.createRouter({ mediaCodecs });
		const a = await env.openPeer(router);
		const b = await env.openPeer(router);
		// C's signaling is slow on odd calls: its transport connects ~300 ms after B's.
		const c = await env.openPeer(router, undefined, { connectDelayMs: i % 2 ? 300 : 0 });
		try {
			await a.produce({ audio: false });
			const video = a.producers.find(p => p.kind === 'video');
			const [cb, cc] = await Promise.all([b.consume(video), c.consume(video)]);
			const both = await waitFor(async () => {
				const [sb, sc] = await Promise.all([b.receiveStats(), c.receiveStats()]);
				return sb.framesDecoded > 0 && sc.framesDecoded > 0;
			}, 10000, 100);
			if (!both) {
				failures.push(`call ${i}: ${await serverView('B', b, cb)}\n${await serverView('C', c, cc)}`);
			}
		} finally {
			await Promise.all([a.close(), b.close(), c.close()]);
			router.close();
		}
	}
	expect(failures).toEqual([]);
}, 300000);

test('time to first frame over 10 two-page calls (printed: produce() in A, and B\'s DTLS connected, to the first frame shown in B)', async () => {
	const times = [];
	const afterConnect = [];
	for (let i = 0; i < 10; i++) {
		const router = await env.worker.createRouter({ mediaCodecs });
		const a = await env.openPeer(router);
		const b = await env.openPeer(router);
		try {
			let connectedAt = 0;
			b.recv.on('dtlsstatechange', s => {
				if (s === 'connected') {
					connectedAt = Date.now();
				}
			});
			const t0 = Date.now();
			await a.produce({ audio: false });
			const consumer = await b.consume(a.producers.find(p => p.kind === 'video'));
			const first = await waitFor(async () => (await b.firstFrames())[consumer.id], 10000, 20);
			if (!first) {
				throw new Error(`no frame in call ${i}: ${await serverView('B', b, consumer)}`);
			}
			times.push(first - t0);
			afterConnect.push(first - connectedAt);
		} finally {
			await Promise.all([a.close(), b.close()]);
			router.close();
		}
	}
	const summary = xs => {
		const s = [...xs].sort((x, y) => x - y);
		return `${xs.join(', ')} ms (median ${(s[4] + s[5]) / 2}, max ${s[9]})`;
	};
	// The second figure is what the SFU controls: the keyframe request when B's transport
	// connects, the sender's answer, forwarding, decoding. The rest is the two browsers'
	// negotiation in this harness.
	console.log(`[e2e first frame] from produce(): ${summary(times)}; from B's DTLS connected: ${summary(afterConnect)}`);
	expect(times).toHaveLength(10);
}, 120000);
