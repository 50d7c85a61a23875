// Demo page: joins the room named by the URL path, sends camera (simulcast) and microphone,
// optionally the screen, receives everyone else. With the room's E2EE on, every frame is
// encrypted in the page (peerwave-sfu/e2ee); the room key goes from page to page wrapped
// with an ECDH key of the two pages, so the server only ever passes ciphertext on.
//
// URL parameters, for machines without a camera and for tests: ?name=… (display name),
// ?camera=pattern&hue=0–359 (a generated picture of that colour instead of the camera).
import { Device } from 'mediasoup-client';

const params = new URLSearchParams(location.search);
const roomName = decodeURIComponent(location.pathname.slice(1)) || 'main';
const $ = id => document.getElementById(id);
const ui = {
	room: $('room'),
	status: $('status'),
	tiles: $('tiles'),
	share: $('share'),
	mute: $('mute'),
	e2ee: $('e2ee'),
	code: $('code'),
	record: $('record'),
	recordNote: $('record-note'),
	recordings: $('recordings'),
};
ui.room.textContent = roomName;

const KEY_ID = 1;
const SIMULCAST = [
	{ rid: 'r0', scaleResolutionDownBy: 4, maxBitrate: 150000 },
	{ rid: 'r1', scaleResolutionDownBy: 2, maxBitrate: 500000 },
	{ rid: 'r2', scaleResolutionDownBy: 1, maxBitrate: 1500000 },
];

const state = {
	peerId: null,
	device: null,
	send: null,
	recv: null,
	e2eeOn: false,
	kit: null,
	roomKey: null,
	keyPair: null,
	publicKey: null,
	peers: new Map(),
	tiles: new Map(),
	consumers: new Map(),
	producers: {},
	recording: false,
};
let markKeyReady;
const keyReady = new Promise(resolve => (markKeyReady = resolve));
let markJoined;
const joined = new Promise(resolve => (markJoined = resolve));

const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/?room=${encodeURIComponent(roomName)}`);
const pending = new Map();
let nextId = 1;
function request(method, data) {
	const id = nextId++;
	ws.send(JSON.stringify({ id, method, data }));
	return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
}

const b64 = buf => btoa(String.fromCharCode(...new Uint8Array(buf)));
const unb64 = s => Uint8Array.from(atob(s), c => c.charCodeAt(0));
const hex = buf => Array.from(new Uint8Array(buf), x => x.toString(16).padStart(2, '0')).join('');
const status = text => (ui.status.textContent = text);

// ------------------------------------------------------------------ tiles

function tile(key, label, local) {
	let t = state.tiles.get(key);
	if (t) return t;
	const fig = document.createElement('figure');
	fig.dataset.key = key;
	fig.dataset.peer = key.split(':')[0];
	const video = document.createElement('video');
	video.autoplay = true;
	video.playsInline = true;
	video.muted = true;
	const cap = document.createElement('figcaption');
	const name = document.createElement('span');
	name.className = 'name';
	name.textContent = label;
	const info = document.createElement('span');
	info.className = 'info';
	cap.append(name, info);
	fig.append(video, cap);
	ui.tiles.append(fig);
	fig.classList.toggle('speaking', key === `${state.activeSpeaker}:camera`);
	t = { fig, video, info, stream: new MediaStream(), local, last: null };
	video.srcObject = t.stream;
	state.tiles.set(key, t);
	return t;
}

function removeTile(key) {
	const t = state.tiles.get(key);
	if (t) {
		t.fig.remove();
		state.tiles.delete(key);
	}
}

// Each tile shows what its video decodes (or, for our own, what we send): size and bitrate.
setInterval(async () => {
	for (const t of state.tiles.values()) {
		const source = t.local ? t.producer : t.consumer;
		if (!source || source.closed) continue;
		const stats = await source.getStats();
		let width = 0;
		let height = 0;
		let bytes = 0;
		stats.forEach(s => {
			if ((s.type === 'inbound-rtp' || s.type === 'outbound-rtp') && s.kind === 'video') {
				bytes += s.bytesReceived ?? s.bytesSent ?? 0;
				if ((s.frameWidth ?? 0) > width) {
					width = s.frameWidth;
					height = s.frameHeight;
				}
			}
		});
		const now = performance.now();
		const kbps = t.last ? Math.round(((bytes - t.last.bytes) * 8) / (now - t.last.at)) : 0;
		t.last = { bytes, at: now };
		t.width = width;
		t.height = height;
		t.kbps = kbps;
		t.info.textContent = width ? `${width}×${height} · ${kbps} kbit/s` : '…';
	}
}, 1000);

// ------------------------------------------------------------------ E2EE

async function loadKit() {
	const url = `${location.origin}/e2ee/index.js`;
	return import(url);
}

async function useRoomKey(raw) {
	state.roomKey = raw;
	sessionStorage.setItem(`pw-room-key:${roomName}`, b64(raw));
	await state.kit.setKey(KEY_ID, raw);
	await state.kit.setSendKey(KEY_ID);
	markKeyReady();
	await showCode();
}

/** The AES-GCM key only this page and the page holding `publicKey` can derive. */
async function pairKey(publicKey) {
	const theirs = await crypto.subtle.importKey('raw', unb64(publicKey), { name: 'ECDH', namedCurve: 'P-256' }, false, []);
	return crypto.subtle.deriveKey({ name: 'ECDH', public: theirs }, state.keyPair.privateKey, { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
}

async function sendRoomKey(peer) {
	if (!state.roomKey || !peer.publicKey) return;
	const iv = crypto.getRandomValues(new Uint8Array(12));
	const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: new TextEncoder().encode(roomName) }, await pairKey(peer.publicKey), state.roomKey);
	await request('sendKey', { to: peer.id, wrapped: b64(iv) + '.' + b64(ct) });
}

async function receiveRoomKey({ publicKey, wrapped }) {
	if (state.roomKey || !state.e2eeOn) return;
	const [iv, ct] = wrapped.split('.').map(unb64);
	const raw = await crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: new TextEncoder().encode(roomName) }, await pairKey(publicKey), ct);
	await useRoomKey(new Uint8Array(raw));
}

/**
 * The security code: the room key's fingerprint and every page's public key. Pages that show
 * the same code hold the same key and were not given each other's keys by a go-between.
 */
async function showCode() {
	if (!state.e2eeOn || !state.roomKey) {
		ui.code.textContent = '';
		return;
	}
	const kit = await loadKit();
	const items = [`key:${hex(await crypto.subtle.digest('SHA-256', state.roomKey))}`, `peer:${state.publicKey}`];
	for (const p of state.peers.values()) items.push(`peer:${p.publicKey}`);
	ui.code.textContent = `security code ${await kit.securityCode(items)}`;
}

// ------------------------------------------------------------------ media

async function camera() {
	if (params.get('camera') !== 'pattern') {
		return (await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 } })).getVideoTracks()[0];
	}
	// A generated picture: this page's colour with a moving bar.
	const c = document.createElement('canvas');
	c.width = 640;
	c.height = 360;
	const g = c.getContext('2d');
	const hue = Number(params.get('hue') ?? 200);
	let x = 0;
	setInterval(() => {
		g.fillStyle = `hsl(${hue} 80% 45%)`;
		g.fillRect(0, 0, 640, 360);
		g.fillStyle = '#fff';
		g.fillRect(x, 150, 40, 60);
		x = (x + 8) % 640;
	}, 33);
	return c.captureStream(30).getVideoTracks()[0];
}

async function produce(track, source, extra = {}) {
	if (state.e2eeOn) {
		// No frame leaves in clear: the track is off until the sender's transform is on.
		await keyReady;
		track.enabled = false;
	}
	const producer = await state.send.produce({ track, ...extra, appData: { source } });
	if (state.e2eeOn) {
		state.kit.attachSender(producer.rtpSender, track.kind);
		track.enabled = source !== 'mic' || !state.muted;
	}
	return producer;
}

async function consume({ producerId, peerId, kind, source }) {
	await joined;
	const offer = await request('consume', { transportId: state.recv.id, producerId });
	const consumer = await state.recv.consume(offer);
	if (state.e2eeOn) {
		state.kit.attachReceiver(consumer.rtpReceiver, kind);
	}
	const name = state.peers.get(peerId)?.name ?? peerId;
	if (kind === 'video') {
		const key = `${peerId}:${source}`;
		const t = tile(key, source === 'screen' ? `${name} (screen)` : name, false);
		t.stream.addTrack(consumer.track);
		t.consumer = consumer;
		t.video.play().catch(() => {});
		state.consumers.set(producerId, { consumer, key });
	} else {
		const audio = document.createElement('audio');
		audio.autoplay = true;
		audio.srcObject = new MediaStream([consumer.track]);
		document.body.append(audio);
		state.consumers.set(producerId, { consumer, audio });
	}
	await request('resumeConsumer', { consumerId: consumer.id });
}

function wire(transport) {
	transport.on('connect', ({ dtlsParameters }, cb, eb) => request('connectTransport', { transportId: transport.id, dtlsParameters }).then(cb, eb));
	transport.on('produce', ({ kind, rtpParameters, appData }, cb, eb) =>
		request('produce', { transportId: transport.id, kind, rtpParameters, source: appData.source }).then(cb, eb)
	);
}

// ------------------------------------------------------------------ controls

ui.mute.onclick = () => {
	state.muted = !state.muted;
	const track = state.producers.mic?.track;
	if (track) track.enabled = !state.muted;
	ui.mute.textContent = state.muted ? 'Unmute' : 'Mute';
};

ui.share.onclick = async () => {
	if (state.producers.screen) {
		await stopShare();
		return;
	}
	const track = (await navigator.mediaDevices.getDisplayMedia({ video: true })).getVideoTracks()[0];
	const producer = await produce(track, 'screen');
	state.producers.screen = producer;
	const t = tile(`${state.peerId}:screen`, 'your screen', true);
	t.stream.addTrack(track);
	t.producer = producer;
	ui.share.textContent = 'Stop sharing';
	track.onended = () => stopShare();
};

async function stopShare() {
	const p = state.producers.screen;
	if (!p) return;
	delete state.producers.screen;
	p.close();
	p.track?.stop();
	removeTile(`${state.peerId}:screen`);
	ui.share.textContent = 'Share screen';
	await request('closeProducer', { producerId: p.id });
}

ui.e2ee.onclick = async () => {
	const on = !state.e2eeOn;
	if (on) {
		// This page makes the room key; the others get it from the pages that hold it.
		sessionStorage.setItem(`pw-room-key:${roomName}`, b64(crypto.getRandomValues(new Uint8Array(32))));
	} else {
		sessionStorage.removeItem(`pw-room-key:${roomName}`);
	}
	await request('setE2ee', { on });
};

ui.record.onclick = async () => {
	try {
		await request(state.recording ? 'stopRecording' : 'startRecording');
	} catch (e) {
		status(`recording: ${e.message}`);
	}
};

function showRecording(on) {
	state.recording = on;
	ui.record.textContent = on ? 'Stop recording' : 'Record';
	ui.record.classList.toggle('on', on);
	ui.record.disabled = state.e2eeOn;
	ui.recordNote.textContent = state.e2eeOn
		? 'Recording is off while the room is end-to-end encrypted: the server cannot read the media.'
		: on
			? 'Recording every camera and microphone of the room…'
			: '';
	ui.record.title = ui.recordNote.textContent;
}

function showRecordings(list) {
	ui.recordings.replaceChildren(
		...list.map(r => {
			const li = document.createElement('li');
			const v = document.createElement('video');
			v.controls = true;
			v.preload = 'metadata';
			v.src = r.url;
			const cap = document.createElement('span');
			cap.textContent = `${r.name} · ${(r.durationMs / 1000).toFixed(1)} s · ${Math.round(r.bytes / 1024)} KiB`;
			li.append(v, cap);
			return li;
		})
	);
}

// ------------------------------------------------------------------ signaling

const notifications = {
	newPeer: async peer => {
		state.peers.set(peer.id, peer);
		await sendRoomKey(peer);
		await showCode();
	},
	peerLeft: async ({ peerId }) => {
		state.peers.delete(peerId);
		for (const key of [...state.tiles.keys()]) {
			if (key.startsWith(`${peerId}:`)) removeTile(key);
		}
		await showCode();
	},
	newProducer: data => consume(data),
	producerClosed: ({ producerId }) => {
		const c = state.consumers.get(producerId);
		if (!c) return;
		state.consumers.delete(producerId);
		c.consumer.close();
		c.audio?.remove();
		if (c.key) removeTile(c.key);
	},
	activeSpeaker: ({ peerId }) => {
		for (const t of state.tiles.values()) {
			t.fig.classList.toggle('speaking', t.fig.dataset.key === `${peerId}:camera`);
		}
		state.activeSpeaker = peerId;
	},
	roomKey: data => receiveRoomKey(data),
	e2ee: () => location.reload(),
	recording: ({ on }) => showRecording(on),
	recordings: list => showRecordings(list),
};

ws.onmessage = ({ data }) => {
	const msg = JSON.parse(data);
	if (msg.notification) {
		Promise.resolve(notifications[msg.notification]?.(msg.data)).catch(e => status(`${msg.notification}: ${e.message}`));
		return;
	}
	const p = pending.get(msg.id);
	if (p) {
		pending.delete(msg.id);
		msg.ok ? p.resolve(msg.data) : p.reject(new Error(msg.error));
	}
};

ws.onopen = async () => {
	try {
		const hello = await request('hello');
		state.peerId = hello.peerId;
		state.e2eeOn = hello.e2ee;
		ui.e2ee.textContent = state.e2eeOn ? 'E2EE on' : 'E2EE off';
		ui.e2ee.classList.toggle('on', state.e2eeOn);
		showRecording(Boolean(hello.recording));
		showRecordings(hello.recordings);
		state.keyPair = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveKey']);
		state.publicKey = b64(await crypto.subtle.exportKey('raw', state.keyPair.publicKey));
		state.device = new Device();
		await state.device.load({ routerRtpCapabilities: hello.routerRtpCapabilities });
		const name = params.get('name') || state.peerId;
		const room = await request('join', { rtpCapabilities: state.device.rtpCapabilities, name, publicKey: state.publicKey });
		for (const p of room.peers) state.peers.set(p.id, p);
		let additionalSettings;
		if (state.e2eeOn) {
			const kit = await loadKit();
			state.kit = new kit.E2ee();
			additionalSettings = kit.E2ee.transportSettings;
			const stored = sessionStorage.getItem(`pw-room-key:${roomName}`);
			if (stored) {
				await useRoomKey(unb64(stored));
				for (const p of state.peers.values()) await sendRoomKey(p);
			} else if (state.peers.size === 0) {
				await useRoomKey(crypto.getRandomValues(new Uint8Array(32)));
			} else {
				status('waiting for the room key from the other pages…');
			}
		}
		state.send = state.device.createSendTransport({ ...(await request('createTransport')), additionalSettings });
		wire(state.send);
		state.recv = state.device.createRecvTransport({ ...(await request('createTransport')), additionalSettings });
		wire(state.recv);
		markJoined();
		for (const p of room.producers) {
			consume(p).catch(e => status(`consume failed: ${e.message}`));
		}
		if (room.activeSpeaker) notifications.activeSpeaker({ peerId: room.activeSpeaker });
		const video = await camera();
		const t = tile(`${state.peerId}:camera`, `${name} (you)`, true);
		t.stream.addTrack(video);
		const audio = (await navigator.mediaDevices.getUserMedia({ audio: true })).getAudioTracks()[0];
		state.producers.camera = await produce(video, 'camera', { encodings: SIMULCAST, codecOptions: { videoGoogleStartBitrate: 1000 } });
		t.producer = state.producers.camera;
		state.producers.mic = await produce(audio, 'mic');
		status(`joined as ${name}${state.e2eeOn ? ' · end-to-end encrypted' : ''}`);
	} catch (e) {
		status(`error: ${e.message}`);
	}
};

/** For tests and the curious: what this page sends, receives and shows. */
window.demo = {
	async info() {
		const tiles = [];
		for (const [key, t] of state.tiles) {
			tiles.push({ key, local: t.local, width: t.width ?? 0, height: t.height ?? 0, kbps: t.kbps ?? 0, speaking: t.fig.classList.contains('speaking') });
		}
		let framesDecoded = 0;
		let samples = 0;
		for (const { consumer } of state.consumers.values()) {
			(await consumer.getStats()).forEach(s => {
				if (s.type === 'inbound-rtp' && s.kind === 'video') framesDecoded += s.framesDecoded ?? 0;
				if (s.type === 'inbound-rtp' && s.kind === 'audio') samples += s.totalSamplesReceived ?? 0;
			});
		}
		return {
			peerId: state.peerId,
			e2ee: state.e2eeOn,
			code: ui.code.textContent,
			kit: state.kit ? await state.kit.stats() : null,
			recordDisabled: ui.record.disabled,
			recording: state.recording,
			activeSpeaker: state.activeSpeaker ?? null,
			tiles,
			framesDecoded,
			totalSamplesReceived: samples,
			recordings: [...ui.recordings.querySelectorAll('video')].map(v => v.getAttribute('src')),
		};
	},
	/** Mean colour (r, g, b) of a tile's picture now. */
	color(key) {
		const t = state.tiles.get(key);
		if (!t || !t.video.videoWidth) return null;
		const c = document.createElement('canvas');
		c.width = 32;
		c.height = 18;
		const g = c.getContext('2d', { willReadFrequently: true });
		g.drawImage(t.video, 0, 0, 32, 18);
		const px = g.getImageData(0, 0, 32, 18).data;
		const sum = [0, 0, 0];
		for (let i = 0; i < px.length; i += 4) {
			sum[0] += px[i];
			sum[1] += px[i + 1];
			sum[2] += px[i + 2];
		}
		return sum.map(v => Math.round(v / (px.length / 4)));
	},
};
