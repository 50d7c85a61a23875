'use strict';
const path = require('node:path');
const os = require('node:os');
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');
const mediasoup = require('../');
const { createWorker, observer } = mediasoup;
const { WorkerClosedError, InvalidStateError } = mediasoup.errors;

describe('Worker', () => {
	test('createWorker() succeeds with defaults and emits observer "newworker"', async () => {
		const onNew = jest.fn();
		observer.once('newworker', onNew);
		const worker = await createWorker();
		expect(onNew).toHaveBeenCalledTimes(1);
		expect(onNew).toHaveBeenCalledWith(worker);
		expect(worker.pid).toBe(process.pid);
		expect(worker.closed).toBe(false);
		expect(worker.died).toBe(false);
		expect(worker.subprocessClosed).toBe(false);
		expect(worker.appData).toEqual({});
		worker.close();
		expect(worker.closed).toBe(true);
	});

	test('createWorker() with custom settings and appData', async () => {
		const worker = await createWorker({
			logLevel: 'debug',
			logTags: ['info', 'ice', 'dtls'],
			rtcMinPort: 40000,
			rtcMaxPort: 40010,
			appData: { foo: 'bar' },
		});
		expect(worker.appData).toEqual({ foo: 'bar' });
		const router = await worker.createRouter();
		const t = await router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }] });
		expect(t.iceCandidates[0].port).toBeGreaterThanOrEqual(40000);
		expect(t.iceCandidates[0].port).toBeLessThanOrEqual(40010);
		worker.close();
	});

	test('createWorker() with dtlsCertificateFile and dtlsPrivateKeyFile uses them', async () => {
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-cert-'));
		const cert = path.join(dir, 'cert.pem');
		const key = path.join(dir, 'key.pem');
		execFileSync('openssl', [
			'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
			'-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=pw-test',
		], { stdio: 'ignore' });
		const expected = execFileSync('openssl', ['x509', '-in', cert, '-noout', '-fingerprint', '-sha256'])
			.toString()
			.trim()
			.split('=')[1];
		const worker = await createWorker({ dtlsCertificateFile: cert, dtlsPrivateKeyFile: key });
		const router = await worker.createRouter();
		const t = await router.createWebRtcTransport({ listenIps: ['127.0.0.1'] });
		const fp = t.dtlsParameters.fingerprints.find(f => f.algorithm === 'sha-256');
		expect(fp.value).toBe(expected);
		worker.close();
	});

	test('createWorker() with wrong settings rejects with TypeError', async () => {
		await expect(createWorker({ logLevel: 'chicken' })).rejects.toThrow(TypeError);
		await expect(createWorker({ logTags: ['chicken'] })).rejects.toThrow(TypeError);
		await expect(createWorker({ rtcMinPort: 1000, rtcMaxPort: 999 })).rejects.toThrow(/rtcMinPort/);
		await expect(createWorker({ rtcMinPort: -1 })).rejects.toThrow(TypeError);
		await expect(createWorker({ rtcMaxPort: 70000 })).rejects.toThrow(TypeError);
		await expect(
			createWorker({ dtlsCertificateFile: '/notfound/cert.pem', dtlsPrivateKeyFile: '/notfound/priv.pem' })
		).rejects.toThrow(/dtlsCertificateFile/);
		await expect(createWorker({ appData: 'NOT-AN-OBJECT' })).rejects.toThrow(/appData/);
	});

	test('worker.updateSettings() succeeds, and rejects wrong values with TypeError', async () => {
		const worker = await createWorker();
		await expect(worker.updateSettings({ logLevel: 'debug', logTags: ['ice'] })).resolves.toBeUndefined();
		await expect(worker.updateSettings({ logLevel: 'chicken' })).rejects.toThrow(TypeError);
		worker.close();
		await expect(worker.updateSettings({ logLevel: 'debug' })).rejects.toThrow(WorkerClosedError);
	});

	test('worker.dump() lists routers', async () => {
		const worker = await createWorker();
		const router = await worker.createRouter();
		const dump = await worker.dump();
		expect(dump.pid).toBe(process.pid);
		expect(dump.routerIds).toEqual([router.id]);
		expect(dump.webRtcServerIds).toEqual([]);
		expect(dump.channelMessageHandlers.channelRequestHandlers).toContain(router.id);
		worker.close();
	});

	test('worker.getResourceUsage() reports the worker thread', async () => {
		const worker = await createWorker();
		const usage = await worker.getResourceUsage();
		for (const key of ['ru_utime', 'ru_stime', 'ru_maxrss', 'ru_minflt', 'ru_nvcsw', 'ru_nivcsw']) {
			expect(typeof usage[key]).toBe('number');
		}
		expect(usage.ru_maxrss).toBeGreaterThan(0);
		worker.close();
	});

	test('a closed worker rejects requests with WorkerClosedError (InvalidStateError alias)', async () => {
		const worker = await createWorker();
		const onClose = jest.fn();
		worker.observer.once('close', onClose);
		worker.close();
		expect(onClose).toHaveBeenCalledTimes(1);
		expect(InvalidStateError).toBe(WorkerClosedError);
		await expect(worker.dump()).rejects.toThrow(WorkerClosedError);
		await expect(worker.getResourceUsage()).rejects.toThrow(InvalidStateError);
		await expect(worker.createRouter()).rejects.toThrow(WorkerClosedError);
	});

	test('worker.close() closes routers (workerclose) and emits "subprocessclose" once the thread exits', async () => {
		const worker = await createWorker();
		const router = await worker.createRouter();
		const onWorkerClose = jest.fn();
		router.on('workerclose', onWorkerClose);
		const exited = new Promise(resolve => worker.once('subprocessclose', resolve));
		worker.close();
		expect(onWorkerClose).toHaveBeenCalledTimes(1);
		expect(router.closed).toBe(true);
		await exited;
		expect(worker.subprocessClosed).toBe(true);
	});

	test('a panic in a worker thread emits "died" and leaves Node and other workers running', async () => {
		process.env.PEERWAVE_SFU_ALLOW_CRASH = '1';
		const victim = await createWorker();
		const survivor = await createWorker();
		delete process.env.PEERWAVE_SFU_ALLOW_CRASH;
		const router = await victim.createRouter();
		const onRouterClose = jest.fn();
		router.on('workerclose', onRouterClose);
		const died = new Promise(resolve => victim.once('died', resolve));
		const exited = new Promise(resolve => victim.once('subprocessclose', resolve));
		await expect(victim.crashForTesting()).rejects.toThrow(WorkerClosedError);
		const error = await died;
		await exited;
		expect(error).toBeInstanceOf(Error);
		expect(error.message).toMatch(/crash requested for testing/);
		expect(victim.died).toBe(true);
		expect(victim.closed).toBe(true);
		expect(onRouterClose).toHaveBeenCalledTimes(1);
		// The other worker still works.
		const r2 = await survivor.createRouter();
		expect((await survivor.dump()).routerIds).toEqual([r2.id]);
		survivor.close();
	});

	test('the crash trigger is refused unless PEERWAVE_SFU_ALLOW_CRASH=1', async () => {
		const worker = await createWorker();
		await expect(worker.crashForTesting()).rejects.toThrow(/disabled/);
		expect(worker.died).toBe(false);
		worker.close();
	});
});

test('setLogEventListeners() receives log lines with their namespace', async () => {
	const lines = [];
	mediasoup.setLogEventListeners({ ondebug: (ns, log) => lines.push([ns, log]) });
	const worker = await createWorker();
	worker.close();
	mediasoup.setLogEventListeners();
	expect(lines).toContainEqual(['mediasoup', 'createWorker()']);
	expect(lines).toContainEqual(['mediasoup:Worker', 'close()']);
});

test('worker logLevel / logTags: the worker thread logs what they let through', async () => {
	const { stunBindingRequest } = require('./helpers/media');
	const dgram = require('node:dgram');
	const lines = [];
	mediasoup.setLogEventListeners({
		ondebug: (ns, log) => lines.push(['debug', ns, log]),
		onwarn: (ns, log) => lines.push(['warn', ns, log]),
	});
	const worker = await createWorker({ logLevel: 'debug', logTags: ['ice'] });
	const router = await worker.createRouter();
	const t = await router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }] });
	const sock = dgram.createSocket('udp4');
	await new Promise(r => sock.bind(0, '127.0.0.1', r));
	const { packet } = stunBindingRequest({ username: `${t.iceParameters.usernameFragment}:x`, password: t.iceParameters.password });
	const done = new Promise(r => t.once('icestatechange', r));
	sock.send(packet, t.iceCandidates[0].port, '127.0.0.1');
	await done;
	await new Promise(r => setTimeout(r, 50));
	const ice = lines.find(([, ns, log]) => ns.startsWith('mediasoup:worker[pid:') && log.includes('[ice] ICE state changed to completed'));
	expect(ice).toBeTruthy();
	// Tags filter debug lines: 'dtls' is not enabled.
	await worker.updateSettings({ logLevel: 'debug', logTags: ['dtls'] });
	lines.length = 0;
	await t.restartIce();
	sock.close();
	worker.close();
	mediasoup.setLogEventListeners();
	expect(lines.some(([, ns, log]) => ns.startsWith('mediasoup:worker') && log.includes('[ice]'))).toBe(false);
});
