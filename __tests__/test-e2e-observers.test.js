'use strict';
// Audio levels and dominant speaker from real Opus: Chromium pages send a continuous tone
// (a WAV file as fake microphone) with the ssrc-audio-level extension; muting a track makes
// Chromium send silence frames with level 127.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const mediasoup = require('../');
const { mediaCodecs } = require('./helpers/media');
const { startPageServer, launchBrowser, openPeer, waitFor } = require('./helpers/e2e');

/** 10 s of a 440 Hz tone at about -12 dBFS, 48 kHz mono 16-bit PCM. */
function toneWav(file) {
	const rate = 48000;
	const n = rate * 10;
	const data = Buffer.alloc(n * 2);
	for (let i = 0; i < n; i++) {
		data.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)), i * 2);
	}
	const h = Buffer.alloc(44);
	h.write('RIFF', 0);
	h.writeUInt32LE(36 + data.length, 4);
	h.write('WAVEfmt ', 8);
	h.writeUInt32LE(16, 16);
	h.writeUInt16LE(1, 20);
	h.writeUInt16LE(1, 22);
	h.writeUInt32LE(rate, 24);
	h.writeUInt32LE(rate * 2, 28);
	h.writeUInt16LE(2, 32);
	h.writeUInt16LE(16, 34);
	h.write('data', 36);
	h.writeUInt32LE(data.length, 40);
	fs.writeFileSync(file, Buffer.concat([h, data]));
}

let worker, pages, browser;
beforeAll(async () => {
	const wav = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pw-tone-')), 'tone.wav');
	toneWav(wav);
	worker = await mediasoup.createWorker();
	pages = await startPageServer();
	browser = await launchBrowser([`--use-file-for-fake-audio-capture=${wav}`]);
});
afterAll(async () => {
	await browser?.close();
	pages?.server.close();
	worker?.close();
});

test('AudioLevelObserver reports real Opus levels; ActiveSpeakerObserver follows the speaker', async () => {
	const router = await worker.createRouter({ mediaCodecs });
	const levels = await router.createAudioLevelObserver({ maxEntries: 2, threshold: -70, interval: 250 });
	const speaker = await router.createActiveSpeakerObserver({ interval: 200 });
	const a = await openPeer(browser, pages.url, router);
	const b = await openPeer(browser, pages.url, router);
	try {
		const volumes = [];
		levels.on('volumes', v => volumes.push(v));
		const dominants = [];
		speaker.on('dominantspeaker', d => dominants.push(d.producer.id));

		await a.produce({ audio: true, video: false });
		const pa = a.producers[0];
		expect(pa.rtpParameters.headerExtensions.some(e => e.uri === 'urn:ietf:params:rtp-hdrext:ssrc-audio-level')).toBe(true);
		await levels.addProducer({ producerId: pa.id });
		await speaker.addProducer({ producerId: pa.id });
		await b.page.evaluate(() => window.pw.produce({ audio: true, video: false }));
		const pb = b.producers[0];
		// B is muted: it sends silence while A speaks.
		await b.page.evaluate(() => window.pw.setAudioEnabled(false));
		await levels.addProducer({ producerId: pb.id });
		await speaker.addProducer({ producerId: pb.id });

		expect(await waitFor(() => dominants[0], 10000)).toBe(pa.id);
		expect(await waitFor(() => volumes.find(v => v[0].producer.id === pa.id), 5000)).toBeTruthy();
		const loud = volumes.find(v => v[0].producer.id === pa.id)[0].volume;
		expect(loud).toBeGreaterThan(-40);
		expect(loud).toBeLessThanOrEqual(0);

		// A goes quiet, B speaks: the dominant speaker moves to B.
		await a.page.evaluate(() => window.pw.setAudioEnabled(false));
		await b.page.evaluate(() => window.pw.setAudioEnabled(true));
		expect(await waitFor(() => dominants.includes(pb.id), 10000)).toBe(true);
		expect(dominants.filter(d => d === pb.id)).toHaveLength(1);
	} finally {
		await a.close();
		await b.close();
		router.close();
	}
});
