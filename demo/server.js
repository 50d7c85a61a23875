'use strict';
// peerwave-sfu demo: a small conferencing server on localhost. Two or more browser tabs that
// open the page join one room and see and hear each other. It uses only the package's public
// API (mediasoup's), its own WebSocket signaling, and mediasoup-client in the page.
//
//   npm run demo            → http://localhost:3000 (PORT and LISTEN_IP change that)
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const esbuild = require('esbuild');
const { WebSocketServer } = require('ws');
const mediasoup = require('..');

const PORT = Number(process.env.PORT ?? 3000);
const LISTEN_IP = process.env.LISTEN_IP ?? '127.0.0.1';
const ANNOUNCED_ADDRESS = process.env.ANNOUNCED_ADDRESS;

const mediaCodecs = [
	{ kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2, parameters: { useinbandfec: 1, usedtx: 1 } },
	{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000, parameters: { 'x-google-start-bitrate': 1000 } },
	{ kind: 'video', mimeType: 'video/VP9', clockRate: 90000, parameters: { 'profile-id': 2 } },
	{
		kind: 'video',
		mimeType: 'video/H264',
		clockRate: 90000,
		parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 },
	},
];

async function main() {
	const bundle = await esbuild.build({
		entryPoints: [path.join(__dirname, 'client.js')],
		bundle: true,
		format: 'iife',
		write: false,
	});
	const js = bundle.outputFiles[0].contents;
	const html = fs.readFileSync(path.join(__dirname, 'public', 'index.html'));

	const worker = await mediasoup.createWorker({ logLevel: 'warn' });
	worker.on('died', error => {
		console.error('worker died:', error.message);
		process.exit(1);
	});
	const router = await worker.createRouter({ mediaCodecs });
	const peers = new Map();
	let nextPeer = 1;

	const server = http.createServer((req, res) => {
		if (req.url === '/client.js') {
			res.writeHead(200, { 'content-type': 'text/javascript' });
			res.end(js);
		} else {
			res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
			res.end(html);
		}
	});
	const wss = new WebSocketServer({ server });

	wss.on('connection', ws => {
		const peer = { id: `peer-${nextPeer++}`, ws, transports: new Map(), producers: new Map(), consumers: new Map() };
		peers.set(peer.id, peer);
		console.log(`${peer.id} joined (${peers.size} in the room)`);
		const notify = (p, notification, data) => p.ws.readyState === 1 && p.ws.send(JSON.stringify({ notification, data }));

		const handlers = {
			getRouterRtpCapabilities: () => router.rtpCapabilities,
			join: ({ rtpCapabilities }) => {
				peer.rtpCapabilities = rtpCapabilities;
				const existing = [];
				for (const other of peers.values()) {
					if (other !== peer) {
						for (const producer of other.producers.values()) {
							existing.push({ producerId: producer.id, peerId: other.id, kind: producer.kind });
						}
					}
				}
				return { peerId: peer.id, producers: existing };
			},
			createTransport: async () => {
				const transport = await router.createWebRtcTransport({
					listenInfos: [
						{ protocol: 'udp', ip: LISTEN_IP, announcedAddress: ANNOUNCED_ADDRESS },
						{ protocol: 'tcp', ip: LISTEN_IP, announcedAddress: ANNOUNCED_ADDRESS },
					],
					initialAvailableOutgoingBitrate: 1000000,
				});
				peer.transports.set(transport.id, transport);
				return {
					id: transport.id,
					iceParameters: transport.iceParameters,
					iceCandidates: transport.iceCandidates,
					dtlsParameters: transport.dtlsParameters,
				};
			},
			connectTransport: async ({ transportId, dtlsParameters }) => {
				await peer.transports.get(transportId).connect({ dtlsParameters });
			},
			produce: async ({ transportId, kind, rtpParameters }) => {
				const producer = await peer.transports.get(transportId).produce({ kind, rtpParameters });
				peer.producers.set(producer.id, producer);
				for (const other of peers.values()) {
					if (other !== peer) {
						notify(other, 'newProducer', { producerId: producer.id, peerId: peer.id, kind });
					}
				}
				return { id: producer.id };
			},
			consume: async ({ transportId, producerId }) => {
				if (!router.canConsume({ producerId, rtpCapabilities: peer.rtpCapabilities })) {
					throw new Error('cannot consume');
				}
				const consumer = await peer.transports.get(transportId).consume({
					producerId,
					rtpCapabilities: peer.rtpCapabilities,
					paused: true,
				});
				peer.consumers.set(consumer.id, consumer);
				consumer.on('producerclose', () => {
					peer.consumers.delete(consumer.id);
					notify(peer, 'consumerClosed', { consumerId: consumer.id });
				});
				return { id: consumer.id, producerId, kind: consumer.kind, rtpParameters: consumer.rtpParameters };
			},
			resumeConsumer: async ({ consumerId }) => {
				await peer.consumers.get(consumerId).resume();
			},
		};

		ws.on('message', async raw => {
			let msg;
			try {
				msg = JSON.parse(raw);
				const data = await handlers[msg.method](msg.data ?? {});
				ws.send(JSON.stringify({ id: msg.id, ok: true, data }));
			} catch (error) {
				ws.send(JSON.stringify({ id: msg?.id, ok: false, error: String(error.message ?? error) }));
			}
		});
		ws.on('close', () => {
			for (const t of peer.transports.values()) {
				t.close();
			}
			peers.delete(peer.id);
			console.log(`${peer.id} left (${peers.size} in the room)`);
		});
	});

	server.listen(PORT, () => {
		console.log(`peerwave-sfu demo listening on http://localhost:${server.address().port}`);
		console.log('open it in two browser tabs');
	});
	const stop = () => {
		server.close();
		wss.close();
		worker.close();
		process.exit(0);
	};
	process.on('SIGINT', stop);
	process.on('SIGTERM', stop);
}

main().catch(error => {
	console.error(error);
	process.exit(1);
});
