'use strict';
// `npm run bench`: side-by-side forwarding measurements. The SFU under test is any module with
// mediasoup's API: this package by default, or SFU_MODULE=/abs/path (or --module PATH), e.g.
// the real `mediasoup` package where its worker binary exists. Figures come from the Rust load
// generator (bench/loadgen) and from the worker's own CPU time (getResourceUsage), and are set
// against two raw relays (no SFU logic) measured in the same run.
//
//   npm run bench -- --quick [--json FILE]
//
// This first version measures plain-RTP fan-out (one producer → K consumers) at fixed rates;
// knee search, WebRTC clients, N×N rooms and the control plane are still to come.
const path = require('node:path');
const fs = require('node:fs');
const os = require('node:os');
const { spawn } = require('node:child_process');
const readline = require('node:readline');

const args = process.argv.slice(2);
const opt = name => {
	const i = args.indexOf(name);
	return i >= 0 ? args[i + 1] : undefined;
};
const quick = args.includes('--quick');
const modulePath = opt('--module') ?? process.env.SFU_MODULE ?? path.join(__dirname, '..');
const jsonFile = opt('--json');
const LOADGEN = path.join(__dirname, 'loadgen', 'target', 'release', 'peerwave-loadgen');
const SIZE = 1000;
const SECONDS = quick ? 3 : 8;
const FANOUTS = quick ? [1, 10] : [1, 10, 50];
const RATE_OUT = quick ? 50000 : 100000; // forwarded packets/s the scenarios aim at

/** A loadgen child with a line reader. */
function child(argv) {
	const p = spawn(LOADGEN, argv, { stdio: ['pipe', 'pipe', 'inherit'] });
	const lines = [];
	const waiters = [];
	readline.createInterface({ input: p.stdout }).on('line', l => {
		const w = waiters.shift();
		if (w) w(l);
		else lines.push(l);
	});
	return {
		p,
		next: () => (lines.length ? Promise.resolve(lines.shift()) : new Promise(r => waiters.push(r))),
		send: l => p.stdin.write(`${l}\n`),
		end: () => p.stdin.end(),
	};
}

async function sfuScenario(sfu, K) {
	const worker = await sfu.createWorker({ logLevel: 'none' });
	const router = await worker.createRouter({
		mediaCodecs: [{ kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 }],
	});
	const tIn = await router.createPlainTransport({ listenIp: '127.0.0.1', comedia: true, rtcpMux: true });
	const producer = await tIn.produce({
		kind: 'audio',
		rtpParameters: { codecs: [{ mimeType: 'audio/opus', payloadType: 96, clockRate: 48000, channels: 2 }], encodings: [{ ssrc: 1 }] },
	});
	const gen = child(['gen', '--receivers', String(K)]);
	const ports = (await gen.next()).replace('ports ', '').split(',').map(Number);
	for (const port of ports) {
		const t = await router.createPlainTransport({ listenIp: '127.0.0.1', rtcpMux: true });
		await t.connect({ ip: '127.0.0.1', port });
		await t.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
	}
	const rateIn = Math.round(RATE_OUT / K);
	const cpu0 = await worker.getResourceUsage();
	gen.send(`go 127.0.0.1:${tIn.tuple.localPort} ${rateIn} ${SECONDS} ${SIZE}`);
	const res = JSON.parse(await gen.next());
	const cpu1 = await worker.getResourceUsage();
	worker.close();
	const cpuMs = cpu1.ru_utime + cpu1.ru_stime - (cpu0.ru_utime + cpu0.ru_stime);
	const forwarded = res.received.reduce((a, b) => a + b, 0);
	return {
		name: `one→${K} plain`,
		transport: 'plain',
		K,
		N: 1,
		inPps: Math.round(res.sent / res.sendSeconds),
		outPps: Math.round(forwarded / res.sendSeconds),
		lossPct: (100 * res.maxLossPerReceiver) / res.sent,
		workerCpuPct: (100 * cpuMs) / 1000 / res.sendSeconds,
		cpuUsPerPacket: (cpuMs * 1000) / Math.max(1, forwarded),
		p50us: res.p50us,
		p99us: res.p99us,
	};
}

async function relayScenario(K, batched) {
	const relay = child(['relay', '--outputs', String(K), '--batched', batched ? '1' : '0']);
	const port = Number((await relay.next()).replace('port ', ''));
	const gen = child(['gen', '--receivers', String(K)]);
	const ports = (await gen.next()).replace('ports ', '').split(',');
	relay.send(`go ${ports.map(p => `127.0.0.1:${p}`).join(',')}`);
	gen.send(`go 127.0.0.1:${port} ${Math.round(RATE_OUT / K)} ${SECONDS} ${SIZE}`);
	const res = JSON.parse(await gen.next());
	relay.end();
	const r = JSON.parse(await relay.next());
	const forwarded = res.received.reduce((a, b) => a + b, 0);
	return {
		kind: batched ? 'batched' : 'naive',
		K,
		outPps: Math.round(forwarded / res.sendSeconds),
		lossPct: (100 * res.maxLossPerReceiver) / res.sent,
		cpuUsPerPacket: r.cpuUs / Math.max(1, r.forwarded),
	};
}

/** Control plane: createWorker time; transports (create + connect) and consumers per second. */
async function controlPlane(sfu) {
	const t0 = process.hrtime.bigint();
	const worker = await sfu.createWorker({ logLevel: 'none' });
	const createWorkerMs = Number(process.hrtime.bigint() - t0) / 1e6;
	const router = await worker.createRouter({
		mediaCodecs: [{ kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 }],
	});
	const producerTransport = await router.createPlainTransport({ listenIp: '127.0.0.1', comedia: true });
	const producer = await producerTransport.produce({
		kind: 'audio',
		rtpParameters: { codecs: [{ mimeType: 'audio/opus', payloadType: 96, clockRate: 48000, channels: 2 }], encodings: [{ ssrc: 1 }] },
	});
	const n = quick ? 200 : 1000;
	const dtlsParameters = { role: 'client', fingerprints: [{ algorithm: 'sha-256', value: 'AA:BB' }] };
	let t = process.hrtime.bigint();
	const transports = [];
	for (let i = 0; i < n; i++) {
		const tr = await router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }] });
		await tr.connect({ dtlsParameters });
		transports.push(tr);
	}
	const transportsPerSec = n / (Number(process.hrtime.bigint() - t) / 1e9);
	t = process.hrtime.bigint();
	for (const tr of transports) {
		await tr.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
	}
	const consumesPerSec = n / (Number(process.hrtime.bigint() - t) / 1e9);
	worker.close();
	return { createWorkerMs, transportsPerSec, consumesPerSec };
}

async function main() {
	if (!fs.existsSync(LOADGEN)) {
		throw new Error('bench/loadgen is not built: run `npm run bench` (it builds it first)');
	}
	const sfu = require(modulePath);
	const scenarios = [];
	const relays = [];
	for (const K of FANOUTS) {
		relays.push(await relayScenario(K, false));
		relays.push(await relayScenario(K, true));
		scenarios.push(await sfuScenario(sfu, K));
	}
	const batched = K => relays.find(r => r.K === K && r.kind === 'batched');
	const f = (n, d = 2) => Number(n).toFixed(d);
	console.log(`module: ${modulePath}  (${os.cpus().length} cores, ${os.cpus()[0]?.model ?? '?'})`);
	console.log(`packets of ${SIZE} B, ${SECONDS} s per scenario, aiming at ${RATE_OUT} forwarded packets/s\n`);
	console.log('scenario        out pkt/s  loss %  worker CPU %  µs/pkt  × batched relay  p50 µs  p99 µs');
	for (const s of scenarios) {
		const ratio = s.cpuUsPerPacket / batched(s.K).cpuUsPerPacket;
		console.log(
			`${s.name.padEnd(14)} ${String(s.outPps).padStart(10)} ${f(s.lossPct).padStart(7)} ${f(s.workerCpuPct, 1).padStart(13)} ${f(s.cpuUsPerPacket).padStart(7)} ${f(ratio).padStart(16)} ${String(s.p50us).padStart(7)} ${String(s.p99us).padStart(7)}`
		);
	}
	console.log('\nrelay (no SFU)  out pkt/s  loss %  µs/pkt');
	for (const r of relays) {
		console.log(`${`${r.kind} K=${r.K}`.padEnd(14)} ${String(r.outPps).padStart(10)} ${f(r.lossPct).padStart(7)} ${f(r.cpuUsPerPacket).padStart(7)}`);
	}
		const cp = await controlPlane(sfu);
	console.log(
		`\ncontrol plane: createWorker ${f(cp.createWorkerMs, 1)} ms, ${f(cp.transportsPerSec, 0)} WebRtcTransports (create + connect)/s, ${f(cp.consumesPerSec, 0)} consumes/s`
	);
	const result = {
		module: modulePath,
		controlPlane: cp,
		machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model, date: new Date().toISOString() },
		scenarios,
		relay: relays,
	};
	if (jsonFile) {
		fs.writeFileSync(jsonFile, JSON.stringify(result, null, 2));
	}
}

main().catch(error => {
	console.error(error);
	process.exit(1);
});
