'use strict';
// Recording the conventional way, as mediasoup applications do it: a PlainTransport per
// producer towards FFmpeg, an SDP file describing those RTP streams, FFmpeg copying them into
// a WebM file, and a keyframe request once FFmpeg listens. (peerwave-sfu can also write the
// file itself, without FFmpeg: router.createRecorder(), see the README.)
//
//   node examples/record-ffmpeg.js [out.webm] [seconds]
// runs it end to end: FFmpeg's test picture and tone are sent into a router, and a second
// FFmpeg records them back out through the SFU. `recordWithFfmpeg()` is the reusable part.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

let nextPort = 40000 + (process.pid % 2000) * 4;

/**
 * Starts FFmpeg recording `producers` (VP8/VP9/Opus) of `router` into `file`. Resolves once
 * FFmpeg receives; `stop()` ends FFmpeg (it finalises the file) and closes the transports.
 */
async function recordWithFfmpeg(router, producers, file) {
	const media = [];
	const transports = [];
	const consumers = [];
	for (const producer of producers) {
		// FFmpeg listens on rtpPort (RTP) and rtpPort + 1 (RTCP).
		const rtpPort = nextPort;
		nextPort += 4;
		const transport = await router.createPlainTransport({ listenIp: '127.0.0.1', rtcpMux: false, comedia: false });
		await transport.connect({ ip: '127.0.0.1', port: rtpPort, rtcpPort: rtpPort + 1 });
		const codec = router.rtpCapabilities.codecs.find(c => c.kind === producer.kind && !/rtx/i.test(c.mimeType));
		const consumer = await transport.consume({
			producerId: producer.id,
			rtpCapabilities: { codecs: [codec], headerExtensions: [] },
			paused: true,
		});
		transports.push(transport);
		consumers.push(consumer);
		const c = consumer.rtpParameters.codecs[0];
		const name = c.mimeType.split('/')[1];
		const channels = c.channels ? `/${c.channels}` : '';
		media.push(
			`m=${producer.kind} ${rtpPort} RTP/AVP ${c.payloadType}`,
			`a=rtpmap:${c.payloadType} ${name}/${c.clockRate}${channels}`,
			`a=rtcp:${rtpPort + 1}`,
			'a=recvonly'
		);
	}
	const sdp = ['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=peerwave-sfu recording', 'c=IN IP4 127.0.0.1', 't=0 0', ...media, ''].join('\n');
	const sdpFile = path.join(os.tmpdir(), `pw-record-${process.pid}-${nextPort}.sdp`);
	fs.writeFileSync(sdpFile, sdp);
	const ffmpeg = spawn(
		'ffmpeg',
		['-hide_banner', '-loglevel', 'error', '-protocol_whitelist', 'file,rtp,udp', '-fflags', '+genpts', '-i', sdpFile, '-map', '0', '-c', 'copy', '-y', file],
		{ stdio: ['pipe', 'ignore', 'pipe'] }
	);
	let stderr = '';
	ffmpeg.stderr.on('data', d => (stderr += d));
	const exited = new Promise(resolve => ffmpeg.on('exit', code => resolve(code)));
	// FFmpeg needs a moment to open its sockets; then media flows, starting at a keyframe.
	await new Promise(r => setTimeout(r, 1000));
	for (const consumer of consumers) {
		await consumer.resume();
		if (consumer.kind === 'video') await consumer.requestKeyFrame();
	}
	return {
		sdp,
		consumers,
		async stop() {
			// 'q' on stdin: FFmpeg stops reading and writes the file's end (duration, cues).
			ffmpeg.stdin.end('q');
			const timer = setTimeout(() => ffmpeg.kill('SIGINT'), 5000);
			const code = await exited;
			clearTimeout(timer);
			transports.forEach(t => t.close());
			fs.rmSync(sdpFile, { force: true });
			return { code, stderr };
		},
	};
}

module.exports = { recordWithFfmpeg };

if (require.main === module) {
	(async () => {
		const mediasoup = require('..');
		const { ffmpegProducers } = require('../__tests__/helpers/ffmpeg');
		const out = path.resolve(process.argv[2] ?? 'recording.webm');
		const seconds = Number(process.argv[3] ?? 8);
		const worker = await mediasoup.createWorker();
		const router = await worker.createRouter({
			mediaCodecs: [
				{ kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
				{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
			],
		});
		const source = await ffmpegProducers(router, { seconds: seconds + 2, gop: 30 });
		const rec = await recordWithFfmpeg(router, [source.video, source.audio], out);
		await new Promise(r => setTimeout(r, seconds * 1000));
		const { code, stderr } = await rec.stop();
		source.close();
		worker.close();
		console.log(`FFmpeg exited with ${code}${stderr ? `: ${stderr}` : ''}; wrote ${out}`);
	})().catch(e => {
		console.error(e);
		process.exit(1);
	});
}
