'use strict';
// `npm run demo` end to end: start the demo server, open it in two Chromium pages, and check
// that each page decodes the other's video and receives its audio.
const path = require('node:path');
const { spawn } = require('node:child_process');
const { launchBrowser, waitFor } = require('./helpers/e2e');

let server;
let browser;

afterAll(async () => {
	await browser?.close();
	server?.kill('SIGTERM');
});

test('two browser pages join the demo room and see and hear each other', async () => {
	server = spawn(process.execPath, [path.join(__dirname, '..', 'demo', 'server.js')], {
		env: { ...process.env, PORT: '0' },
		stdio: ['ignore', 'pipe', 'inherit'],
	});
	const url = await new Promise((resolve, reject) => {
		let out = '';
		server.stdout.on('data', d => {
			out += d;
			const m = /listening on (http:\/\/\S+)/.exec(out);
			if (m) {
				resolve(m[1]);
			}
		});
		server.once('exit', code => reject(new Error(`demo exited with ${code}`)));
	});
	browser = await launchBrowser();
	const pages = [];
	for (let i = 0; i < 2; i++) {
		const page = await (await browser.newContext()).newPage();
		await page.goto(url);
		pages.push(page);
	}
	for (const page of pages) {
		const stats = await waitFor(async () => {
			const s = await page.evaluate(() => window.demoStats());
			return s.framesDecoded > 30 && s.totalSamplesReceived > 0 ? s : null;
		}, 30000);
		if (!stats) {
			console.log("demo page stats:", await page.evaluate(() => window.demoStats()), await page.textContent("#status"));
		}
		expect(stats).toBeTruthy();
		expect(stats.remotes).toBe(1);
		expect(await page.textContent('#status')).toMatch(/joined as peer-/);
	}
});
