// The conventional recording path of mediasoup applications, on this package: a
// PlainTransport per producer towards FFmpeg (from Debian), an SDP file, a keyframe request
// (examples/record-ffmpeg.js). The source is FFmpeg too, a real RTP sender.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const mediasoup = require('..');
const { recordWithFfmpeg } = require('../examples/record-ffmpeg');
const { ffmpegProducers, probe, decode } = require('./helpers/ffmpeg');

jest.setTimeout(60000);

test('FFmpeg records VP8 + Opus consumed through PlainTransports into a playable WebM', async () => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-ffrec-'));
	const file = path.join(dir, 'out.webm');
	const worker = await mediasoup.createWorker();
	try {
		const router = await worker.createRouter({
			mediaCodecs: [
				{ kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
				{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
			],
		});
		const source = await ffmpegProducers(router, { seconds: 9, gop: 30 });
		const rec = await recordWithFfmpeg(router, [source.video, source.audio], file);
		expect(rec.sdp).toMatch(/a=rtpmap:\d+ VP8\/90000/);
		expect(rec.sdp).toMatch(/a=rtpmap:\d+ opus\/48000\/2/);
		await new Promise(r => setTimeout(r, 6000));
		const stats = await Promise.all(rec.consumers.map(c => c.getStats()));
		const { code, stderr } = await rec.stop();
		source.close();
		console.log('FFmpeg recorder:', { code, stderr }, stats.map(s => s.map(x => `${x.type} ${x.packetCount ?? ''}`)));
		expect(code).toBe(0);
		for (const s of stats) {
			expect(s.find(x => x.type === 'outbound-rtp').packetCount).toBeGreaterThan(100);
		}
		const p = await probe(file);
		const d = await decode(file);
		// FFmpeg's RTP input re-bases timestamps at each sender report and sometimes steps back
		// a millisecond (its muxer warns); logged, not failed: the frames all decode.
		console.log('FFmpeg recording:', p.format.duration, p.streams.map(s => s.codec_name), { videoFrames: d.videoFrames, errors: d.errors, dtsWarnings: d.dtsWarnings.length });
		expect(p.streams.map(s => s.codec_name).sort()).toEqual(['opus', 'vp8']);
		expect(Number(p.format.duration)).toBeGreaterThan(4.5);
		expect(d.errors).toEqual([]);
		expect(d.videoFrames).toBeGreaterThan(4 * 30);
	} finally {
		worker.close();
		fs.rmSync(dir, { recursive: true, force: true });
	}
});
