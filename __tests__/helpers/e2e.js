'use strict';
// Real-peer helpers: a page server for the mediasoup-client bundle, headless Debian Chromium
// driven by playwright-core, and a minimal in-test signaling between pages and routers.
//
// Loopback ICE: Chromium leaves loopback addresses out of its host candidates (RFC 8445
// §5.1.1.1). With an ICE-lite server that does not matter for the server's side, but the
// browser needs a local candidate that can reach 127.0.0.1; the switch
// --allow-loopback-in-peer-connection makes Chromium gather on the loopback interface, so
// every test stays on 127.0.0.1.
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const ROOT = path.join(__dirname, '..', '..');
const BUNDLE = path.join(ROOT, '__tests__', 'fixtures', 'bundle.js');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

function buildBundle() {
	const src = path.join(ROOT, '__tests__', 'fixtures', 'client.js');
	if (fs.existsSync(BUNDLE) && fs.statSync(BUNDLE).mtimeMs >= fs.statSync(src).mtimeMs) {
		return;
	}
	execFileSync(path.join(ROOT, 'node_modules', '.bin', 'esbuild'), [src, '--bundle', '--format=iife', `--outfile=${BUNDLE}`], {
		stdio: 'inherit',
	});
}

/**
 * Serves the test page (`/`), the mediasoup-client bundle and the e2ee kit. With `rpc`, also
 * `/remote.html` — a page that drives itself (`fixtures/remote-peer.js`) for browsers no
 * automation library here can drive (Debian's Firefox ESR) — and `POST /rpc`, answered by
 * `rpc(type, data)` (JSON in, JSON out).
 */
async function startPageServer({ rpc } = {}) {
	buildBundle();
	const html = '<!doctype html><html><head><meta charset="utf-8"></head><body><script src="/bundle.js"></script></body></html>';
	const remote =
		'<!doctype html><html><head><meta charset="utf-8"></head><body><script src="/bundle.js"></script><script src="/remote-peer.js"></script></body></html>';
	const server = http.createServer((req, res) => {
		if (rpc && req.url === '/rpc' && req.method === 'POST') {
			let body = '';
			req.on('data', d => (body += d));
			req.on('end', async () => {
				let out;
				try {
					const { type, data } = JSON.parse(body);
					out = { result: (await rpc(type, data)) ?? null };
				} catch (e) {
					out = { error: String(e?.message ?? e) };
				}
				res.writeHead(200, { 'content-type': 'application/json' });
				res.end(JSON.stringify(out));
			});
			return;
		}
		if (rpc && (req.url === '/remote.html' || req.url === '/remote-peer.js')) {
			const js = req.url.endsWith('.js');
			res.writeHead(200, { 'content-type': js ? 'text/javascript' : 'text/html' });
			res.end(js ? fs.readFileSync(path.join(ROOT, '__tests__', 'fixtures', 'remote-peer.js')) : remote);
			return;
		}
		if (req.url === '/bundle.js') {
			res.writeHead(200, { 'content-type': 'text/javascript' });
			res.end(fs.readFileSync(BUNDLE));
		} else if (/^\/e2ee\/[a-z0-9-]+\.js$/.test(req.url)) {
			// The browser kit peerwave-sfu/e2ee, as an application would serve it.
			res.writeHead(200, { 'content-type': 'text/javascript' });
			res.end(fs.readFileSync(path.join(ROOT, req.url)));
		} else {
			res.writeHead(200, { 'content-type': 'text/html' });
			res.end(html);
		}
	});
	await new Promise(r => server.listen(0, '127.0.0.1', r));
	return { server, url: `http://localhost:${server.address().port}/` };
}

const CHROMIUM_ARGS = [
	'--no-sandbox',
	'--disable-gpu',
	'--disable-quic',
	'--no-first-run',
	'--disable-background-networking',
	'--disable-component-update',
	'--disable-sync',
	'--use-fake-ui-for-media-stream',
	'--use-fake-device-for-media-stream',
	'--allow-loopback-in-peer-connection',
	'--autoplay-policy=no-user-gesture-required',
];

async function launchBrowser(extraArgs = []) {
	const { chromium } = require('playwright-core');
	if (!fs.existsSync(CHROMIUM)) {
		throw new Error(`Chromium not found at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
	}
	return chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, ...extraArgs] });
}

function transportParams(t) {
	return {
		id: t.id,
		iceParameters: t.iceParameters,
		iceCandidates: t.iceCandidates,
		dtlsParameters: t.dtlsParameters,
		sctpParameters: t.sctpParameters,
	};
}

/**
 * A browser peer with a send and a receive WebRtcTransport on `router`; its page's
 * mediasoup-client talks to the router through exposed functions.
 */
async function openPeer(browser, url, router, transportOptions = { listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }] }, { connectDelayMs = 0, e2ee = false, sendCandidates } = {}) {
	const context = await browser.newContext();
	const page = await context.newPage();
	const transports = new Map();
	const producers = [];
	const dataProducers = [];
	const logs = [];
	await page.exposeFunction('pwLog', msg => logs.push(msg));
	await page.exposeFunction('pwSignal', async (type, data) => {
		const transport = transports.get(data.transportId);
		if (type === 'connect') {
			// A slow signaling path: the server learns the DTLS parameters late.
			if (connectDelayMs > 0) {
				await new Promise(r => setTimeout(r, connectDelayMs));
			}
			await transport.connect({ dtlsParameters: data.dtlsParameters });
			return null;
		}
		if (type === 'producedata') {
			const dp = await transport.produceData({ sctpStreamParameters: data.sctpStreamParameters, label: data.label, protocol: data.protocol });
			dataProducers.push(dp);
			return { id: dp.id };
		}
		if (type === 'produce') {
			const producer = await transport.produce({ kind: data.kind, rtpParameters: data.rtpParameters, e2ee: data.appData?.e2ee });
			producers.push(producer);
			return { id: producer.id };
		}
		throw new Error(`unknown signal ${type}`);
	});
	page.on('pageerror', e => logs.push(`pageerror: ${e.message}`));
	await page.goto(url);
	const rtpCapabilities = await page.evaluate(c => window.pw.load(c), router.rtpCapabilities);
	const send = await router.createWebRtcTransport(transportOptions);
	const recv = await router.createWebRtcTransport(transportOptions);
	transports.set(send.id, send);
	transports.set(recv.id, recv);
	// `sendCandidates` may point the send transport's candidates elsewhere (a lossy relay).
	const sendParams = transportParams(send);
	if (sendCandidates) sendParams.iceCandidates = await sendCandidates(sendParams.iceCandidates);
	await page.evaluate(p => window.pw.createSendTransport(p), { ...sendParams, e2ee });
	await page.evaluate(p => window.pw.createRecvTransport(p), { ...transportParams(recv), e2ee });
	return {
		page,
		context,
		send,
		recv,
		producers,
		dataProducers,
		logs,
		rtpCapabilities,
		produce: opts => page.evaluate(o => window.pw.produce(o), opts ?? {}),
		async consume(producer) {
			const consumer = await recv.consume({ producerId: producer.id, rtpCapabilities, paused: true });
			await page.evaluate(c => window.pw.consume(c), {
				id: consumer.id,
				producerId: producer.id,
				kind: consumer.kind,
				rtpParameters: consumer.rtpParameters,
			});
			await consumer.resume();
			return consumer;
		},
		receiveStats: () => page.evaluate(() => window.pw.receiveStats()),
		dtlsStates: () => page.evaluate(() => window.pw.dtlsStates()),
		closeSendTransport: () => page.evaluate(() => window.pw.closeSendTransport()),
		e2ee: opts => page.evaluate(o => window.pw.e2ee(o), opts),
		sendWidths: () => page.evaluate(() => window.pw.sendWidths()),
		framesSent: () => page.evaluate(() => window.pw.framesSent()),
		e2eeStats: () => page.evaluate(() => window.pw.e2eeStats()),
		framesSince: (id, since) => page.evaluate(([i, s]) => window.pw.framesSince(i, s), [id, since]),
		thumbnail: id => page.evaluate(i => window.pw.thumbnail(i), id),
		firstFrames: () => page.evaluate(() => window.pw.firstFrames()),
		close: () => context.close(),
	};
}

/**
 * A suite's shared set-up: registers beforeAll/afterAll that start (and close) a worker of
 * `sfu`, the page server and Chromium (started with `chromiumArgs` too). Returns an object filled in by beforeAll: `worker`,
 * and `openPeer(router, ...)` (openPeer on this browser and page server).
 */
function useBrowserCall(sfu, { chromiumArgs = [] } = {}) {
	const call = {};
	beforeAll(async () => {
		call.worker = await sfu.createWorker();
		call.pages = await startPageServer();
		call.browser = await launchBrowser(chromiumArgs);
	});
	afterAll(async () => {
		await call.browser?.close();
		call.pages?.server.close();
		call.worker?.close();
	});
	call.openPeer = (router, ...rest) => openPeer(call.browser, call.pages.url, router, ...rest);
	return call;
}

/** Three simulcast encodings of a 1280×720 camera: ¼, ½ and full resolution. */
const SIMULCAST_ENCODINGS = [
	{ rid: 'r0', scaleResolutionDownBy: 4, maxBitrate: 150000 },
	{ rid: 'r1', scaleResolutionDownBy: 2, maxBitrate: 500000 },
	{ rid: 'r2', scaleResolutionDownBy: 1, maxBitrate: 1500000 },
];

/** Polls `fn` until it returns a truthy value or `ms` pass; returns the last value. */
async function waitFor(fn, ms, step = 250) {
	const until = Date.now() + ms;
	let v;
	while (Date.now() < until) {
		v = await fn();
		if (v) {
			return v;
		}
		await new Promise(r => setTimeout(r, step));
	}
	return v;
}

module.exports = { startPageServer, launchBrowser, openPeer, useBrowserCall, waitFor, CHROMIUM_ARGS, SIMULCAST_ENCODINGS };
