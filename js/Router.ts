import { Logger } from './Logger';
import { EnhancedEventEmitter } from './enhancedEvents';
import type { Channel } from './Channel';
import { Transport, TransportListenInfo, TransportListenIp } from './Transport';
import { WebRtcTransport, WebRtcTransportOptions } from './WebRtcTransport';
import { PlainTransport, PlainTransportOptions } from './PlainTransport';
import { PipeTransport, PipeTransportOptions } from './PipeTransport';
import { DirectTransport, DirectTransportOptions } from './DirectTransport';
import type { Consumer } from './Consumer';
import type { RtpObserver } from './RtpObserver';
import { AudioLevelObserver, AudioLevelObserverOptions } from './AudioLevelObserver';
import { ActiveSpeakerObserver, ActiveSpeakerObserverOptions } from './ActiveSpeakerObserver';
import type { Producer } from './Producer';
import { Recorder, RecorderOptions } from './Recorder';
import * as ortc from './ortc';
import { resolve as resolvePath } from 'node:path';
import * as utils from './utils';
import { UnsupportedError, NotFoundError } from './errors';
import type { RtpCapabilities } from './rtpParametersTypes';
import type { AppData } from './types';
import type { PipeToRouterOptions, PipeToRouterResult } from './compatTypes';

const logger = new Logger('Router');

export type RouterOptions<RouterAppData extends AppData = AppData> = {
	mediaCodecs?: import('./rtpParametersTypes').RtpCodecCapability[];
	appData?: RouterAppData;
};

export type RouterDump = {
	id: string;
	transportIds: string[];
	rtpObserverIds: string[];
	mapProducerIdConsumerIds: { key: string; values: string[] }[];
	mapConsumerIdProducerId: { key: string; value: string }[];
	mapProducerIdObserverIds: { key: string; values: string[] }[];
	mapDataProducerIdDataConsumerIds: { key: string; values: string[] }[];
	mapDataConsumerIdDataProducerId: { key: string; value: string }[];
};

export type RouterEvents = {
	workerclose: [];
	listenererror: [string, Error];
	'@close': [];
};

export type RouterObserverEvents = {
	close: [];
	newtransport: [Transport];
	newrtpobserver: [any];
	newrecorder: [Recorder];
};

export type RouterObserver = EnhancedEventEmitter<RouterObserverEvents>;

export class Router<RouterAppData extends AppData = AppData> extends EnhancedEventEmitter<RouterEvents> {
	readonly #internal: { routerId: string };
	readonly #data: { rtpCapabilities: RtpCapabilities };
	readonly #channel: Channel;
	#closed = false;
	#appData: RouterAppData;
	readonly #transports = new Map<string, Transport>();
		readonly #producers = new Map<string, Producer>();
	readonly #dataProducers = new Map<string, import('./DataProducer').DataProducer>();
	readonly #rtpObservers = new Map<string, RtpObserver<any, any, any>>();
	readonly #recorders = new Map<string, Recorder<any>>();
	// Pipe transport pairs towards other routers, by the other router's id.
	readonly #pipePairs = new Map<string, Promise<Record<string, PipeTransport>>>();
	readonly #observer: RouterObserver = new EnhancedEventEmitter();

	/** @private */
	constructor({
		internal,
		data,
		channel,
		appData,
	}: {
		internal: { routerId: string };
		data: { rtpCapabilities: RtpCapabilities };
		channel: Channel;
		appData?: RouterAppData;
	}) {
		super();
		this.#internal = internal;
		this.#data = data;
		this.#channel = channel;
		this.#appData = appData ?? ({} as RouterAppData);
		this.on('listenererror', (eventName, error) => {
			logger.error(`event listener threw an error [eventName:${eventName}]:`, error);
		});
	}

	get id(): string {
		return this.#internal.routerId;
	}

	get closed(): boolean {
		return this.#closed;
	}

	get rtpCapabilities(): RtpCapabilities {
		return utils.clone(this.#data.rtpCapabilities);
	}

	get appData(): RouterAppData {
		return this.#appData;
	}

	set appData(appData: RouterAppData) {
		this.#appData = appData;
	}

	get observer(): RouterObserver {
		return this.#observer;
	}

	/** @private For testing. */
	get transportsForTesting(): Map<string, Transport> {
		return this.#transports;
	}

	close(): void {
		if (this.#closed) {
			return;
		}
		logger.debug('close()');
		this.#closed = true;
		this.#channel.request('worker.closeRouter', '', { routerId: this.id }).catch(() => {});
		this.#closeChildren();
		for (const r of this.#recorders.values()) {
			r.routerClosed();
		}
		this.#recorders.clear();
		this.emit('@close');
		this.#observer.safeEmit('close');
	}

	/** @private */
	workerClosed(): void {
		if (this.#closed) {
			return;
		}
		logger.debug('workerClosed()');
		this.#closed = true;
		this.#closeChildren();
		for (const r of this.#recorders.values()) {
			r.workerClosed();
		}
		this.#recorders.clear();
		this.safeEmit('workerclose');
		this.#observer.safeEmit('close');
	}

	#closeChildren(): void {
		for (const transport of this.#transports.values()) {
			transport.routerClosed();
		}
		this.#transports.clear();
		for (const o of this.#rtpObservers.values()) {
			o.routerClosed();
		}
		this.#rtpObservers.clear();
		this.#producers.clear();
		this.#pipePairs.clear();
	}

	async dump(): Promise<RouterDump> {
		logger.debug('dump()');
		return this.#channel.request('router.dump', this.id);
	}

	async createWebRtcTransport<T extends AppData = AppData>(options: WebRtcTransportOptions<T>): Promise<WebRtcTransport<T>> {
		logger.debug('createWebRtcTransport()');
		const {
			webRtcServer,
			listenIps,
			port,
			preferUdp = false,
			preferTcp = false,
			initialAvailableOutgoingBitrate = 600000,
			enableSctp = false,
			iceConsentTimeout = 30,
			appData,
		} = options as any;
		let { listenInfos, enableUdp, enableTcp } = options as any;
		if (!webRtcServer && !Array.isArray(listenInfos) && !Array.isArray(listenIps)) {
			throw new TypeError('missing webRtcServer, listenInfos and listenIps (one of them is mandatory)');
		} else if (webRtcServer && listenInfos && listenIps) {
			throw new TypeError('only one of webRtcServer, listenInfos and listenIps must be given');
		}
		utils.checkAppData(appData);


				const numSctpStreams = (options as any).numSctpStreams;
		if (
			numSctpStreams !== undefined &&
			(typeof numSctpStreams !== 'object' || typeof numSctpStreams.OS !== 'number' || typeof numSctpStreams.MIS !== 'number')
		) {
			throw new TypeError('if given, numSctpStreams must be an object with numeric OS and MIS');
		}
		if (typeof iceConsentTimeout !== 'number' || iceConsentTimeout < 0) {
			throw new TypeError('if given, iceConsentTimeout must be a non-negative number');
		}
		enableUdp ??= true;
		enableTcp ??= Boolean(webRtcServer);
		if (listenIps) {
			listenInfos = listenIpsToListenInfos(listenIps, port, enableUdp, enableTcp, preferUdp, preferTcp);
		}
		if (!webRtcServer) {
			validateListenInfos(listenInfos, 'listenInfos');
		}
		const transportId = utils.generateUUIDv4();
		const data = await this.#channel.request(webRtcServer ? 'router.createWebRtcTransportWithServer' : 'router.createWebRtcTransport', this.id, {
			transportId,
			webRtcServerId: webRtcServer?.id,
			listenInfos: webRtcServer ? undefined : listenInfos.map(normalizeListenInfo),
			enableUdp,
			enableTcp,
			preferUdp,
			preferTcp,
			initialAvailableOutgoingBitrate,
			iceConsentTimeout,
			enableSctp,
			numSctpStreams: (options as any).numSctpStreams ?? { OS: 1024, MIS: 1024 },
			maxSctpMessageSize: (options as any).maxSctpMessageSize ?? (options as any).maxReceiveMessageSize ?? 262144,
			sctpSettings: sctpSettings(options, true),
		});
		const transport = new WebRtcTransport<T>({
			internal: { routerId: this.id, transportId },
			data,
			channel: this.#channel,
			appData,
			getRouterRtpCapabilities: () => this.#data.rtpCapabilities,
			getProducerById: (id: string) => this.#producers.get(id),
			getDataProducerById: (id: string) => this.#dataProducers.get(id),
		});
		this.#registerTransport(transport);
		transport.on('@listenserverclose', () => this.#transports.delete(transport.id));
		webRtcServer?.handleWebRtcTransport(transport);
		return transport;
	}

	async createPlainTransport<T extends AppData = AppData>(options: PlainTransportOptions<T>): Promise<PlainTransport<T>> {
		logger.debug('createPlainTransport()');
		const {
			listenIp,
			port,
			comedia = false,
			enableSctp = false,
			enableSrtp = false,
			srtpCryptoSuite = 'AES_CM_128_HMAC_SHA1_80',
			appData,
		} = options as any;
		let { listenInfo, rtcpListenInfo, rtcpMux = true } = options as any;
		listenInfo = resolveListenInfo(listenInfo, listenIp, port, appData);
		if (rtcpListenInfo) {
			validateListenInfos([rtcpListenInfo], 'rtcpListenInfo');
			// A separate RTCP listen address means no RTCP muxing (as mediasoup does).
			if (rtcpMux) {
				logger.warn('createPlainTransport() | ignoring rtcpMux since rtcpListenInfo is given');
				rtcpMux = false;
			}
		}
		if (listenInfo.protocol && listenInfo.protocol !== 'udp') {
			throw new TypeError('listenInfo.protocol must be "udp" for a PlainTransport');
		}
		listenInfo = { ...listenInfo, protocol: 'udp' };
		if (rtcpListenInfo) {
			rtcpListenInfo = normalizeListenInfo({ ...rtcpListenInfo, protocol: 'udp' });
		}
		const transportId = utils.generateUUIDv4();
		const data = await this.#channel.request('router.createPlainTransport', this.id, {
			transportId,
			listenInfos: [normalizeListenInfo(listenInfo)],
			rtcpListenInfo,
			rtcpMux,
			comedia,
			enableSrtp,
			srtpCryptoSuite,
			enableSctp,
			numSctpStreams: (options as any).numSctpStreams ?? { OS: 1024, MIS: 1024 },
			maxSctpMessageSize: (options as any).maxSctpMessageSize ?? 262144,
			sctpSettings: sctpSettings(options, false),
		});
		const transport = new PlainTransport<T>({
			internal: { routerId: this.id, transportId },
			data,
			channel: this.#channel,
			appData,
			getRouterRtpCapabilities: () => this.#data.rtpCapabilities,
			getProducerById: (id: string) => this.#producers.get(id),
			getDataProducerById: (id: string) => this.#dataProducers.get(id),
		});
		this.#registerTransport(transport);
		return transport;
	}

	async createDirectTransport<T extends AppData = AppData>({
		maxMessageSize = 262144,
		appData,
	}: DirectTransportOptions<T> = {}): Promise<DirectTransport<T>> {
		logger.debug('createDirectTransport()');
		if (typeof maxMessageSize !== 'number' || maxMessageSize < 0) {
			throw new TypeError('if given, maxMessageSize must be a positive number');
		}
		utils.checkAppData(appData);
		const transportId = utils.generateUUIDv4();
		const data = await this.#channel.request('router.createDirectTransport', this.id, { transportId, maxMessageSize });
		const transport = new DirectTransport<T>({
			internal: { routerId: this.id, transportId },
			data,
			channel: this.#channel,
			appData,
			getRouterRtpCapabilities: () => this.#data.rtpCapabilities,
			getProducerById: (id: string) => this.#producers.get(id),
			getDataProducerById: (id: string) => this.#dataProducers.get(id),
		});
		this.#registerTransport(transport);
		return transport;
	}

	async createPipeTransport<T extends AppData = AppData>(options: PipeTransportOptions<T>): Promise<PipeTransport<T>> {
		logger.debug('createPipeTransport()');
		const { listenIp, port, enableSctp = false, enableRtx = false, enableSrtp = false, appData } = options as any;
		let { listenInfo } = options as any;
		listenInfo = resolveListenInfo(listenInfo, listenIp, port, appData);
		if (listenInfo.protocol && listenInfo.protocol !== 'udp') {
			throw new TypeError('listenInfo.protocol must be "udp" for a PipeTransport');
		}
		const transportId = utils.generateUUIDv4();
		const data = await this.#channel.request('router.createPipeTransport', this.id, {
			transportId,
			listenInfos: [normalizeListenInfo({ ...listenInfo, protocol: 'udp' })],
			enableRtx,
			enableSrtp,
			enableSctp,
			numSctpStreams: (options as any).numSctpStreams ?? { OS: 1024, MIS: 1024 },
			maxSctpMessageSize: (options as any).maxSctpMessageSize ?? 268435456,
			sctpSettings: sctpSettings(options, false),
			// mediasoup's pipe SRTP suite.
			srtpCryptoSuite: 'AEAD_AES_256_GCM',
		});
		const transport = new PipeTransport<T>({
			internal: { routerId: this.id, transportId },
			data,
			channel: this.#channel,
			appData,
			getRouterRtpCapabilities: () => this.#data.rtpCapabilities,
			getProducerById: (id: string) => this.#producers.get(id),
			getDataProducerById: (id: string) => this.#dataProducers.get(id),
		});
		this.#registerTransport(transport);
		return transport;
	}

	/**
	 * Makes a producer of this router available in another one (of this or another worker)
	 * through a pair of PipeTransports, created once per router pair and reused.
	 */
	async pipeToRouter({
		producerId,
		dataProducerId,
		router,
		keepId = true,
		listenInfo,
		listenIp,
				enableSctp = true,
		enableRtx = false,
		enableSrtp = false,
	}: PipeToRouterOptions): Promise<PipeToRouterResult> {
		logger.debug('pipeToRouter()');
		if (listenInfo && listenIp) {
			throw new TypeError('only one of listenInfo and listenIp must be given');
		} else if (!producerId && !dataProducerId) {
			throw new TypeError('missing producerId or dataProducerId');
		} else if (producerId && dataProducerId) {
			throw new TypeError('just producerId or dataProducerId can be given');
		} else if (!router) {
			throw new TypeError('missing router');
		} else if (router === this) {
			throw new TypeError('cannot use this Router as destination');
		}

		if (listenIp) {
			const li = typeof listenIp === 'string' ? { ip: listenIp } : listenIp;
			listenInfo = { protocol: 'udp', ip: li.ip, announcedAddress: li.announcedIp };
		}
		listenInfo ??= { protocol: 'udp', ip: '127.0.0.1' };
				const producer = producerId ? this.#producers.get(producerId) : undefined;
		const dataProducer = dataProducerId ? this.#dataProducers.get(dataProducerId) : undefined;
		if (producerId && !producer) {
			throw new NotFoundError('Producer not found');
		} else if (dataProducerId && !dataProducer) {
			throw new NotFoundError('DataProducer not found');
		}
		let pairPromise = this.#pipePairs.get(router.id);
		if (!pairPromise) {
			const options = { listenInfo, enableSctp, enableRtx, enableSrtp };
			pairPromise = (async () => {
				const [local, remote] = await Promise.all([this.createPipeTransport(options), router.createPipeTransport(options)]);
				try {
					await Promise.all([
						local.connect({ ip: remote.tuple.localAddress, port: remote.tuple.localPort, srtpParameters: remote.srtpParameters }),
						remote.connect({ ip: local.tuple.localAddress, port: local.tuple.localPort, srtpParameters: local.srtpParameters }),
					]);
				} catch (error) {
					local.close();
					remote.close();
					throw error;
				}
				local.observer.on('close', () => {
					remote.close();
					this.#pipePairs.delete(router.id);
				});
				remote.observer.on('close', () => {
					local.close();
					this.#pipePairs.delete(router.id);
				});
				return { [this.id]: local, [router.id]: remote };
			})();
			this.#pipePairs.set(router.id, pairPromise);
			router.addPipeTransportPair(this.id, pairPromise);
			pairPromise.catch(() => {
				this.#pipePairs.delete(router.id);
			});
		}
		const pair = await pairPromise;
				const local = pair[this.id];
		const remote = pair[router.id];
		if (dataProducer) {
			let pipeDataConsumer: any;
			let pipeDataProducer: any;
			try {
				pipeDataConsumer = await local.consumeData({ dataProducerId: dataProducer.id });
				pipeDataProducer = await remote.produceData({
					id: keepId ? dataProducer.id : utils.generateUUIDv4(),
					sctpStreamParameters: pipeDataConsumer.sctpStreamParameters,
					label: pipeDataConsumer.label,
					protocol: pipeDataConsumer.protocol,
					appData: dataProducer.appData,
				});
				if (dataProducer.closed) {
					throw new NotFoundError('original DataProducer closed');
				}
				pipeDataConsumer.observer.on('close', () => pipeDataProducer.close());
				pipeDataProducer.observer.on('close', () => pipeDataConsumer.close());
				return { pipeDataConsumer, pipeDataProducer };
			} catch (error) {
				logger.error('pipeToRouter() | error creating pipe DataConsumer/DataProducer pair:', error);
				pipeDataConsumer?.close();
				pipeDataProducer?.close();
				throw error;
			}
		}
		const producer2 = producer!;
		let pipeConsumer: Consumer | undefined;
		let pipeProducer: Producer | undefined;
		try {
			pipeConsumer = await local.consume({ producerId: producer2.id });
			pipeProducer = await remote.produce({
				id: keepId ? producer2.id : utils.generateUUIDv4(),
				kind: pipeConsumer.kind,
				rtpParameters: pipeConsumer.rtpParameters,
				paused: pipeConsumer.producerPaused,
				e2ee: producer2.e2ee,
				appData: producer2.appData,
			});
			if (producer2.closed) {
				throw new NotFoundError('original Producer closed');
			}
			if (pipeProducer.paused !== producer2.paused) {
				await (producer2.paused ? pipeProducer.pause() : pipeProducer.resume());
			}
			const pc = pipeConsumer;
			const pp = pipeProducer;
			pc.observer.on('close', () => pp.close());
			pc.observer.on('pause', () => void pp.pause().catch(() => {}));
			pc.observer.on('resume', () => void pp.resume().catch(() => {}));
			pp.observer.on('close', () => pc.close());
			return { pipeConsumer, pipeProducer };
		} catch (error) {
			logger.error('pipeToRouter() | error creating pipe Consumer/Producer pair:', error);
			pipeConsumer?.close();
			pipeProducer?.close();
			throw error;
		}
	}

	async createAudioLevelObserver<T extends AppData = AppData>({
		maxEntries = 1,
		threshold = -80,
		interval = 1000,
		appData,
	}: AudioLevelObserverOptions<T> = {}): Promise<AudioLevelObserver<T>> {
		logger.debug('createAudioLevelObserver()');
		if (typeof maxEntries !== 'number' || maxEntries <= 0) {
			throw new TypeError('if given, maxEntries must be a positive number');
		} else if (typeof threshold !== 'number' || threshold < -127 || threshold > 0) {
			throw new TypeError('if given, threshole must be a negative number greater than -127');
		} else if (typeof interval !== 'number') {
			throw new TypeError('if given, interval must be an number');
		}
		utils.checkAppData(appData);
		const rtpObserverId = utils.generateUUIDv4();
		await this.#channel.request('router.createAudioLevelObserver', this.id, { rtpObserverId, maxEntries, threshold, interval });
		const o = new AudioLevelObserver<T>(this.#observerOptions(rtpObserverId, appData));
		this.#registerRtpObserver(o);
		return o;
	}

	async createActiveSpeakerObserver<T extends AppData = AppData>({
		interval = 300,
		appData,
	}: ActiveSpeakerObserverOptions<T> = {}): Promise<ActiveSpeakerObserver<T>> {
		logger.debug('createActiveSpeakerObserver()');
		if (typeof interval !== 'number') {
			throw new TypeError('if given, interval must be an number');
		}
		utils.checkAppData(appData);
		const rtpObserverId = utils.generateUUIDv4();
		await this.#channel.request('router.createActiveSpeakerObserver', this.id, { rtpObserverId, interval });
		const o = new ActiveSpeakerObserver<T>(this.#observerOptions(rtpObserverId, appData));
		this.#registerRtpObserver(o);
		return o;
	}

	/**
	 * Records producers of this router to a WebM / Matroska file written by the worker thread
	 * (an extension to mediasoup's API; see the README's "Recording").
	 */
	async createRecorder<T extends AppData = AppData>({ producerIds, path, appData }: RecorderOptions<T>): Promise<Recorder<T>> {
		logger.debug('createRecorder()');
		if (typeof path !== 'string' || path.length === 0) {
			throw new TypeError('missing path');
		}
		if (!Array.isArray(producerIds) || producerIds.length === 0) {
			throw new TypeError('missing producerIds');
		}
		if (new Set(producerIds).size !== producerIds.length) {
			throw new TypeError('duplicate id in producerIds');
		}
		for (const id of producerIds) {
			if (typeof id !== 'string') {
				throw new TypeError('producerIds must be strings');
			}
			if (!this.#producers.has(id)) {
				throw new NotFoundError(`Producer not found [producerId:${id}]`);
			}
		}
		utils.checkAppData(appData);
		const recorderId = utils.generateUUIDv4();
		const absolute = resolvePath(path);
		await this.#channel.request('router.createRecorder', this.id, { recorderId, path: absolute, producerIds });
		const r = new Recorder<T>({
			internal: { routerId: this.id, recorderId },
			channel: this.#channel,
			path: absolute,
			producerIds: [...producerIds],
			appData,
		});
		this.#recorders.set(recorderId, r);
		r.on('@close', () => this.#recorders.delete(recorderId));
		this.#observer.safeEmit('newrecorder', r);
		return r;
	}

	#observerOptions<T>(rtpObserverId: string, appData?: T) {
		return {
			internal: { routerId: this.id, rtpObserverId },
			channel: this.#channel,
			appData,
			getProducerById: (id: string) => this.#producers.get(id),
		};
	}

	#registerRtpObserver(o: RtpObserver<any, any, any>): void {
		this.#rtpObservers.set(o.id, o);
		o.on('@close', () => this.#rtpObservers.delete(o.id));
		this.#observer.safeEmit('newrtpobserver', o);
	}

	/** @private Registers the pair another router created towards this one. */
	addPipeTransportPair(key: string, pairPromise: Promise<Record<string, PipeTransport>>): void {
		if (this.#pipePairs.has(key)) {
			throw new Error('given pipeTransportPairKey already exists in this Router');
		}
		this.#pipePairs.set(key, pairPromise);
		pairPromise
			.then(pair => pair[this.id].observer.on('close', () => this.#pipePairs.delete(key)))
			.catch(() => this.#pipePairs.delete(key));
	}

	#registerTransport(transport: Transport): void {
		this.#transports.set(transport.id, transport);
		transport.on('@close', () => this.#transports.delete(transport.id));
		transport.on('@newproducer', (producer: Producer) => this.#producers.set(producer.id, producer));
		transport.on('@producerclose', (producer: Producer) => this.#producers.delete(producer.id));
		transport.on('@newdataproducer', dp => this.#dataProducers.set(dp.id, dp));
		transport.on('@dataproducerclose', dp => this.#dataProducers.delete(dp.id));
		this.#observer.safeEmit('newtransport', transport);
	}

	/**
	 * Replaces the router's media codecs: `rtpCapabilities` changes from now on (existing
	 * producers keep their mappings). Throws as createRouter() does for bad codecs.
	 */
	updateMediaCodecs(mediaCodecs: import('./rtpParametersTypes').RtpCodecCapability[]): void {
		logger.debug('updateMediaCodecs()');
		this.#data.rtpCapabilities = ortc.generateRouterRtpCapabilities(utils.clone(mediaCodecs));
	}

	/** Whether a client with these capabilities can consume the given producer. */
	canConsume({ producerId, rtpCapabilities }: { producerId: string; rtpCapabilities: RtpCapabilities }): boolean {
		const producer = this.#producers.get(producerId);
		if (!producer) {
			logger.error(`canConsume() | Producer with id "${producerId}" not found`);
			return false;
		}
		const caps = utils.clone(rtpCapabilities);
		try {
			return ortc.canConsume(producer.consumableRtpParameters, caps);
		} catch (error) {
			logger.error(`canConsume() | unexpected error: ${error}`);
			return false;
		}
	}
}

function listenIpsToListenInfos(
	listenIps: (TransportListenIp | string)[],
	port: number | undefined,
	enableUdp: boolean,
	enableTcp: boolean,
	preferUdp: boolean,
	preferTcp: boolean
): TransportListenInfo[] {
	const protocols: ('udp' | 'tcp')[] = [];
	if (enableUdp && (preferUdp || !enableTcp || !preferTcp)) {
		protocols.push('udp');
		if (enableTcp) {
			protocols.push('tcp');
		}
	} else if (enableTcp && ((preferTcp && !preferUdp) || !enableUdp)) {
		protocols.push('tcp');
		if (enableUdp) {
			protocols.push('udp');
		}
	}
	const infos: TransportListenInfo[] = [];
	for (const raw of listenIps) {
		const li = typeof raw === 'string' ? { ip: raw } : raw;
		for (const protocol of protocols) {
			infos.push({ protocol, ip: li.ip, announcedAddress: li.announcedIp ?? (li as any).announcedAddress, port });
		}
	}
	return infos;
}

/**
 * mediasoup's `listenInfo` / deprecated `listenIp` pair of Plain and Pipe transports: exactly one
 * must be given, `appData` is checked next (mediasoup's order), and a `listenIp` becomes a UDP
 * listen info on `port`.
 */
function resolveListenInfo(listenInfo: any, listenIp: any, port: any, appData: unknown): any {
	if (!listenInfo && !listenIp) {
		throw new TypeError('missing listenInfo and listenIp (one of them is mandatory)');
	} else if (listenInfo && listenIp) {
		throw new TypeError('only one of listenInfo and listenIp must be given');
	}
	utils.checkAppData(appData);
	if (listenIp) {
		const li = typeof listenIp === 'string' ? { ip: listenIp } : listenIp;
		listenInfo = { protocol: 'udp', ip: li.ip, announcedAddress: li.announcedIp, port };
	}
	validateListenInfos([listenInfo], 'listenInfo');
	return listenInfo;
}

function validateListenInfos(infos: any[], name: string): void {
	if (!Array.isArray(infos) || infos.length === 0) {
		throw new TypeError(`${name} must be a non-empty array`);
	}
	for (const li of infos) {
		if (!li || typeof li !== 'object') {
			throw new TypeError(`wrong ${name} (not an object)`);
		}
		if (typeof li.ip !== 'string' || !li.ip) {
			throw new TypeError(`missing ${name}.ip`);
		}
		if (li.protocol !== undefined && li.protocol !== 'udp' && li.protocol !== 'tcp') {
			throw new TypeError(`wrong ${name}.protocol "${li.protocol}"`);
		}
		if (li.port !== undefined && (typeof li.port !== 'number' || li.port < 0 || li.port > 65535)) {
			throw new TypeError(`wrong ${name}.port`);
		}
	}
}

function normalizeListenInfo(li: any): any {
	return {
		protocol: li.protocol ?? 'udp',
		ip: li.ip,
		announcedAddress: li.announcedAddress ?? li.announcedIp,
		port: li.port ?? 0,
		portRange: li.portRange,
		flags: li.flags,
		sendBufferSize: li.sendBufferSize,
		recvBufferSize: li.recvBufferSize,
	};
}

/**
 * mediasoup 3.27's SCTP settings of a transport, as given or defaulted; the worker reports them
 * back in `sctpParameters` (with `isDataChannel`: true for WebRTC data channels, false for SCTP
 * over plain or pipe transports).
 */
function sctpSettings(options: any, isDataChannel: boolean) {
	return {
		isDataChannel,
		maxSendMessageSize: options.maxSendMessageSize ?? 262144,
		maxReceiveMessageSize: options.maxReceiveMessageSize ?? options.maxSctpMessageSize ?? 262144,
		sendBufferSize: options.sctpSendBufferSize ?? 2000000,
		perStreamSendQueueLimit: options.sctpPerStreamSendQueueLimit ?? 2000000,
		maxReceiverWindowBufferSize: options.sctpMaxReceiverWindowBufferSize ?? 5242880,
	};
}
