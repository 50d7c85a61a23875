'use strict';
// An end-to-end encrypted call between Debian's Firefox ESR and Chromium through the SFU,
// both with the kit (peerwave-sfu/e2ee, SFrame): Chromium sends VP8 simulcast and Opus,
// Firefox sends VP8 and Opus; each decodes the other's picture and hears the other, through
// its kit's decryption (Firefox: RTCRtpScriptTransform; Chromium: createEncodedStreams), and
// both pages show the same security code.
const crypto = require('node:crypto');
const mediasoup = require('../');
const { mediaCodecs } = require('./helpers/media');
const { startPageServer, launchBrowser, openPeer, waitFor, SIMULCAST_ENCODINGS } = require('./helpers/e2e');
const { firefoxPeer } = require('./helpers/firefox');

test('Firefox ESR ↔ Chromium, both encrypted with the kit, through the SFU', async () => {
	const worker = await mediasoup.createWorker();
	const router = await worker.createRouter({ mediaCodecs });
	const kc = crypto.randomBytes(32).toString('hex');
	const kf = crypto.randomBytes(32).toString('hex');
	const keys = [
		[0x100, kc],
		[0x200, kf],
	];
	const ff = firefoxPeer(router, { e2ee: { options: { format: 'sframe' }, keys, sendKid: 0x200 }, produce: { videoCodec: 'video/VP8' } });
	const pages = await startPageServer({ rpc: (type, data) => ff.rpc(type, data) });
	const browser = await launchBrowser();
	let ch;
	try {
		ff.launch(pages.url);
		ch = await openPeer(browser, pages.url, router, undefined, { e2ee: true });
		const chCode = await ch.e2ee({ options: { format: 'sframe' }, keys, sendKid: 0x100 });
		await ch.produce({ videoCodec: 'video/VP8', width: 1280, height: 720, encodings: SIMULCAST_ENCODINGS });
		const ready = await Promise.race([ff.ready, new Promise((_, rej) => setTimeout(() => rej(new Error(`Firefox not ready in 30 s: ${JSON.stringify(ff.logs)}`)), 30000))]);
		expect(ready.code).toBe(chCode);
		const chConsumers = [];
		for (const p of ff.producers) {
			expect(p.e2ee).toBe('whole-frame');
			chConsumers.push(await ch.consume(p));
		}
		const chVideo = ch.producers.find(p => p.kind === 'video');
		const chAudio = ch.producers.find(p => p.kind === 'audio');
		const ffConsumer = await ff.consume(chVideo);
		await ff.consume(chAudio);

		const chSees = await waitFor(async () => {
			const s = await ch.receiveStats();
			return s.framesDecoded > 10 && s.totalSamplesReceived > 0 ? s : null;
		}, 20000);
		const ffSees = await waitFor(async () => {
			const r = await ff.report();
			return r.receive.framesDecoded > 10 && r.receive.totalSamplesReceived > 0 ? r : null;
		}, 20000);
		const server = async () =>
			JSON.stringify({ ch: await ch.receiveStats(), chKit: await ch.e2eeStats(), ff: await ff.report(), ffConsumer: await ffConsumer.getStats(), ffProducers: await Promise.all(ff.producers.map(p => p.getStats())), chConsumers: await Promise.all(chConsumers.map(c => c.getStats())), ffSend: { ice: ff.send?.iceState, dtls: ff.send?.dtlsState, tuple: ff.send?.iceSelectedTuple }, logs: ff.logs });
		if (!chSees || !ffSees) {
			throw new Error(`no two-way encrypted call: ${await server()}`);
		}
		// Both decoded through their kits: frames opened, none failed to.
		const chKit = await ch.e2eeStats();
		expect(chKit.decrypted).toBeGreaterThan(0);
		expect(chKit.encrypted).toBeGreaterThan(0);
		expect(ffSees.e2ee.decrypted).toBeGreaterThan(0);
		expect(ffSees.e2ee.encrypted).toBeGreaterThan(0);
		expect(chKit.failed).toBe(0);
		expect(ffSees.e2ee.failed).toBe(0);
		console.log(`[e2ee firefox] ${ff.logs[0]}: Chromium decoded ${chSees.framesDecoded} frames ${chSees.frameWidth} px wide from Firefox, Firefox ${ffSees.receive.framesDecoded} frames ${ffSees.receive.frameWidth} px wide from Chromium; kits ${JSON.stringify({ chromium: chKit, firefox: ffSees.e2ee })}`);
	} finally {
		await ff.close();
		await ch?.close();
		await browser.close();
		pages.server.close();
		worker.close();
	}
}, 90000);
