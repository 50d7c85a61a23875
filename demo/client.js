// Demo page: joins the room, sends camera + microphone, receives everyone else.
import { Device } from 'mediasoup-client';

const status = document.getElementById('status');
const videos = document.getElementById('videos');
const ws = new WebSocket(`ws://${location.host}`);
const pending = new Map();
let nextId = 1;
let device;
let recvTransport;
// Producers announced before our receive transport exists wait for it.
let markReady;
const ready = new Promise(resolve => (markReady = resolve));

function request(method, data) {
	const id = nextId++;
	ws.send(JSON.stringify({ id, method, data }));
	return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
}

function tile(id, label, stream, muted) {
	const fig = document.createElement('figure');
	fig.id = `tile-${id}`;
	const v = document.createElement('video');
	v.autoplay = true;
	v.playsInline = true;
	v.muted = muted;
	v.srcObject = stream;
	const cap = document.createElement('figcaption');
	cap.textContent = label;
	fig.append(v, cap);
	videos.append(fig);
	v.play().catch(() => {});
}

function wire(transport) {
	transport.on('connect', ({ dtlsParameters }, cb, eb) =>
		request('connectTransport', { transportId: transport.id, dtlsParameters }).then(cb, eb)
	);
	transport.on('produce', ({ kind, rtpParameters }, cb, eb) =>
		request('produce', { transportId: transport.id, kind, rtpParameters }).then(cb, eb)
	);
}

const remoteStreams = new Map();

async function consume({ producerId, peerId }) {
	const params = await request('consume', { transportId: recvTransport.id, producerId });
	const consumer = await recvTransport.consume(params);
	let stream = remoteStreams.get(peerId);
	if (!stream) {
		stream = new MediaStream();
		remoteStreams.set(peerId, stream);
		tile(peerId, peerId, stream, false);
	}
	stream.addTrack(consumer.track);
	await request('resumeConsumer', { consumerId: consumer.id });
}

ws.onmessage = ({ data }) => {
	const msg = JSON.parse(data);
	if (msg.notification === 'newProducer') {
		ready
			.then(() => consume(msg.data))
			.catch(e => (status.textContent = `consume failed: ${e.message}`));
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
		device = new Device();
		await device.load({ routerRtpCapabilities: await request('getRouterRtpCapabilities') });
		const { peerId, producers } = await request('join', { rtpCapabilities: device.rtpCapabilities });
		const send = device.createSendTransport(await request('createTransport'));
		wire(send);
		recvTransport = device.createRecvTransport(await request('createTransport'));
		wire(recvTransport);
		const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 360 } });
		tile('local', `${peerId} (you)`, stream, true);
		await send.produce({ track: stream.getVideoTracks()[0] });
		await send.produce({ track: stream.getAudioTracks()[0] });
		for (const p of producers) {
			await consume(p);
		}
		markReady();
		status.textContent = `joined as ${peerId}`;
	} catch (e) {
		status.textContent = `error: ${e.message}`;
	}
};

/** For tests and the curious: what this page receives. */
window.demoStats = async () => {
	const out = { framesDecoded: 0, totalSamplesReceived: 0, remotes: remoteStreams.size };
	if (!recvTransport) {
		return out;
	}
	(await recvTransport.getStats()).forEach(s => {
		if (s.type === 'inbound-rtp' && s.kind === 'video') out.framesDecoded += s.framesDecoded ?? 0;
		if (s.type === 'inbound-rtp' && s.kind === 'audio') out.totalSamplesReceived += s.totalSamplesReceived ?? 0;
	});
	return out;
};
