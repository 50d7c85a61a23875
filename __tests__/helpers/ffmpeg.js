'use strict';
// FFmpeg from Debian as a real RTP sender into PlainTransports, and ffprobe/ffmpeg to check
// what a recording holds. The test source flashes the picture white and plays a 1 kHz beep
// for the first 100 ms of every 2 s, so audio/video sync can be read back from a file.
const { spawn, execFile } = require('node:child_process');
const dgram = require('node:dgram');

const VIDEO_SOURCE = "color=c=black:s=320x240:r=30,drawbox=c=white:t=fill:enable='lt(mod(t,2),0.1)'";
const AUDIO_SOURCE = "aevalsrc='if(lt(mod(t,2),0.1),sin(2*PI*1000*t),0)':s=48000:c=stereo";

const VIDEO_CODECS = {
	vp8: { mimeType: 'video/VP8', args: ['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '500k'] },
	// FFmpeg calls its VP9 packetizer experimental (written to a draft of RFC 9628).
	vp9: { mimeType: 'video/VP9', args: ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '500k', '-strict', 'experimental'] },
	h264: {
		mimeType: 'video/H264',
		parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f' },
		args: ['-c:v', 'libx264', '-profile:v', 'baseline', '-tune', 'zerolatency', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-b:v', '500k'],
	},
};

function run(cmd, args) {
	return new Promise((resolve, reject) => {
		execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
			if (error && error.code !== 0 && !stdout && !stderr) {
				reject(error);
			} else {
				resolve({ code: error ? error.code : 0, stdout: String(stdout), stderr: String(stderr) });
			}
		});
	});
}

let nextPort = 30000 + (process.pid % 1000) * 20;
function ports(n) {
	const base = nextPort;
	nextPort += n;
	return base;
}

/**
 * A UDP relay from FFmpeg to the SFU that drops `lossPct` % of RTP packets (a seeded
 * pseudo-random choice) and delays the rest by `delayMs`. Returns its port (the SFU's
 * transport connects to it).
 */
async function lossyRelay(to, lossPct, { seed = 7, delayMs = 0 } = {}) {
	const sock = dgram.createSocket('udp4');
	let s = seed;
	let dropped = 0;
	let passed = 0;
	sock.on('message', msg => {
		s = (s * 1103515245 + 12345) & 0x7fffffff;
		if ((s >> 8) % 1000 < lossPct * 10) {
			dropped++;
			return;
		}
		passed++;
		if (delayMs > 0) {
			setTimeout(() => sock.send(msg, to, '127.0.0.1'), delayMs);
		} else {
			sock.send(msg, to, '127.0.0.1');
		}
	});
	await new Promise(r => sock.bind(0, '127.0.0.1', r));
	return { port: sock.address().port, close: () => sock.close(), counts: () => ({ dropped, passed }) };
}

/**
 * Producers on `router` fed by FFmpeg for `seconds`: video (`codec`, keyframe every `gop`
 * frames) and Opus audio, each on its own PlainTransport. `lossPct` drops that share of the
 * video RTP on the way, `audioDelayMs` holds the audio RTP back that long.
 */
async function ffmpegProducers(router, { codec = 'vp8', seconds = 8, gop = 60, lossPct = 0, audioDelayMs = 0, video = true, audio = true } = {}) {
	const c = VIDEO_CODECS[codec];
	const base = ports(4);
	const out = { transports: [], relays: [] };
	const args = ['-hide_banner', '-loglevel', 'error', '-re'];
	if (video) args.push('-t', String(seconds), '-f', 'lavfi', '-i', VIDEO_SOURCE);
	if (audio) args.push('-t', String(seconds), '-f', 'lavfi', '-i', AUDIO_SOURCE);
	let input = 0;
	// One PlainTransport per FFmpeg output: FFmpeg sends RTP from `port` (through a relay when
	// one is asked for) and RTCP from port + 1.
	const plainInput = async (port, relayOptions) => {
		const t = await router.createPlainTransport({ listenIp: '127.0.0.1', rtcpMux: false, comedia: false });
		let dest = t.tuple.localPort;
		let from = port;
		if (relayOptions) {
			const relay = await lossyRelay(t.tuple.localPort, relayOptions.lossPct ?? 0, relayOptions);
			out.relays.push(relay);
			dest = from = relay.port;
		}
		await t.connect({ ip: '127.0.0.1', port: from, rtcpPort: port + 1 });
		out.transports.push(t);
		const url = `rtp://127.0.0.1:${dest}?rtcpport=${t.rtcpTuple.localPort}&localrtpport=${port}&localrtcpport=${port + 1}&pkt_size=1200`;
		return { t, url };
	};
	if (video) {
		const { t, url } = await plainInput(base, lossPct > 0 ? { lossPct } : null);
		out.video = await t.produce({
			kind: 'video',
			rtpParameters: {
				codecs: [{ mimeType: c.mimeType, payloadType: 101, clockRate: 90000, parameters: c.parameters ?? {} }],
				encodings: [{ ssrc: 1111 }],
			},
		});
		args.push('-map', `${input++}:v`, ...c.args, '-g', String(gop), '-payload_type', '101', '-ssrc', '1111', '-f', 'rtp', url);
	}
	if (audio) {
		const { t, url } = await plainInput(base + 2, audioDelayMs > 0 ? { delayMs: audioDelayMs } : null);
		out.audio = await t.produce({
			kind: 'audio',
			rtpParameters: {
				codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }],
				encodings: [{ ssrc: 2222 }],
			},
		});
		args.push('-map', `${input++}:a`, '-c:a', 'libopus', '-payload_type', '100', '-ssrc', '2222', '-f', 'rtp', url);
	}
	const proc = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
	let stderr = '';
	proc.stderr.on('data', d => (stderr += d));
	out.proc = proc;
	out.done = new Promise(resolve => proc.on('exit', code => resolve({ code, stderr })));
	out.close = () => {
		proc.kill('SIGKILL');
		out.relays.forEach(r => r.close());
		out.transports.forEach(t => t.close());
	};
	return out;
}

/** ffprobe's view of a file: format duration and streams. */
async function probe(file) {
	const r = await run('ffprobe', ['-v', 'error', '-show_format', '-show_streams', '-of', 'json', file]);
	if (r.code !== 0) {
		throw new Error(`ffprobe failed on ${file}: ${r.stderr}`);
	}
	return JSON.parse(r.stdout);
}

/**
 * Decodes every frame of the file: the decoder's errors (empty when all decode), warnings of
 * timestamps that go backwards, the number of video frames decoded and the last one's time.
 */
async function decode(file) {
	const r = await run('ffmpeg', ['-v', 'error', '-i', file, '-map', '0', '-f', 'null', '-']);
	const lines = r.stderr.split('\n').filter(l => l.trim());
	// Timestamps going backwards (FFmpeg's own RTP input re-bases them at each sender report):
	// the file plays, but its muxer complains. Kept apart from decoding errors.
	const dts = l => /non monotonically increasing dts|Last message repeated/.test(l);
	const errors = lines.filter(l => !dts(l));
	const dtsWarnings = lines.filter(dts);
	const f = await run('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'frame=pts_time,width,height', '-of', 'csv=p=0', file]);
	const frames = f.stdout
		.split('\n')
		.filter(l => l.trim() !== '')
		.map(l => l.split(',').map(Number));
	const times = frames.map(x => x[0]).filter(Number.isFinite);
	const firstFrameSize = frames.length ? frames[0].slice(1, 3) : null;
	return { code: r.code, errors, dtsWarnings, firstFrameSize, videoFrames: times.length, lastVideoTime: times.length ? Math.max(...times) : 0 };
}

/** Times (s) where the picture turns bright, and where the audio turns loud. */
async function onsets(file) {
	const v = await run('ffmpeg', ['-v', 'info', '-i', file, '-an', '-vf', 'signalstats,metadata=print:key=lavfi.signalstats.YAVG', '-f', 'null', '-']);
	const flashes = [];
	let bright = false;
	let t = 0;
	for (const line of v.stderr.split('\n')) {
		const m = line.match(/pts_time:([\d.]+)/);
		if (m) t = Number(m[1]);
		const y = line.match(/YAVG=([\d.]+)/);
		if (y) {
			const now = Number(y[1]) > 128;
			if (now && !bright) flashes.push(t);
			bright = now;
		}
	}
	const a = await run('ffmpeg', ['-v', 'info', '-i', file, '-vn', '-af', 'silencedetect=n=-30dB:d=0.05', '-f', 'null', '-']);
	const beeps = [...a.stderr.matchAll(/silence_end: ([\d.]+) \| silence_duration/g)].map(m => Number(m[1]));
	return { flashes, beeps };
}

module.exports = { ffmpegProducers, probe, decode, onsets, lossyRelay, run };
