'use strict';
// `npm run demo` end to end, as a user tries it: start the demo server, open one room in three
// Chromium pages (each with its own generated camera colour) and use the page's controls:
// pictures decoded and matching their sources, a screen share, the active speaker following
// the one unmuted microphone, a 10 s recording (read back with ffprobe and played in the page),
// then end-to-end encryption turned on: the pages decode each other and recording is off.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { launchBrowser, waitFor } = require('./helpers/e2e');
const { probe, decode } = require('./helpers/ffmpeg');

jest.setTimeout(180000);

let server;
let browser;
let serverLog = '';
const recordings = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-demo-rec-'));

afterAll(async () => {
	await browser?.close();
	server?.kill('SIGTERM');
	fs.rmSync(recordings, { recursive: true, force: true });
});

const HUES = { A: 0, B: 120, C: 240 };

async function startDemo() {
	server = spawn(process.execPath, [path.join(__dirname, '..', 'demo', 'server.js')], {
		env: { ...process.env, PORT: '0', RECORDINGS_DIR: recordings },
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	server.stderr.on('data', d => (serverLog += d));
	return new Promise((resolve, reject) => {
		let out = '';
		server.stdout.on('data', d => {
			out += d;
			serverLog += d;
			const m = /listening on (http:\/\/\S+)/.exec(out);
			if (m) resolve(m[1]);
		});
		server.once('exit', code => reject(new Error(`demo exited with ${code}: ${serverLog}`)));
	});
}

const info = page => page.evaluate(() => window.demo.info());
const distance = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);

async function explain(pages) {
	for (const [name, page] of Object.entries(pages)) {
		console.log(name, JSON.stringify(await info(page).catch(e => e.message)), await page.textContent('#status').catch(() => ''));
	}
	console.log('server log:', serverLog.slice(-3000));
}

/** Every page decodes both others' cameras, each picture the colour its sender sends. */
async function expectPictures(pages, ids) {
	for (const [name, page] of Object.entries(pages)) {
		const ok = await waitFor(async () => {
			const i = await info(page);
			const remote = i.tiles.filter(t => !t.local && t.key.endsWith(':camera') && t.width > 0);
			if (remote.length !== 2) return false;
			for (const [other, id] of Object.entries(ids)) {
				if (other === name) continue;
				const seen = await page.evaluate(k => window.demo.color(k), `${id}:camera`);
				const sent = await pages[other].evaluate(k => window.demo.color(k), `${id}:camera`);
				if (!seen || !sent || distance(seen, sent) > 60) return false;
			}
			return true;
		}, 30000);
		if (!ok) await explain(pages);
		expect({ page: name, pictures: ok }).toEqual({ page: name, pictures: true });
	}
}

test('three pages in one room: pictures, screen share, active speaker, recording, then E2EE', async () => {
	const url = await startDemo();
	browser = await launchBrowser(['--auto-select-desktop-capture-source=Entire screen']);
	const room = `room-${process.pid}`;
	const pages = {};
	for (const name of Object.keys(HUES)) {
		const page = await (await browser.newContext()).newPage();
		page.on('pageerror', e => console.log(`${name} pageerror: ${e.message}`));
		await page.goto(`${url}/${room}?name=${name}&camera=pattern&hue=${HUES[name]}`);
		pages[name] = page;
	}
	const ids = {};
	for (const [name, page] of Object.entries(pages)) {
		await waitFor(async () => (await page.textContent('#status')).startsWith('joined'), 20000);
		ids[name] = (await info(page)).peerId;
	}

	// Pictures, with each tile's decoded size and bitrate shown.
	await expectPictures(pages, ids);
	const tiles = await waitFor(async () => {
		const t = (await info(pages.A)).tiles.filter(x => !x.local && x.kbps > 0);
		return t.length === 2 ? t : null;
	}, 15000);
	expect(tiles).toBeTruthy();
	expect(await pages.A.$$eval('figcaption .info', els => els.map(e => e.textContent))).toEqual(
		expect.arrayContaining([expect.stringMatching(/^\d+×\d+ · \d+ kbit\/s$/)])
	);

	// Screen share from A appears on B and C.
	await pages.A.click('#share');
	for (const name of ['B', 'C']) {
		const shown = await waitFor(async () => (await info(pages[name])).tiles.find(t => t.key === `${ids.A}:screen` && t.width > 0), 20000);
		if (!shown) await explain(pages);
		expect(shown).toBeTruthy();
	}
	await pages.A.click('#share');
	for (const name of ['B', 'C']) {
		expect(await waitFor(async () => !(await info(pages[name])).tiles.some(t => t.key === `${ids.A}:screen`), 10000)).toBe(true);
	}

	// Active speaker: only A's microphone on, then only B's.
	await pages.B.click('#mute');
	await pages.C.click('#mute');
	for (const [speaker, quiet] of [['A', 'B'], ['B', 'A']]) {
		if (speaker === 'B') {
			await pages.A.click('#mute');
			await pages.B.click('#mute');
		}
		for (const name of Object.keys(pages)) {
			const followed = await waitFor(async () => {
				const i = await info(pages[name]);
				return i.activeSpeaker === ids[speaker] && i.tiles.find(t => t.key === `${ids[speaker]}:camera`)?.speaking;
			}, 15000);
			if (!followed) await explain(pages);
			expect({ page: name, speaker, followed: Boolean(followed) }).toEqual({ page: name, speaker, followed: true });
		}
		expect(quiet).not.toBe(speaker);
	}

	// A 10 s recording of the room: one file per participant, each with its video and audio.
	expect((await info(pages.B)).recordDisabled).toBe(false);
	await pages.A.click('#record');
	await waitFor(async () => (await info(pages.C)).recording, 5000);
	await new Promise(r => setTimeout(r, 10000));
	await pages.A.click('#record');
	const listed = await waitFor(async () => {
		const i = await info(pages.B);
		return i.recordings.length === 3 ? i.recordings : null;
	}, 15000);
	if (!listed) await explain(pages);
	expect(listed).toHaveLength(3);
	const fileA = fs.readdirSync(recordings).find(f => f.endsWith('-A.webm'));
	const p = await probe(path.join(recordings, fileA));
	const d = await decode(path.join(recordings, fileA));
	console.log('demo recording', fileA, p.format.duration, p.streams.map(s => s.codec_name), { videoFrames: d.videoFrames, errors: d.errors.length });
	expect(Number(p.format.duration)).toBeGreaterThanOrEqual(9);
	expect(Number(p.format.duration)).toBeLessThanOrEqual(11);
	expect(p.streams.map(s => s.codec_type).sort()).toEqual(['audio', 'video']);
	expect(d.errors).toEqual([]);
	expect(d.videoFrames).toBeGreaterThan(9 * 15);
	// The page plays it back.
	const played = await pages.C.evaluate(async () => {
		const v = document.querySelector('#recordings video');
		v.muted = true;
		await v.play();
		await new Promise(r => setTimeout(r, 1500));
		return { duration: v.duration, currentTime: v.currentTime, width: v.videoWidth, error: v.error?.message ?? null };
	});
	console.log('played back in the page:', played);
	expect(played.error).toBeNull();
	expect(played.currentTime).toBeGreaterThan(0.5);
	expect(played.width).toBeGreaterThan(0);

	// End-to-end encryption on: every page rejoins encrypted, gets the room key from A's page.
	await pages.A.click('#e2ee');
	for (const [name, page] of Object.entries(pages)) {
		const on = await waitFor(async () => {
			const i = await info(page).catch(() => null);
			return i?.e2ee && i.code ? i : null;
		}, 30000);
		if (!on) await explain(pages);
		expect({ page: name, e2ee: Boolean(on) }).toEqual({ page: name, e2ee: true });
		expect(on.recordDisabled).toBe(true);
		expect(await page.textContent('#record-note')).toMatch(/end-to-end encrypted/);
	}
	for (const [name, page] of Object.entries(pages)) {
		ids[name] = (await info(page)).peerId;
	}
	await expectPictures(pages, ids);
	const codes = await Promise.all(Object.values(pages).map(async page => (await info(page)).code));
	expect(new Set(codes).size).toBe(1);
	for (const page of Object.values(pages)) {
		const k = (await info(page)).kit;
		expect(k.encrypted).toBeGreaterThan(0);
		expect(k.decrypted).toBeGreaterThan(0);
	}
	// The server refuses to record an encrypted room, whatever a page asks.
	const refused = await pages.B.evaluate(async () => {
		document.getElementById('record').disabled = false;
		document.getElementById('record').click();
		await new Promise(r => setTimeout(r, 1000));
		return document.getElementById('status').textContent;
	});
	expect(refused).toMatch(/recording is off while the room is end-to-end encrypted/);
});
