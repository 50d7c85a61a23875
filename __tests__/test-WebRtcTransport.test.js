'use strict';
const dgram = require('node:dgram');
const net = require('node:net');
const mediasoup = require('../');
const { mediaCodecs, stunBindingRequest, parseStunResponse } = require('./helpers/media');

let worker;
let router;
beforeAll(async () => {
	worker = await mediasoup.createWorker();
	router = await worker.createRouter({ mediaCodecs });
});
afterAll(() => worker.close());

const sleep = ms => new Promise(r => setTimeout(r, ms));

test('createWebRtcTransport() with listenInfos exposes ICE and DTLS parameters', async () => {
	const onNew = jest.fn();
	router.observer.once('newtransport', onNew);
	const t = await router.createWebRtcTransport({
		listenInfos: [
			{ protocol: 'udp', ip: '127.0.0.1', announcedAddress: '9.9.9.1' },
			{ protocol: 'tcp', ip: '127.0.0.1', announcedAddress: '9.9.9.1' },
		],
		appData: { foo: 'bar' },
	});
	expect(onNew).toHaveBeenCalledWith(t);
	expect(t.type).toBe('webrtc');
	expect(t.appData).toEqual({ foo: 'bar' });
	expect(t.iceRole).toBe('controlled');
	expect(t.iceParameters.iceLite).toBe(true);
	expect(t.iceParameters.usernameFragment).toHaveLength(16);
	expect(t.iceParameters.password).toHaveLength(32);
	expect(t.iceCandidates).toHaveLength(2);
	const [udp, tcp] = t.iceCandidates;
	expect(udp).toMatchObject({ ip: '9.9.9.1', address: '9.9.9.1', protocol: 'udp', type: 'host' });
	expect(tcp).toMatchObject({ ip: '9.9.9.1', protocol: 'tcp', type: 'host', tcpType: 'passive' });
	expect(udp.priority).toBeGreaterThan(tcp.priority);
	expect(t.iceState).toBe('new');
	expect(t.iceSelectedTuple).toBeUndefined();
	expect(t.dtlsParameters.role).toBe('auto');
	expect(t.dtlsParameters.fingerprints.map(f => f.algorithm)).toEqual(['sha-1', 'sha-224', 'sha-256', 'sha-384', 'sha-512']);
	expect(t.dtlsState).toBe('new');
	expect(t.sctpParameters).toBeUndefined();
	const dump = await t.dump();
	expect(dump.id).toBe(t.id);
	expect(dump.iceCandidates).toEqual(t.iceCandidates);
	expect(dump.iceState).toBe('new');
	const [stats] = await t.getStats();
	expect(stats).toMatchObject({ type: 'webrtc-transport', transportId: t.id, iceRole: 'controlled', iceState: 'new', dtlsState: 'new' });
	t.close();
	expect(t.closed).toBe(true);
	expect(t.iceState).toBe('closed');
	expect(t.dtlsState).toBe('closed');
});

test('createWebRtcTransport() with legacy listenIps, enableTcp and preferTcp', async () => {
	const t = await router.createWebRtcTransport({
		listenIps: [{ ip: '127.0.0.1', announcedIp: '9.9.9.2' }],
		enableUdp: true,
		enableTcp: true,
		preferTcp: true,
	});
	expect(t.iceCandidates.map(c => c.protocol)).toEqual(['tcp', 'udp']);
	expect(t.iceCandidates[0].priority).toBeGreaterThan(t.iceCandidates[1].priority);
	expect(t.iceCandidates.every(c => c.address === '9.9.9.2')).toBe(true);
	t.close();
});

test('createWebRtcTransport() with wrong arguments rejects with TypeError naming the field', async () => {
	await expect(router.createWebRtcTransport({})).rejects.toThrow(/listenInfos/);
	await expect(router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp' }] })).rejects.toThrow(/listenInfos.ip/);
	await expect(router.createWebRtcTransport({ listenInfos: [{ protocol: 'sctp', ip: '127.0.0.1' }] })).rejects.toThrow(/protocol/);
	await expect(router.createWebRtcTransport({ listenIps: ['127.0.0.1'], appData: 'x' })).rejects.toThrow(/appData/);
	await expect(router.createWebRtcTransport({ listenIps: ['chicken'] })).rejects.toThrow(TypeError);
});

test('connect() validates dtlsParameters and may be called once', async () => {
	const t = await router.createWebRtcTransport({ listenIps: ['127.0.0.1'] });
	await expect(t.connect({})).rejects.toThrow(TypeError);
	await expect(t.connect({ dtlsParameters: { fingerprints: [] } })).rejects.toThrow(/fingerprints/);
	await expect(t.connect({ dtlsParameters: { role: 'chicken', fingerprints: [{ algorithm: 'sha-256', value: 'AA' }] } })).rejects.toThrow(TypeError);
	const dtlsParameters = { role: 'client', fingerprints: [{ algorithm: 'sha-256', value: 'AA:BB' }] };
	await t.connect({ dtlsParameters });
	await expect(t.connect({ dtlsParameters })).rejects.toThrow(/connect\(\) already called/);
	t.close();
});

async function stunOverUdp(t, { password = t.iceParameters.password, useCandidate = true } = {}) {
	const sock = dgram.createSocket('udp4');
	await new Promise(r => sock.bind(0, '127.0.0.1', r));
	const { packet } = stunBindingRequest({ username: `${t.iceParameters.usernameFragment}:remote`, password, useCandidate });
	const reply = new Promise(resolve => sock.once('message', resolve));
	sock.send(packet, t.iceCandidates.find(c => c.protocol === 'udp').port, '127.0.0.1');
	const res = await reply;
	return { sock, res: parseStunResponse(res, t.iceParameters.password) };
}

test('ICE-lite over UDP: a valid nominated check completes ICE and selects the tuple', async () => {
	const t = await router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }] });
	const states = [];
	t.on('icestatechange', s => states.push(s));
	const tuple = new Promise(r => t.once('iceselectedtuplechange', r));
	const { sock, res } = await stunOverUdp(t);
	expect(res.type).toBe(0x0101);
	expect(res.integrity).toBe(true);
	const sel = await tuple;
	expect(sel).toMatchObject({ localAddress: '127.0.0.1', remoteIp: '127.0.0.1', remotePort: sock.address().port, protocol: 'udp' });
	expect(states).toEqual(['completed']);
	expect(t.iceState).toBe('completed');
	expect(t.iceSelectedTuple.remotePort).toBe(sock.address().port);
	sock.close();
	t.close();
});

test('ICE-lite rejects a check with a wrong password (401) and stays "new"', async () => {
	const t = await router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }] });
	const { sock, res } = await stunOverUdp(t, { password: 'wrong-password-wrong-password!!' });
	expect(res.type).toBe(0x0111);
	expect(res.errorCode).toBe(401);
	await sleep(30);
	expect(t.iceState).toBe('new');
	sock.close();
	t.close();
});

test('ICE-TCP (RFC 4571 framing): a check over TCP connects the transport', async () => {
	const t = await router.createWebRtcTransport({ listenInfos: [{ protocol: 'tcp', ip: '127.0.0.1' }] });
	const cand = t.iceCandidates[0];
	expect(cand.tcpType).toBe('passive');
	const tuple = new Promise(r => t.once('iceselectedtuplechange', r));
	const sock = net.connect(cand.port, '127.0.0.1');
	await new Promise(r => sock.once('connect', r));
	const { packet } = stunBindingRequest({ username: `${t.iceParameters.usernameFragment}:remote`, password: t.iceParameters.password });
	const frame = Buffer.alloc(2);
	frame.writeUInt16BE(packet.length);
	// Split the frame across writes: the framing must reassemble it.
	sock.write(Buffer.concat([frame, packet.subarray(0, 10)]));
	await sleep(20);
	sock.write(packet.subarray(10));
	const data = await new Promise(r => sock.once('data', r));
	const len = data.readUInt16BE(0);
	const res = parseStunResponse(data.subarray(2, 2 + len), t.iceParameters.password);
	expect(res.type).toBe(0x0101);
	expect(res.integrity).toBe(true);
	expect((await tuple).protocol).toBe('tcp');
	expect(t.iceState).toBe('completed');
	// Closing the TCP connection drops the tuple: ICE goes 'disconnected'.
	const disc = new Promise(r => t.on('icestatechange', s => s === 'disconnected' && r()));
	sock.destroy();
	await disc;
	t.close();
});

test('restartIce() returns new credentials', async () => {
	const t = await router.createWebRtcTransport({ listenIps: ['127.0.0.1'] });
	const before = { ...t.iceParameters };
	const after = await t.restartIce();
	expect(after.usernameFragment).not.toBe(before.usernameFragment);
	expect(after.password).not.toBe(before.password);
	expect(t.iceParameters).toEqual(after);
	t.close();
});

test('consent freshness: no checks for iceConsentTimeout seconds → "disconnected"', async () => {
	const t = await router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }], iceConsentTimeout: 1 });
	const { sock } = await stunOverUdp(t);
	const disc = new Promise(r => t.on('icestatechange', s => s === 'disconnected' && r()));
	await disc;
	expect(t.iceState).toBe('disconnected');
	sock.close();
	t.close();
});

test('bitrate setters validate and apply; stats report the incoming limit', async () => {
	const t = await router.createWebRtcTransport({ listenIps: ['127.0.0.1'] });
	await t.setMaxIncomingBitrate(1000000);
	await t.setMaxOutgoingBitrate(2000000);
	await t.setMinOutgoingBitrate(100000);
	await expect(t.setMinOutgoingBitrate(3000000)).rejects.toThrow(TypeError);
	await expect(t.setMaxIncomingBitrate(-1)).rejects.toThrow(TypeError);
	const [s] = await t.getStats();
	expect(s.maxIncomingBitrate).toBe(1000000);
	t.close();
});

test('transport.close() on the router side: transport gone from router.dump()', async () => {
	const t = await router.createWebRtcTransport({ listenIps: ['127.0.0.1'] });
	const onClose = jest.fn();
	t.observer.once('close', onClose);
	t.close();
	expect(onClose).toHaveBeenCalledTimes(1);
	await sleep(10);
	expect((await router.dump()).transportIds).not.toContain(t.id);
	await expect(t.dump()).rejects.toThrow(/not found/);
});
