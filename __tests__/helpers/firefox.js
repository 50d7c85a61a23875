'use strict';
// Debian's Firefox ESR as a call peer. playwright-core drives only its own patched Firefox,
// so this one drives itself: started headless on a fresh profile (fake camera and
// microphone, loopback ICE candidates allowed), it loads the page server's /remote.html
// (fixtures/remote-peer.js), which asks this side what to do through POST /rpc.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');

const FIREFOX = process.env.FIREFOX_PATH || '/usr/bin/firefox-esr';

const PREFS = {
	'media.navigator.streams.fake': true,
	'media.navigator.permission.disabled': true,
	// Firefox leaves loopback addresses out of its ICE candidates unless told (as Chromium).
	'media.peerconnection.ice.loopback': true,
	'browser.shell.checkDefaultBrowser': false,
	'app.update.disabledForTesting': true,
	'datareporting.policy.dataSubmissionEnabled': false,
	'toolkit.telemetry.reportingpolicy.firstRun': false,
	'network.connectivity-service.enabled': false,
	'browser.aboutwelcome.enabled': false,
};

/**
 * An IPv4 address of this machine other than loopback. Measured with Firefox ESR 153: it
 * gathers no candidate on the loopback interface (even with media.peerconnection.ice.loopback)
 * and never pairs its other candidates with a loopback one, so the SFU's transports for
 * Firefox listen on the machine's own address (the packets still never leave the machine).
 */
function hostAddress() {
	for (const list of Object.values(os.networkInterfaces())) {
		for (const a of list ?? []) {
			if (a.family === 'IPv4' && !a.internal) {
				return a.address;
			}
		}
	}
	throw new Error('Firefox needs a non-loopback IPv4 address on this machine (it does not use loopback ICE candidates)');
}

/**
 * The server side of a Firefox peer on `router`: `rpc` answers its page; `launch(url)` starts
 * Firefox on the page server at `url`; `ready` resolves with { ids, code, rtpCapabilities }
 * once it produced; `consume(producer)`, `receiveStats()` and `close()` as openPeer's.
 * `e2ee`: the kit's settings for the page ({ options, keys, sendKid }); `produce`: pw.produce's.
 */
function firefoxPeer(router, { e2ee, produce } = {}) {
	const transports = new Map();
	const producers = [];
	const queue = [];
	const waiting = new Map();
	const logs = [];
	let send, recv, proc, profile, failed;
	let readyResolve, readyReject;
	const ready = new Promise((res, rej) => {
		readyResolve = res;
		readyReject = rej;
	});
	const wait = key =>
		new Promise((resolve, reject) => {
			if (failed) {
				reject(failed);
				return;
			}
			waiting.set(key, { resolve, reject });
		});
	const settle = (key, value) => {
		waiting.get(key)?.resolve(value);
		waiting.delete(key);
	};
	const params = t => ({ id: t.id, iceParameters: t.iceParameters, iceCandidates: t.iceCandidates, dtlsParameters: t.dtlsParameters });
	const peer = {
		producers,
		logs,
		ready,
		get send() {
			return send;
		},
		get recv() {
			return recv;
		},
		async rpc(type, data) {
			switch (type) {
				case 'hello': {
					logs.push(data.userAgent);
					const opts = { listenInfos: [{ protocol: 'udp', ip: hostAddress() }] };
					send = await router.createWebRtcTransport(opts);
					recv = await router.createWebRtcTransport(opts);
					transports.set(send.id, send);
					transports.set(recv.id, recv);
					return { routerRtpCapabilities: router.rtpCapabilities, send: params(send), recv: params(recv), e2ee, produce };
				}
				case 'signal': {
					const t = transports.get(data.data.transportId);
					if (data.type === 'connect') {
						await t.connect({ dtlsParameters: data.data.dtlsParameters });
						return null;
					}
					if (data.type === 'produce') {
						const p = await t.produce({ kind: data.data.kind, rtpParameters: data.data.rtpParameters, e2ee: data.data.appData?.e2ee });
						producers.push(p);
						return { id: p.id };
					}
					throw new Error(`unknown signal ${data.type}`);
				}
				case 'ready':
					peer.rtpCapabilities = data.rtpCapabilities;
					readyResolve(data);
					return null;
				case 'poll':
					return queue.shift() ?? null;
				case 'consumed':
					settle(`consumed:${data.id}`);
					return null;
				case 'report':
					settle('report', data);
					return null;
				case 'log':
					logs.push(data.msg);
					return null;
				case 'error':
					failed = new Error(`Firefox page: ${data.message}`);
					readyReject(failed);
					for (const w of waiting.values()) {
						w.reject(failed);
					}
					waiting.clear();
					return null;
				default:
					throw new Error(`unknown rpc ${type}`);
			}
		},
		launch(url) {
			if (!fs.existsSync(FIREFOX)) {
				throw new Error(`Firefox not found at ${FIREFOX} (apt-get install firefox-esr, or set FIREFOX_PATH)`);
			}
			profile = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-firefox-'));
			fs.writeFileSync(path.join(profile, 'user.js'), Object.entries(PREFS).map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});`).join('\n'));
			const debugLog = process.env.PW_FIREFOX_LOG; // a file for Firefox's own logs (MOZ_LOG) when debugging
			proc = spawn(FIREFOX, ['--headless', '--no-remote', '--profile', profile, `${url}remote.html`], {
				stdio: ['ignore', debugLog ? fs.openSync(debugLog, 'w') : 'ignore', debugLog ? fs.openSync(`${debugLog}.err`, 'w') : 'ignore'],
				env: debugLog ? { ...process.env, MOZ_LOG: 'nICEr:5,signaling:5', R_LOG_LEVEL: '7', R_LOG_DESTINATION: 'stderr' } : process.env,
			});
		},
		async consume(producer) {
			const consumer = await recv.consume({ producerId: producer.id, rtpCapabilities: peer.rtpCapabilities, paused: true });
			const acked = wait(`consumed:${consumer.id}`);
			queue.push({ consume: { id: consumer.id, producerId: producer.id, kind: consumer.kind, rtpParameters: consumer.rtpParameters } });
			await acked;
			await consumer.resume();
			return consumer;
		},
		async report() {
			const r = wait('report');
			queue.push({ report: true });
			return r;
		},
		async close() {
			queue.push({ done: true });
			if (proc && proc.exitCode === null) {
				const exited = new Promise(r => proc.once('exit', r));
				proc.kill('SIGTERM');
				await Promise.race([exited, new Promise(r => setTimeout(r, 3000))]);
			}
			if (profile) {
				fs.rmSync(profile, { recursive: true, force: true });
			}
		},
	};
	return peer;
}

module.exports = { firefoxPeer };
