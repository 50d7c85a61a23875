// Recording a real browser: Chromium sends VP8 simulcast + Opus through a UDP relay that drops
// 5 % of its RTP on the way to the SFU. The producer's NACKs bring retransmissions (RTX), the
// recorder waits for them, asks Chromium for a keyframe after what nothing repaired, records
// the highest simulcast encoding, and the file decodes to its end.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const dgram = require('node:dgram');
const mediasoup = require('..');
const { useBrowserCall, SIMULCAST_ENCODINGS } = require('./helpers/e2e');
const { probe, decode } = require('./helpers/ffmpeg');

jest.setTimeout(90000);
const call = useBrowserCall(mediasoup);

const mediaCodecs = [
	{ kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
	{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
];

/**
 * Between the browser and the SFU's UDP port: everything passes, except `lossPct` % of the
 * browser's RTP (not RTCP, STUN or DTLS), dropped by a seeded pseudo-random choice.
 */
async function lossyUplink(sfuPort, lossPct) {
	const sock = dgram.createSocket('udp4');
	let browser = null;
	let seed = 12345;
	const counts = { rtp: 0, dropped: 0 };
	sock.on('message', (msg, from) => {
		if (from.port === sfuPort) {
			if (browser) sock.send(msg, browser.port, browser.address);
			return;
		}
		browser = from;
		const rtp = msg[0] >= 128 && msg[0] < 192 && !(msg[1] >= 192 && msg[1] <= 223);
		if (rtp) {
			counts.rtp++;
			seed = (seed * 1103515245 + 12345) & 0x7fffffff;
			if ((seed >> 8) % 1000 < lossPct * 10) {
				counts.dropped++;
				return;
			}
		}
		sock.send(msg, sfuPort, '127.0.0.1');
	});
	await new Promise(r => sock.bind(0, '127.0.0.1', r));
	return { port: sock.address().port, counts, close: () => sock.close() };
}

test('Chromium with 5 % uplink loss: retransmissions used, the recording decodes to the end', async () => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-e2e-rec-'));
	const file = path.join(dir, 'chromium.webm');
	const router = await call.worker.createRouter({ mediaCodecs });
	let relay;
	const a = await call.openPeer(router, undefined, {
		sendCandidates: async candidates => {
			relay = await lossyUplink(candidates[0].port, 5);
			return candidates.slice(0, 1).map(c => ({ ...c, port: relay.port }));
		},
	});
	try {
		const ids = await a.produce({ encodings: SIMULCAST_ENCODINGS, width: 640, height: 360 });
		const video = a.producers.find(p => p.kind === 'video');
		const audio = a.producers.find(p => p.kind === 'audio');
		expect(video.id).toBe(ids.video);
		// Let the encodings start, then record 10 s.
		await new Promise(r => setTimeout(r, 3000));
		const recorder = await router.createRecorder({ producerIds: [video.id, audio.id], path: file });
		await new Promise(r => setTimeout(r, 10000));
		const producerStats = await video.getStats();
		const summary = await recorder.stop();
		const p = await probe(file);
		const d = await decode(file);
		const v = summary.tracks.find(t => t.kind === 'video');
		console.log('Chromium recording with loss:', {
			relay: relay.counts,
			producer: producerStats.map(s => ({ rid: s.rid, packets: s.packetCount, lost: s.packetsLost, nacks: s.nackCount, repaired: s.packetsRepaired, retransmitted: s.packetsRetransmitted })),
			recorder: summary.tracks,
			duration: p.format.duration,
			decode: { videoFrames: d.videoFrames, lastVideoTime: d.lastVideoTime, errors: d.errors },
		});
		expect(relay.counts.dropped).toBeGreaterThan(20);
		// The producer asked for what was lost and got it back.
		expect(producerStats.reduce((n, s) => n + (s.packetsRetransmitted ?? 0), 0)).toBeGreaterThan(0);
		// The highest encoding Chromium sends (under 5 % loss its estimate may hold the top one
		// back), at its size, placed by sender reports.
		const sending = producerStats.filter(s => s.bitrate > 0).map(s => SIMULCAST_ENCODINGS.findIndex(e => e.rid === s.rid));
		expect(v.encodingIdx).toBe(Math.max(...sending));
		expect(v.width).toBe(640 / SIMULCAST_ENCODINGS[v.encodingIdx].scaleResolutionDownBy);
		expect(summary.tracks.map(t => t.syncedBy)).toEqual(['senderReport', 'senderReport']);
		// Most of the loss was repaired in time; what was not cost a keyframe request, not a broken file.
		expect(v.packetsLost).toBeLessThan(relay.counts.dropped / 2);
		expect(d.errors).toEqual([]);
		expect(p.streams.map(s => s.codec_name).sort()).toEqual(['opus', 'vp8']);
		const duration = Number(p.format.duration);
		expect(duration).toBeGreaterThan(9);
		expect(duration).toBeLessThan(11);
		expect(duration - d.lastVideoTime).toBeLessThan(1);
		expect(d.videoFrames).toBeGreaterThan(9 * 20);
	} finally {
		relay?.close();
		await a.close();
		fs.rmSync(dir, { recursive: true, force: true });
	}
});

test.each([
	['video/AV1', 'av1.webm', 'av1'],
	['video/VP9', 'vp9.webm', 'vp9'],
	['video/H264', 'h264.mkv', 'h264'],
])('Chromium %s is recorded to %s with its picture size, every frame decoding', async (mimeType, name, codecName) => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-e2e-rec-'));
	const file = path.join(dir, name);
	const router = await call.worker.createRouter({
		mediaCodecs: [
			mediaCodecs[0],
			mimeType === 'video/H264'
				? { kind: 'video', mimeType, clockRate: 90000, parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 } }
				: { kind: 'video', mimeType, clockRate: 90000 },
		],
	});
	const a = await call.openPeer(router);
	try {
		await a.produce({ videoCodec: mimeType, width: 640, height: 360 });
		const video = a.producers.find(p => p.kind === 'video');
		const audio = a.producers.find(p => p.kind === 'audio');
		const recorder = await router.createRecorder({ producerIds: [video.id, audio.id], path: file });
		await new Promise(r => setTimeout(r, 5000));
		const summary = await recorder.stop();
		const p = await probe(file);
		const d = await decode(file);
		const v = p.streams.find(s => s.codec_type === 'video');
		console.log(`${mimeType} recording:`, p.format.format_name, v?.codec_name, v?.width, v?.height, p.format.duration, { videoFrames: d.videoFrames, errors: d.errors, tracks: summary.tracks });
		expect(p.streams.map(s => s.codec_name).sort()).toEqual(['opus', codecName].sort());
		// The track header's size is the first picture's (later keyframes may change it: the
		// stats give the current one).
		expect([v.width, v.height]).toEqual(d.firstFrameSize);
		expect(v.width).toBeGreaterThan(0);
		expect(summary.tracks.find(x => x.kind === 'video').width).toBeGreaterThan(0);
		expect(d.errors).toEqual([]);
		expect(d.dtsWarnings).toEqual([]);
		expect(Number(p.format.duration)).toBeGreaterThan(3.5);
		expect(d.videoFrames).toBeGreaterThan(3 * 10);
	} finally {
		await a.close();
		fs.rmSync(dir, { recursive: true, force: true });
	}
});
