'use strict';
// Two Chromium peers whose four WebRtcTransports all share one WebRtcServer's UDP port (and a
// TCP port): the server demultiplexes them by ICE username fragment, then by 5-tuple.
const mediasoup = require('../');
const { mediaCodecs } = require('./helpers/media');
const { useBrowserCall, waitFor } = require('./helpers/e2e');

const env = useBrowserCall(mediasoup);

test('a call through one WebRtcServer: every transport on the same ports, media decodes', async () => {
	const server = await env.worker.createWebRtcServer({
		listenInfos: [
			{ protocol: 'udp', ip: '127.0.0.1' },
			{ protocol: 'tcp', ip: '127.0.0.1' },
		],
	});
	const handled = [];
	server.observer.on('webrtctransporthandled', t => handled.push(t.id));
	const router = await env.worker.createRouter({ mediaCodecs });
	const a = await env.openPeer(router, { webRtcServer: server });
	const b = await env.openPeer(router, { webRtcServer: server });
	try {
		expect(handled).toHaveLength(4);
		const ports = new Set([a.send, a.recv, b.send, b.recv].map(t => t.iceCandidates.find(c => c.protocol === 'udp').port));
		expect(ports.size).toBe(1);
		await a.produce({ videoCodec: 'video/VP8' });
		for (const p of a.producers) {
			await b.consume(p);
		}
		const stats = await waitFor(async () => {
			const s = await b.receiveStats();
			return s.framesDecoded > 30 && s.totalSamplesReceived > 0 ? s : null;
		}, 30000);
		expect(stats).toBeTruthy();
		const dump = await server.dump();
		expect(dump.webRtcTransportIds.sort()).toEqual([a.send.id, a.recv.id, b.send.id, b.recv.id].sort());
		expect(dump.udpSockets).toHaveLength(1);
		expect(dump.tcpServers).toHaveLength(1);
		expect(dump.localIceUsernameFragments).toHaveLength(4);
		// Closing the server closes its transports with 'listenserverclose'.
		const closed = new Promise(r => a.send.once('listenserverclose', r));
		server.close();
		await closed;
		expect(a.send.closed).toBe(true);
		expect(b.recv.closed).toBe(true);
	} finally {
		await a.close();
		await b.close();
		router.close();
	}
});
