'use strict';
// peerwave-sfu demo: a small conferencing app. Rooms by URL (http://localhost:3000/<room>);
// camera and microphone with simulcast, screen share, active speaker, an end-to-end
// encryption toggle per room (peerwave-sfu/e2ee in the pages, keys exchanged between the pages
// so the server never holds one), and recording of the room while it is not encrypted. It uses
// only the package's public API (mediasoup's, plus createRecorder()), its own WebSocket
// signaling, and mediasoup-client in the page.
//
//   npm run demo   → http://localhost:3000
//   PORT, LISTEN_IP, ANNOUNCED_ADDRESS: where it listens and what ICE candidates announce;
//   RECORDINGS_DIR: where recordings go (default demo/recordings).
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const esbuild = require('esbuild');
const { WebSocketServer } = require('ws');
const mediasoup = require('..');

const PORT = Number(process.env.PORT ?? 3000);
const LISTEN_IP = process.env.LISTEN_IP ?? '127.0.0.1';
const ANNOUNCED_ADDRESS = process.env.ANNOUNCED_ADDRESS;
const RECORDINGS_DIR = path.resolve(process.env.RECORDINGS_DIR ?? path.join(__dirname, 'recordings'));
const KIT_DIR = path.join(__dirname, '..', 'e2ee');

const mediaCodecs = [
	{ kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2, parameters: { useinbandfec: 1, usedtx: 1 } },
	{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000, parameters: { 'x-google-start-bitrate': 1000 } },
];

/** Serves a file with HTTP range support (the page's <video> seeks in recordings). */
function serveFile(req, res, file, type) {
	fs.stat(file, (err, st) => {
		if (err || !st.isFile()) {
			res.writeHead(404).end('not found');
			return;
		}
		const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
		if (range && (range[1] || range[2])) {
			const start = range[1] ? Number(range[1]) : Math.max(0, st.size - Number(range[2]));
			const end = range[1] && range[2] ? Math.min(Number(range[2]), st.size - 1) : st.size - 1;
			res.writeHead(206, {
				'content-type': type,
				'content-range': `bytes ${start}-${end}/${st.size}`,
				'content-length': end - start + 1,
				'accept-ranges': 'bytes',
			});
			fs.createReadStream(file, { start, end }).pipe(res);
		} else {
			res.writeHead(200, { 'content-type': type, 'content-length': st.size, 'accept-ranges': 'bytes' });
			fs.createReadStream(file).pipe(res);
		}
	});
}

async function main() {
	fs.mkdirSync(RECORDINGS_DIR, { recursive: true });
	const bundle = await esbuild.build({
		entryPoints: [path.join(__dirname, 'client.js')],
		bundle: true,
		format: 'iife',
		write: false,
		logLevel: 'error',
	});
	const js = bundle.outputFiles[0].contents;
	const html = fs.readFileSync(path.join(__dirname, 'public', 'index.html'));

	const worker = await mediasoup.createWorker({ logLevel: 'warn' });
	worker.on('died', error => {
		console.error('worker died:', error.message);
		process.exit(1);
	});
	const rooms = new Map();
	let nextPeer = 1;

	async function getRoom(name) {
		let room = rooms.get(name);
		if (!room) {
			room = { name, peers: new Map(), e2ee: false, recording: null, recordings: [] };
			rooms.set(name, room);
			room.ready = (async () => {
				room.router = await worker.createRouter({ mediaCodecs });
				room.speaker = await room.router.createActiveSpeakerObserver({ interval: 300 });
				room.speaker.on('dominantspeaker', ({ producer }) => {
					room.activeSpeaker = producer.appData.peerId;
					broadcast(room, 'activeSpeaker', { peerId: producer.appData.peerId });
				});
			})();
		}
		await room.ready;
		return room;
	}

	const send = (peer, notification, data) => peer.ws.readyState === 1 && peer.ws.send(JSON.stringify({ notification, data }));
	const broadcast = (room, notification, data, except) => {
		for (const p of room.peers.values()) {
			if (p !== except) send(p, notification, data);
		}
	};
	const peerInfo = p => ({ id: p.id, name: p.name, publicKey: p.publicKey });

	async function startRecording(room) {
		if (room.e2ee) {
			throw new Error('recording is off while the room is end-to-end encrypted: the server cannot read the media');
		}
		if (room.recording) {
			return;
		}
		const stamp = new Date().toISOString().replace(/[:.]/g, '-');
		const recorders = [];
		for (const p of room.peers.values()) {
			const camera = [...p.producers.values()].find(x => x.appData.source === 'camera');
			const mic = [...p.producers.values()].find(x => x.appData.source === 'mic');
			const ids = [camera?.id, mic?.id].filter(Boolean);
			if (ids.length === 0) continue;
			const file = `${room.name}-${stamp}-${p.name.replace(/[^\w-]/g, '_')}.webm`;
			const recorder = await room.router.createRecorder({ producerIds: ids, path: path.join(RECORDINGS_DIR, file), appData: { file, name: p.name } });
			recorders.push(recorder);
		}
		room.recording = { recorders, startedAt: Date.now() };
		broadcast(room, 'recording', { on: true, startedAt: room.recording.startedAt });
	}

	async function stopRecording(room) {
		if (!room.recording) {
			return;
		}
		const { recorders } = room.recording;
		room.recording = null;
		for (const r of recorders) {
			const s = await r.stop();
			if (s.bytes > 0) {
				room.recordings.push({ url: `/recordings/${encodeURIComponent(r.appData.file)}`, name: r.appData.name, durationMs: s.durationMs, bytes: s.bytes });
			}
		}
		broadcast(room, 'recording', { on: false });
		broadcast(room, 'recordings', room.recordings);
	}

	const server = http.createServer((req, res) => {
		const url = new URL(req.url, 'http://x');
		if (url.pathname === '/client.js') {
			res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
		} else if (/^\/e2ee\/[\w-]+\.js$/.test(url.pathname)) {
			serveFile(req, res, path.join(KIT_DIR, path.basename(url.pathname)), 'text/javascript');
		} else if (url.pathname.startsWith('/recordings/')) {
			serveFile(req, res, path.join(RECORDINGS_DIR, path.basename(decodeURIComponent(url.pathname))), 'video/webm');
		} else if (url.pathname === '/') {
			res.writeHead(302, { location: `/${crypto.randomBytes(3).toString('hex')}` }).end();
		} else {
			res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
		}
	});
	const wss = new WebSocketServer({ server });

	wss.on('connection', (ws, req) => {
		const roomName = (new URL(req.url, 'http://x').searchParams.get('room') || 'main').slice(0, 64);
		// Messages that come while the room's router is being made wait for it.
		let room;
		const ready = getRoom(roomName).then(r => (room = r));
		const peer = { id: `peer-${nextPeer++}`, name: '', ws, transports: new Map(), producers: new Map(), consumers: new Map() };
		console.log(`${peer.id} connected to room ${roomName}`);

		const handlers = {
			hello: () => ({
				peerId: peer.id,
				routerRtpCapabilities: room.router.rtpCapabilities,
				e2ee: room.e2ee,
				recording: room.recording ? { startedAt: room.recording.startedAt } : null,
				recordings: room.recordings,
			}),
			join: ({ rtpCapabilities, name, publicKey }) => {
				peer.rtpCapabilities = rtpCapabilities;
				peer.name = String(name || peer.id).slice(0, 40);
				peer.publicKey = publicKey;
				const peers = [...room.peers.values()].map(peerInfo);
				const producers = [];
				for (const other of room.peers.values()) {
					for (const producer of other.producers.values()) {
						producers.push({ producerId: producer.id, peerId: other.id, kind: producer.kind, source: producer.appData.source });
					}
				}
				room.peers.set(peer.id, peer);
				broadcast(room, 'newPeer', peerInfo(peer), peer);
				return { peers, producers, activeSpeaker: room.activeSpeaker };
			},
			createTransport: async () => {
				const transport = await room.router.createWebRtcTransport({
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
			produce: async ({ transportId, kind, rtpParameters, source }) => {
				const producer = await peer.transports.get(transportId).produce({
					kind,
					rtpParameters,
					// Encrypted rooms: the SFU routes without reading the frames.
					e2ee: room.e2ee ? 'whole-frame' : undefined,
					appData: { peerId: peer.id, source },
				});
				peer.producers.set(producer.id, producer);
				if (source === 'mic') {
					await room.speaker.addProducer({ producerId: producer.id });
				}
				producer.observer.once('close', () => {
					peer.producers.delete(producer.id);
					broadcast(room, 'producerClosed', { producerId: producer.id });
				});
				broadcast(room, 'newProducer', { producerId: producer.id, peerId: peer.id, kind, source }, peer);
				return { id: producer.id };
			},
			closeProducer: ({ producerId }) => {
				peer.producers.get(producerId)?.close();
			},
			consume: async ({ transportId, producerId }) => {
				const consumer = await peer.transports.get(transportId).consume({
					producerId,
					rtpCapabilities: peer.rtpCapabilities,
					paused: true,
				});
				peer.consumers.set(consumer.id, consumer);
				consumer.on('producerclose', () => peer.consumers.delete(consumer.id));
				return { id: consumer.id, producerId, kind: consumer.kind, rtpParameters: consumer.rtpParameters };
			},
			resumeConsumer: async ({ consumerId }) => {
				await peer.consumers.get(consumerId)?.resume();
			},
			// E2EE: the room's media key travels between pages wrapped with a key only the two
			// pages can derive (ECDH); the server passes the ciphertext on.
			sendKey: ({ to, wrapped }) => {
				const target = room.peers.get(to);
				if (target) send(target, 'roomKey', { from: peer.id, publicKey: peer.publicKey, wrapped });
			},
			setE2ee: async ({ on }) => {
				if (on && room.recording) {
					await stopRecording(room);
				}
				room.e2ee = Boolean(on);
				// Every page rejoins: its transports and producers are made again for the mode.
				broadcast(room, 'e2ee', { on: room.e2ee, by: peer.id });
			},
			startRecording: () => startRecording(room),
			stopRecording: () => stopRecording(room),
		};

		ws.on('message', async raw => {
			let msg;
			try {
				await ready;
				msg = JSON.parse(raw);
				const handler = handlers[msg.method];
				if (!handler) throw new Error(`unknown method ${msg.method}`);
				const data = await handler(msg.data ?? {});
				ws.send(JSON.stringify({ id: msg.id, ok: true, data }));
			} catch (error) {
				ws.send(JSON.stringify({ id: msg?.id, ok: false, error: String(error.message ?? error) }));
			}
		});
		ws.on('close', async () => {
			await ready;
			for (const t of peer.transports.values()) {
				t.close();
			}
			if (room.peers.delete(peer.id)) {
				broadcast(room, 'peerLeft', { peerId: peer.id });
			}
			if (room.peers.size === 0) {
				stopRecording(room).catch(() => {});
			}
			console.log(`${peer.id} left room ${room.name} (${room.peers.size} left)`);
		});
	});

	server.listen(PORT, () => {
		console.log(`peerwave-sfu demo listening on http://localhost:${server.address().port}`);
		console.log('open it in two or more browser tabs (the same room URL)');
	});
	const stop = async () => {
		for (const room of rooms.values()) {
			await stopRecording(room).catch(() => {});
		}
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
