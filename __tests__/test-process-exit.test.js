'use strict';
// Node must exit by itself once every worker is closed: no thread or callback keeps it alive.
const path = require('node:path');
const { spawnSync } = require('node:child_process');

test('a process that creates and closes workers exits on its own', () => {
	const script = `
		const ms = require(${JSON.stringify(path.join(__dirname, '..'))});
		(async () => {
			const workers = await Promise.all([ms.createWorker(), ms.createWorker(), ms.createWorker()]);
			const router = await workers[0].createRouter();
			await router.createWebRtcTransport({ listenIps: ['127.0.0.1'], enableTcp: true });
			await router.createPlainTransport({ listenIp: '127.0.0.1' });
			for (const w of workers) w.close();
			console.log('closed');
		})();
	`;
	const started = Date.now();
	const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20000 });
	expect(r.error).toBeUndefined();
	expect(r.signal).toBeNull();
	expect(r.status).toBe(0);
	expect(r.stdout.trim()).toBe('closed');
	expect(Date.now() - started).toBeLessThan(20000);
});

test('a process with an open worker stays alive until the worker is closed', () => {
	const script = `
		const ms = require(${JSON.stringify(path.join(__dirname, '..'))});
		ms.createWorker().then(w => {
			setTimeout(() => { console.log('closing'); w.close(); }, 500);
		});
	`;
	const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20000 });
	expect(r.status).toBe(0);
	expect(r.stdout.trim()).toBe('closing');
});
