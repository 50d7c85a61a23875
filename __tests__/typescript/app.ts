// A small mediasoup application written against mediasoup's public types, compiled with
// `tsc --noEmit` against this package (see test-typescript.test.js). Not executed.
import * as mediasoup from '../../';
import { types } from '../../';

type PeerAppData = { peerId: string; displayName?: string };

const mediaCodecs: types.RtpCodecCapability[] = [
	{ kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2, parameters: { useinbandfec: 1, usedtx: 1 } },
	{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000, parameters: { 'x-google-start-bitrate': 1000 } },
	{ kind: 'video', mimeType: 'video/VP9', clockRate: 90000, parameters: { 'profile-id': 2 } },
	{
		kind: 'video',
		mimeType: 'video/H264',
		clockRate: 90000,
		parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 },
	},
];

const settings: types.WorkerSettings = { logLevel: 'warn', logTags: ['ice', 'dtls'], rtcMinPort: 40000, rtcMaxPort: 49999 };

export async function start(): Promise<void> {
	const worker: types.Worker = await mediasoup.createWorker(settings);
	worker.on('died', (error: Error) => console.error(error.message));
	const usage: types.WorkerResourceUsage = await worker.getResourceUsage();
	console.log(worker.pid, usage.ru_utime);
	const router: types.Router = await worker.createRouter({ mediaCodecs });
	const caps: types.RtpCapabilities = router.rtpCapabilities;
	const listenInfos: types.TransportListenInfo[] = [{ protocol: 'udp', ip: '0.0.0.0', announcedAddress: '203.0.113.1' }];
	const transport: types.WebRtcTransport<PeerAppData> = await router.createWebRtcTransport<PeerAppData>({
		listenInfos,
		enableUdp: true,
		enableTcp: true,
		preferUdp: true,
		initialAvailableOutgoingBitrate: 1000000,
		appData: { peerId: 'p1' },
	});
	const legacy: types.WebRtcTransport = await router.createWebRtcTransport({
		listenIps: [{ ip: '0.0.0.0', announcedIp: '203.0.113.1' }],
		enableUdp: true,
	});
	legacy.close();
	transport.on('dtlsstatechange', (state: types.DtlsState) => {
		if (state === 'closed') {
			transport.close();
		}
	});
	transport.on('icestatechange', (state: types.IceState) => console.log(state));
	const params: { iceParameters: types.IceParameters; iceCandidates: types.IceCandidate[]; dtlsParameters: types.DtlsParameters } = {
		iceParameters: transport.iceParameters,
		iceCandidates: transport.iceCandidates,
		dtlsParameters: transport.dtlsParameters,
	};
	await transport.connect({ dtlsParameters: params.dtlsParameters });
	const rtpParameters: types.RtpParameters = { codecs: [{ mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2 }] };
	const producer: types.Producer = await transport.produce({ kind: 'audio', rtpParameters, appData: { source: 'mic' } });
	producer.on('transportclose', () => producer.close());
	if (router.canConsume({ producerId: producer.id, rtpCapabilities: caps })) {
		const consumer: types.Consumer = await transport.consume({ producerId: producer.id, rtpCapabilities: caps, paused: true });
		consumer.on('producerclose', () => consumer.close());
		consumer.on('transportclose', () => consumer.close());
		const kind: types.MediaKind = consumer.kind;
		const type: types.ConsumerType = consumer.type;
		console.log(kind, type, consumer.rtpParameters, consumer.producerPaused);
		await consumer.resume();
		const stats = await consumer.getStats();
		console.log(stats.length);
	}
	const plain: types.PlainTransport = await router.createPlainTransport({ listenIp: '127.0.0.1', rtcpMux: false, comedia: true });
	plain.on('tuple', (tuple: types.TransportTuple) => console.log(tuple.localPort));
	try {
		await router.createWebRtcTransport({ listenInfos: [] });
	} catch (error) {
		if (error instanceof mediasoup.types.UnsupportedError || error instanceof TypeError) {
			console.log('expected');
		}
	}
	const err: typeof mediasoup.errors.InvalidStateError = mediasoup.errors.WorkerClosedError;
	console.log(err.name, mediasoup.version, mediasoup.getSupportedRtpCapabilities().codecs?.length);
	console.log(mediasoup.parseScalabilityMode('L3T3').spatialLayers);
	mediasoup.observer.on('newworker', (w: types.Worker) => console.log(w.pid));
	router.close();
	worker.close();
}
