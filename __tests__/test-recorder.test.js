// Recording (an extension to mediasoup's API): router.createRecorder() writes producers to a
// WebM / Matroska file from the worker thread. FFmpeg from Debian is the real RTP sender
// (PlainTransports), ffprobe and ffmpeg read the files back.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const mediasoup = require('..');
const { ffmpegProducers, probe, decode, onsets } = require('./helpers/ffmpeg');

jest.setTimeout(90000);

const mediaCodecs = [
	{ kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
	{ kind: 'audio', mimeType: 'audio/PCMU', clockRate: 8000 },
	{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
	{ kind: 'video', mimeType: 'video/VP9', clockRate: 90000 },
	{ kind: 'video', mimeType: 'video/H264', clockRate: 90000, parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f' } },
];

let worker;
let router;
let dir;
const senders = [];

beforeAll(async () => {
	dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-rec-'));
});

beforeEach(async () => {
	worker = await mediasoup.createWorker();
	router = await worker.createRouter({ mediaCodecs });
});

afterEach(() => {
	senders.splice(0).forEach(s => s.close());
	worker.close();
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const sleep = ms => new Promise(r => setTimeout(r, ms));

async function record(opts, file, { stopAfterMs } = {}) {
	const s = await ffmpegProducers(router, opts);
	senders.push(s);
	const ids = [s.video?.id, s.audio?.id].filter(Boolean);
	const recorder = await router.createRecorder({ producerIds: ids, path: path.join(dir, file) });
	if (stopAfterMs) {
		await sleep(stopAfterMs);
	} else {
		const { code, stderr } = await s.done;
		expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
	}
	const stats = await recorder.getStats();
	const summary = await recorder.stop();
	return { s, recorder, summary, stats, file: path.join(dir, file) };
}

function explain(r) {
	return JSON.stringify({ summary: r.summary }, null, 1);
}

test('createRecorder() validates its options with mediasoup-style errors', async () => {
	const s = await ffmpegProducers(router, { seconds: 1 });
	senders.push(s);
	const file = path.join(dir, 'x.webm');
	await expect(router.createRecorder({ producerIds: [s.video.id] })).rejects.toThrow(TypeError);
	await expect(router.createRecorder({ producerIds: [], path: file })).rejects.toThrow(TypeError);
	await expect(router.createRecorder({ producerIds: ['nope'], path: file })).rejects.toThrow(mediasoup.types.NotFoundError);
	await expect(router.createRecorder({ producerIds: [s.video.id, s.video.id], path: file })).rejects.toThrow(/duplicate/);
	await expect(router.createRecorder({ producerIds: [s.video.id], path: path.join(dir, 'x.mp4') })).rejects.toThrow(mediasoup.types.UnsupportedError);
	await expect(router.createRecorder({ producerIds: [s.video.id], path: path.join(dir, 'no', 'such', 'dir.webm') })).rejects.toThrow(/cannot write path/);
	// PCMU: not a codec WebM/Matroska recordings hold here.
	const t = await router.createPlainTransport({ listenIp: '127.0.0.1', comedia: true });
	const pcmu = await t.produce({ kind: 'audio', rtpParameters: { codecs: [{ mimeType: 'audio/PCMU', payloadType: 0, clockRate: 8000 }], encodings: [{ ssrc: 5 }] } });
	await expect(router.createRecorder({ producerIds: [pcmu.id], path: file })).rejects.toThrow(mediasoup.types.UnsupportedError);
	// An end-to-end encrypted producer: the server holds only ciphertext.
	const enc = await t.produce({ kind: 'video', e2ee: 'whole-frame', rtpParameters: { codecs: [{ mimeType: 'video/VP8', payloadType: 101, clockRate: 90000 }], encodings: [{ ssrc: 6 }] } });
	await expect(router.createRecorder({ producerIds: [enc.id], path: file })).rejects.toThrow(/end-to-end encrypted/);
	await expect(router.createRecorder({ producerIds: [enc.id], path: file })).rejects.toThrow(mediasoup.types.UnsupportedError);
	// A producer of another router.
	const other = await worker.createRouter({ mediaCodecs });
	await expect(other.createRecorder({ producerIds: [s.video.id], path: file })).rejects.toThrow(mediasoup.types.NotFoundError);
});

async function flashBeepOffsets(file, duration) {
	const all = await onsets(file);
	// The flashes inside the file (the first one may be cut by the file's start at a keyframe).
	const flashes = all.flashes.filter(t => t > 0.5 && t < duration - 0.5);
	const offsets = flashes.map(f => all.beeps.reduce((best, b) => (Math.abs(b - f) < Math.abs(best - f) ? b : best), Infinity) - f);
	return { flashes, beeps: all.beeps, offsets };
}

test('VP8 + Opus to WebM: every frame decodes, audio and video in sync within 100 ms', async () => {
	const r = await record({ codec: 'vp8', seconds: 8 }, 'vp8.webm');
	const p = await probe(r.file);
	expect(p.format.format_name).toMatch(/webm/);
	const kinds = p.streams.map(s => `${s.codec_type}:${s.codec_name}`).sort();
	expect(kinds).toEqual(['audio:opus', 'video:vp8']);
	const duration = Number(p.format.duration);
	expect(duration).toBeGreaterThan(7);
	expect(duration).toBeLessThan(9);
	const v = p.streams.find(s => s.codec_type === 'video');
	expect([v.width, v.height]).toEqual([320, 240]);
	const d = await decode(r.file);
	expect(d.errors).toEqual([]);
	expect(d.dtsWarnings).toEqual([]);
	expect(d.videoFrames).toBeGreaterThan(7 * 30);
	// Start offset of the two streams, then the flashes against the beeps.
	const starts = p.streams.map(s => Number(s.start_time));
	expect(Math.abs(starts[0] - starts[1])).toBeLessThanOrEqual(0.1);
	const { flashes, beeps, offsets: pairs } = await flashBeepOffsets(r.file, duration);
	console.log('recording A/V: flashes', flashes, 'beeps', beeps, 'offsets (s)', pairs, explain(r));
	expect(flashes.length).toBeGreaterThanOrEqual(3);
	expect(flashes.length).toBe(Math.floor(duration / 2) - (duration % 2 < 0.5 ? 1 : 0));
	for (const off of pairs) {
		expect(Math.abs(off)).toBeLessThanOrEqual(0.1);
	}
	expect(r.summary.error).toBeNull();
	expect(r.summary.tracks.map(t => t.kind)).toEqual(['video', 'audio']);
	expect(r.summary.durationMs).toBeGreaterThan(7000);
});

test('audio arriving 250 ms after its video still lines up: the sender reports place it', async () => {
	const r = await record({ codec: 'vp8', seconds: 8, audioDelayMs: 250 }, 'late-audio.webm');
	const duration = Number((await probe(r.file)).format.duration);
	const { flashes, beeps, offsets } = await flashBeepOffsets(r.file, duration);
	console.log('audio 250 ms late: flashes', flashes, 'beeps', beeps, 'offsets (s)', offsets);
	expect(r.summary.tracks.map(t => t.syncedBy)).toEqual(['senderReport', 'senderReport']);
	expect(flashes.length).toBeGreaterThanOrEqual(3);
	for (const off of offsets) {
		expect(Math.abs(off)).toBeLessThanOrEqual(0.1);
	}
	expect((await decode(r.file)).errors).toEqual([]);
});

test('5 % of the video uplink lost: the file still decodes to the end', async () => {
	const r = await record({ codec: 'vp8', seconds: 10, gop: 30, lossPct: 5 }, 'lossy.webm');
	const relay = r.s.relays[0].counts();
	const d = await decode(r.file);
	const p = await probe(r.file);
	console.log('recording with loss: relay', relay, 'decode', { ...d, errors: d.errors.length }, explain(r));
	expect(relay.dropped).toBeGreaterThan(5);
	const video = r.summary.tracks.find(t => t.kind === 'video');
	expect(video.packetsLost).toBeGreaterThan(0);
	expect(video.framesDropped).toBeGreaterThan(0);
	expect(d.errors).toEqual([]);
	expect(d.dtsWarnings).toEqual([]);
	// Decodes to the end: the last decoded picture is within the last GOP of the file.
	expect(Number(p.format.duration) - d.lastVideoTime).toBeLessThan(1.2);
	expect(d.lastVideoTime).toBeGreaterThan(8.5);
});

test('stopped mid-GOP, the file is finalised and plays', async () => {
	// Keyframes every 3 s; stop 4.5 s in.
	const r = await record({ codec: 'vp8', seconds: 12, gop: 90 }, 'midgop.webm', { stopAfterMs: 4500 });
	const p = await probe(r.file);
	const d = await decode(r.file);
	console.log('stopped mid-GOP:', p.format.duration, { ...d, errors: d.errors.length });
	expect(d.errors).toEqual([]);
	expect(d.dtsWarnings).toEqual([]);
	expect(Number(p.format.duration)).toBeGreaterThan(3);
	expect(Number(p.format.duration)).toBeLessThan(5.5);
	expect(d.lastVideoTime).toBeGreaterThan(3);
});

test('H264 goes to Matroska (and not to WebM), VP9 to WebM', async () => {
	const h = await ffmpegProducers(router, { codec: 'h264', seconds: 4, audio: false });
	senders.push(h);
	await expect(router.createRecorder({ producerIds: [h.video.id], path: path.join(dir, 'h.webm') })).rejects.toThrow(/H264 cannot go in WebM/);
	const rec = await router.createRecorder({ producerIds: [h.video.id], path: path.join(dir, 'h264.mkv') });
	await h.done;
	const summary = await rec.stop();
	const p = await probe(path.join(dir, 'h264.mkv'));
	const d = await decode(path.join(dir, 'h264.mkv'));
	console.log('h264:', p.format.format_name, p.streams[0].codec_name, p.streams[0].width, p.streams[0].height, { ...d, errors: d.errors });
	expect(p.streams.map(s => [s.codec_name, s.width, s.height])).toEqual([['h264', 320, 240]]);
	expect(d.errors).toEqual([]);
	expect(d.dtsWarnings).toEqual([]);
	expect(d.videoFrames).toBeGreaterThan(3 * 30);
	expect(summary.tracks[0].mimeType).toBe('video/H264');

	const r = await record({ codec: 'vp9', seconds: 4 }, 'vp9.webm');
	const p9 = await probe(r.file);
	const d9 = await decode(r.file);
	expect(p9.streams.map(s => s.codec_name).sort()).toEqual(['opus', 'vp9']);
	expect(p9.streams.find(s => s.codec_name === 'vp9').width).toBe(320);
	expect(d9.errors).toEqual([]);
	expect(d9.dtsWarnings).toEqual([]);
	expect(d9.videoFrames).toBeGreaterThan(3 * 30);
});

test('the file is finalised when its producers close, and when the worker closes', async () => {
	const s = await ffmpegProducers(router, { seconds: 20 });
	senders.push(s);
	const rec = await router.createRecorder({ producerIds: [s.video.id, s.audio.id], path: path.join(dir, 'pclose.webm') });
	const closed = [];
	rec.on('producerclose', id => closed.push(id));
	const finished = new Promise(resolve => rec.once('finish', resolve));
	await sleep(3000);
	s.video.close();
	await sleep(500);
	expect(rec.closed).toBe(false);
	s.audio.close();
	const summary = await finished;
	expect(closed).toEqual([s.video.id, s.audio.id]);
	expect(rec.closed).toBe(true);
	expect(await rec.stop()).toEqual(summary);
	const p = await probe(path.join(dir, 'pclose.webm'));
	expect(Number(p.format.duration)).toBeGreaterThan(2);
	expect((await decode(path.join(dir, 'pclose.webm'))).errors).toEqual([]);

	// Worker close: the thread finalises the file before close() returns.
	const router2 = await worker.createRouter({ mediaCodecs });
	const s2 = await ffmpegProducers(router2, { seconds: 20 });
	senders.push(s2);
	const rec2 = await router2.createRecorder({ producerIds: [s2.video.id, s2.audio.id], path: path.join(dir, 'wclose.webm') });
	const workerclose = new Promise(resolve => rec2.once('workerclose', resolve));
	await sleep(4000);
	worker.close();
	await workerclose;
	expect(rec2.closed).toBe(true);
	const p2 = await probe(path.join(dir, 'wclose.webm'));
	expect(Number(p2.format.duration)).toBeGreaterThan(2);
	expect(Number(p2.format.duration)).toBeLessThan(4.2);
	expect((await decode(path.join(dir, 'wclose.webm'))).errors).toEqual([]);
});
