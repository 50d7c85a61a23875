'use strict';
// Run by test-e2e-bwe.test.js inside its own network namespace (`unshare --net`), where tc may
// shape the loopback interface without touching the machine. A sends three VP8 simulcast
// encodings; B and C consume them. Once both decode the top layer, the SFU's packets to C alone
// (its receive transport's UDP port as source) go through a 300 kbit/s HTB class with a 30 kB
// queue: C's consumer must move down while B's stays at the top; when the cap is lifted C must
// come back up. Prints one JSON line with what it saw; exits non-zero on failure.
const { execFileSync } = require('node:child_process');
const mediasoup = require('../..');
const { mediaCodecs } = require('../helpers/media');
const { startPageServer, launchBrowser, openPeer, waitFor, SIMULCAST_ENCODINGS } = require('../helpers/e2e');

const tc = (...args) => execFileSync('tc', args, { stdio: 'pipe' });

async function main() {
	execFileSync('ip', ['link', 'set', 'lo', 'up']);
	const worker = await mediasoup.createWorker();
	const pages = await startPageServer();
	const browser = await launchBrowser();
	const seen = { events: [] };
	const t0 = Date.now();
	const note = (what, extra = {}) => seen.events.push({ t: Date.now() - t0, what, ...extra });
	let a, b, c, cb, cc;
	const view = async () => ({
		b: await b?.receiveStats(),
		c: await c?.receiveStats(),
		bLayers: cb?.currentLayers,
		cLayers: cc?.currentLayers,
		cStats: await cc?.getStats(),
		cTransport: await c?.recv.getStats(),
	});
	try {
		const router = await worker.createRouter({ mediaCodecs });
		a = await openPeer(browser, pages.url, router);
		b = await openPeer(browser, pages.url, router);
		c = await openPeer(browser, pages.url, router);
		await a.produce({
			audio: false,
			videoCodec: 'video/VP8',
			width: 1280,
			height: 720,
			encodings: SIMULCAST_ENCODINGS,
		});
		const producer = a.producers.find(p => p.kind === 'video');
		cb = await b.consume(producer);
		cc = await c.consume(producer);
		await c.recv.enableTraceEvent(['bwe']);
		c.recv.on('trace', tr => {
			if (process.env.BWE_TRACE) note('C bwe', { available: tr.info.availableBitrate, desired: tr.info.desiredBitrate });
		});
		for (const [name, consumer] of [['B', cb], ['C', cc]]) {
			consumer.on('layerschange', l => note(`${name} layers`, { spatialLayer: l?.spatialLayer ?? null }));
		}
		const top = await waitFor(async () => (await b.receiveStats()).frameWidth === 1280 && (await c.receiveStats()).frameWidth === 1280, 30000);
		if (!top) {
			throw new Error(`B and C never both decoded 1280 wide: ${JSON.stringify(await view())}`);
		}
		note('both at the top layer');
		const port = c.recv.iceCandidates[0].port;
		tc('qdisc', 'add', 'dev', 'lo', 'root', 'handle', '1:', 'htb', 'default', '10');
		tc('class', 'add', 'dev', 'lo', 'parent', '1:', 'classid', '1:10', 'htb', 'rate', '10gbit');
		tc('class', 'add', 'dev', 'lo', 'parent', '1:', 'classid', '1:20', 'htb', 'rate', '300kbit', 'ceil', '300kbit');
		tc('qdisc', 'add', 'dev', 'lo', 'parent', '1:20', 'handle', '20:', 'bfifo', 'limit', '30000');
		tc('filter', 'add', 'dev', 'lo', 'parent', '1:', 'protocol', 'ip', 'u32', 'match', 'ip', 'sport', String(port), '0xffff', 'flowid', '1:20');
		note('C capped at 300 kbit/s', { port });
		const down = await waitFor(async () => cc.currentLayers && cc.currentLayers.spatialLayer < 2, 15000);
		if (!down) {
			throw new Error(`C stayed at the top layer under the cap: ${JSON.stringify(await view())}`);
		}
		note('C moved down', { layers: cc.currentLayers, estimate: (await c.recv.getStats())[0].availableOutgoingBitrate });
		// C keeps decoding on the lower layer; B is untouched.
		const capped = Date.now();
		while (Date.now() - capped < 5000) {
			if (cc.currentLayers?.spatialLayer === 2) {
				throw new Error(`C went back up under the cap: ${JSON.stringify(await view())}`);
			}
			await new Promise(r => setTimeout(r, 100));
		}
		const under = await view();
		note('under the cap', { bWidth: under.b.frameWidth, cWidth: under.c.frameWidth, bLayers: under.bLayers, cLayers: under.cLayers, estimate: under.cTransport[0].availableOutgoingBitrate, bEstimate: (await b.recv.getStats())[0].availableOutgoingBitrate });
		if (under.bLayers?.spatialLayer !== 2 || under.b.frameWidth !== 1280) {
			throw new Error(`B left the top layer while only C was capped: ${JSON.stringify(under)}`);
		}
		if (!(under.cLayers?.spatialLayer < 2) || under.c.frameWidth >= 1280) {
			throw new Error(`C went back up under the cap: ${JSON.stringify(under)}`);
		}
		const before = under.c.framesDecoded;
		await new Promise(r => setTimeout(r, 2000));
		const decoded = (await c.receiveStats()).framesDecoded - before;
		if (decoded < 20) {
			throw new Error(`C froze under the cap (${decoded} frames in 2 s): ${JSON.stringify(await view())}`);
		}
		tc('qdisc', 'del', 'dev', 'lo', 'root');
		note('cap lifted');
		const back = await waitFor(async () => cc.currentLayers?.spatialLayer === 2 && (await c.receiveStats()).frameWidth === 1280, 20000);
		if (!back) {
			throw new Error(`C did not come back to the top layer: ${JSON.stringify(await view())}`);
		}
		note('C back at the top layer', { estimate: (await c.recv.getStats())[0].availableOutgoingBitrate });
		if (cb.currentLayers?.spatialLayer !== 2) {
			throw new Error(`B is not at the top layer at the end: ${JSON.stringify(await view())}`);
		}
		console.log(JSON.stringify({ ok: true, ...seen }));
	} catch (e) {
		console.log(JSON.stringify({ ok: false, error: String(e.stack ?? e), ...seen }));
		process.exitCode = 1;
	} finally {
		try {
			tc('qdisc', 'del', 'dev', 'lo', 'root');
		} catch {
			// not shaped (any more)
		}
		for (const p of [a, b, c]) {
			await p?.close();
		}
		await browser.close();
		pages.server.close();
		worker.close();
	}
}

main();
