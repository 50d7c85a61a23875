'use strict';
// A data channel from Chromium A through the SFU (SCTP over DTLS, a DataProducer and a
// DataConsumer) to Chromium B: 100 messages, in order, strings and 16 KiB binaries mixed.
const mediasoup = require('../');
const { mediaCodecs } = require('./helpers/media');
const { useBrowserCall, waitFor } = require('./helpers/e2e');

const env = useBrowserCall(mediasoup);

test('Chromium A → SFU → Chromium B: 100 ordered messages, strings and 16 KiB binary', async () => {
	const router = await env.worker.createRouter({ mediaCodecs });
	const options = { listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }], enableSctp: true, numSctpStreams: { OS: 1024, MIS: 1024 } };
	const a = await env.openPeer(router, options);
	const b = await env.openPeer(router, options);
	try {
		// mediasoup 3.27's fields too: the settings as defaulted, isDataChannel on WebRTC.
		expect(a.send.sctpParameters).toEqual({
			port: 5000,
			OS: 1024,
			MIS: 1024,
			maxMessageSize: 262144,
			maxSendMessageSize: 262144,
			maxReceiveMessageSize: 262144,
			sendBufferSize: 2000000,
			perStreamSendQueueLimit: 2000000,
			maxReceiverWindowBufferSize: 5242880,
			isDataChannel: true,
		});
		expect(a.send.sctpNegotiatedCapabilities).toBeUndefined();
		const states = [];
		a.send.on('sctpstatechange', s => states.push(s));
		await a.page.evaluate(() => window.pw.produceData({ label: 'chat' }));
		expect(a.dataProducers).toHaveLength(1);
		const dp = a.dataProducers[0];
		expect(dp.label).toBe('chat');
		expect(a.send.sctpState).toBe('connected');
		// Chromium offers 65535 streams each way; ours are 1024 each way.
		expect(a.send.sctpNegotiatedCapabilities).toEqual({ negotiatedMaxOutboundStreams: 1024, negotiatedMaxInboundStreams: 1024 });
		expect((await a.send.dump()).sctpNegotiatedCapabilities).toEqual(a.send.sctpNegotiatedCapabilities);
		const dc = await b.recv.consumeData({ dataProducerId: dp.id });
		expect(dc.sctpStreamParameters.streamId).toBe(0);
		expect(dc.label).toBe('chat');
		await b.page.evaluate(
			p => window.pw.consumeData(p),
			{ id: dc.id, dataProducerId: dp.id, sctpStreamParameters: dc.sctpStreamParameters, label: dc.label, protocol: dc.protocol }
		);
		await waitFor(() => b.recv.sctpState === 'connected', 10000);
		const messages = Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? `message ${i}` : { binary: 16384, fill: i }));
		await a.page.evaluate(m => window.pw.sendData(m), messages);
		const got = await waitFor(async () => {
			const r = await b.page.evaluate(() => window.pw.received());
			return r.length >= 100 ? r : null;
		}, 20000);
		expect(got).toBeTruthy();
		expect(got).toEqual(messages.map(m => (typeof m === 'string' ? m : { ...m, uniform: true })));
		const [stats] = await dc.getStats();
		expect(stats).toMatchObject({ type: 'data-consumer', label: 'chat', messagesSent: 100 });
		const [pstats] = await dp.getStats();
		expect(pstats.messagesReceived).toBe(100);
		// The server can also send to B on its own. DataConsumer.send() resolves with what is
		// still buffered once SCTP sent what it could: 0 on this idle association (mediasoup 3.27).
		await new Promise(r => setTimeout(r, 300));
		await expect(dc.send('from the server')).resolves.toBe(0);
		expect(await dc.getBufferedAmount()).toBe(0);
		expect(await waitFor(async () => (await b.page.evaluate(() => window.pw.received())).includes('from the server'), 5000)).toBe(true);
	} finally {
		await a.close();
		await b.close();
		router.close();
	}
});
