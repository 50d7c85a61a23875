import { Logger } from './Logger';
import { EnhancedEventEmitter } from './enhancedEvents';
import type { Channel } from './Channel';
import { Producer, ProducerOptions } from './Producer';
import { Consumer, ConsumerOptions } from './Consumer';
import * as ortc from './ortc';
import * as utils from './utils';
import { NotFoundError } from './errors';
import type { RtpCapabilities, RtpParameters } from './rtpParametersTypes';
import type { AppData } from './types';

const logger = new Logger('Transport');

export type TransportProtocol = 'udp' | 'tcp';

export type TransportPortRange = { min: number; max: number };

export type TransportSocketFlags = { ipv6Only?: boolean; udpReusePort?: boolean };

export type TransportListenInfo = {
	protocol: TransportProtocol;
	ip: string;
	announcedAddress?: string;
	/** @deprecated Use announcedAddress. */
	announcedIp?: string;
	exposeInternalIp?: boolean;
	port?: number;
	portRange?: TransportPortRange;
	flags?: TransportSocketFlags;
	sendBufferSize?: number;
	recvBufferSize?: number;
};

/** mediasoup ≤ 3.13's listen address form. */
export type TransportListenIp = { ip: string; announcedIp?: string };

export type TransportTuple = {
	localAddress: string;
	/** @deprecated Use localAddress. */
	localIp: string;
	localPort: number;
	remoteIp?: string;
	remotePort?: number;
	protocol: TransportProtocol;
};

export type SctpState = 'new' | 'connecting' | 'connected' | 'failed' | 'closed';

export type TransportTraceEventType = 'probation' | 'bwe';

export type TransportTraceEventData = {
	type: TransportTraceEventType;
	timestamp: number;
	direction: 'in' | 'out';
	info: any;
};

export type BaseTransportDump = {
	id: string;
	direct: boolean;
	producerIds: string[];
	consumerIds: string[];
	mapSsrcConsumerId: { key: number; value: string }[];
	mapRtxSsrcConsumerId: { key: number; value: string }[];
	recvRtpHeaderExtensions: any;
	rtpListener: any;
	maxMessageSize: number;
	dataProducerIds: string[];
	dataConsumerIds: string[];
	traceEventTypes: string[];
};

export type BaseTransportStats = {
	type: string;
	transportId: string;
	timestamp: number;
	sctpState?: SctpState;
	bytesReceived: number;
	recvBitrate: number;
	bytesSent: number;
	sendBitrate: number;
	rtpBytesReceived: number;
	rtpRecvBitrate: number;
	rtpBytesSent: number;
	rtpSendBitrate: number;
	rtxBytesReceived: number;
	rtxRecvBitrate: number;
	rtxBytesSent: number;
	rtxSendBitrate: number;
	probationBytesSent: number;
	probationSendBitrate: number;
	availableOutgoingBitrate?: number;
	availableIncomingBitrate?: number;
	maxIncomingBitrate?: number;
};

export type TransportEvents = {
	routerclose: [];
	listenserverclose: [];
	trace: [TransportTraceEventData];
	listenererror: [string, Error];
	'@close': [];
	'@newproducer': [Producer];
	'@producerclose': [Producer];
	'@listenserverclose': [];
};

export type TransportObserverEvents = {
	close: [];
	newproducer: [Producer];
	newconsumer: [Consumer];
	newdataproducer: [any];
	newdataconsumer: [any];
	trace: [TransportTraceEventData];
};

export type TransportObserver = EnhancedEventEmitter<TransportObserverEvents>;

export type TransportConstructorOptions<T extends AppData> = {
	internal: { routerId: string; transportId: string };
	data: any;
	channel: Channel;
	appData?: T;
	getRouterRtpCapabilities: () => RtpCapabilities;
	getProducerById: (producerId: string) => Producer | undefined;
};

/** What every transport has: producers, consumers, stats, bitrate limits. */
export abstract class Transport<
	TransportAppData extends AppData = AppData,
	Events extends TransportEvents = TransportEvents,
	Observer extends TransportObserver = TransportObserver,
> extends EnhancedEventEmitter<Events> {
	protected readonly internal: { routerId: string; transportId: string };
	protected readonly channel: Channel;
	#closed = false;
	#appData: TransportAppData;
	readonly #getRouterRtpCapabilities: () => RtpCapabilities;
	protected readonly getProducerById: (producerId: string) => Producer | undefined;
	readonly #producers = new Map<string, Producer>();
	protected readonly consumers = new Map<string, Consumer>();
	#cnameForProducers?: string;
	#nextMidForConsumers = 0;
	readonly #observer: Observer;

	constructor({ internal, channel, appData, getRouterRtpCapabilities, getProducerById }: TransportConstructorOptions<TransportAppData>, observer: Observer) {
		super();
		this.internal = internal;
		this.channel = channel;
		this.#appData = appData ?? ({} as TransportAppData);
		this.#getRouterRtpCapabilities = getRouterRtpCapabilities;
		this.getProducerById = getProducerById;
		this.#observer = observer;
		this.on('listenererror', (eventName: string, error: Error) => {
			logger.error(`event listener threw an error [eventName:${eventName}]:`, error);
		});
	}

	abstract get type(): string;

	get id(): string {
		return this.internal.transportId;
	}

	get closed(): boolean {
		return this.#closed;
	}

	get appData(): TransportAppData {
		return this.#appData;
	}

	set appData(appData: TransportAppData) {
		this.#appData = appData;
	}

	get observer(): Observer {
		return this.#observer;
	}

	close(): void {
		if (this.#closed) {
			return;
		}
		logger.debug('close()');
		this.#closed = true;
		this.channel.removeAllListeners(this.internal.transportId);
		this.channel.request('router.closeTransport', this.internal.routerId, { transportId: this.id }).catch(() => {});
		this.#closeChildren();
		this.emit('@close');
		this.#observer.safeEmit('close');
	}

	/** @private */
	routerClosed(): void {
		if (this.#closed) {
			return;
		}
		logger.debug('routerClosed()');
		this.#closed = true;
		this.channel.removeAllListeners(this.internal.transportId);
		this.#closeChildren();
		this.safeEmit('routerclose');
		this.#observer.safeEmit('close');
	}

	/** @private Its WebRtcServer closed. */
	listenServerClosed(): void {
		if (this.#closed) {
			return;
		}
		logger.debug('listenServerClosed()');
		this.#closed = true;
		this.channel.removeAllListeners(this.internal.transportId);
		this.#closeChildren();
		this.emit('@listenserverclose');
		this.safeEmit('listenserverclose');
		this.#observer.safeEmit('close');
	}

	#closeChildren(): void {
		for (const producer of this.#producers.values()) {
			producer.transportClosed();
			this.emit('@producerclose', producer);
		}
		this.#producers.clear();
		for (const consumer of this.consumers.values()) {
			consumer.transportClosed();
		}
		this.consumers.clear();
	}

	async dump(): Promise<any> {
		logger.debug('dump()');
		return this.channel.request('transport.dump', this.internal.transportId);
	}

	async getStats(): Promise<any[]> {
		logger.debug('getStats()');
		return this.channel.request('transport.getStats', this.internal.transportId);
	}

	abstract connect(params: any): Promise<void>;

	async setMaxIncomingBitrate(bitrate: number): Promise<void> {
		logger.debug('setMaxIncomingBitrate() [bitrate:%s]', bitrate);
		checkBitrate(bitrate);
		await this.channel.request('transport.setMaxIncomingBitrate', this.internal.transportId, { bitrate });
	}

	async setMaxOutgoingBitrate(bitrate: number): Promise<void> {
		logger.debug('setMaxOutgoingBitrate() [bitrate:%s]', bitrate);
		checkBitrate(bitrate);
		await this.channel.request('transport.setMaxOutgoingBitrate', this.internal.transportId, { bitrate });
	}

	async setMinOutgoingBitrate(bitrate: number): Promise<void> {
		logger.debug('setMinOutgoingBitrate() [bitrate:%s]', bitrate);
		checkBitrate(bitrate);
		await this.channel.request('transport.setMinOutgoingBitrate', this.internal.transportId, { bitrate });
	}

	async enableTraceEvent(types: TransportTraceEventType[] = []): Promise<void> {
		logger.debug('enableTraceEvent()');
		if (!Array.isArray(types)) {
			throw new TypeError('types must be an array');
		}
		if (types.some(t => typeof t !== 'string')) {
			throw new TypeError('every type must be a string');
		}
		await this.channel.request('transport.enableTraceEvent', this.internal.transportId, { types });
	}

	async produce<ProducerAppData extends AppData = AppData>({
		id,
		kind,
		rtpParameters,
		paused = false,
		keyFrameRequestDelay,
		appData,
	}: ProducerOptions<ProducerAppData>): Promise<Producer<ProducerAppData>> {
		logger.debug('produce()');
		if (id && this.#producers.has(id)) {
			throw new TypeError(`a Producer with same id "${id}" already exists`);
		} else if (!['audio', 'video'].includes(kind)) {
			throw new TypeError(`invalid kind "${kind}"`);
		}
		utils.checkAppData(appData);
		const params = utils.clone(rtpParameters);
		ortc.validateAndNormalizeRtpParameters(params);
		if (!params.encodings || params.encodings.length === 0) {
			params.encodings = [{}];
		}
		if (this.type !== 'pipe') {
			if (!this.#cnameForProducers && params.rtcp?.cname) {
				this.#cnameForProducers = params.rtcp.cname;
			} else if (!this.#cnameForProducers) {
				this.#cnameForProducers = utils.generateUUIDv4().substring(0, 8);
			}
			params.rtcp = params.rtcp ?? {};
			params.rtcp.cname = this.#cnameForProducers;
		} else if (!params.rtcp?.cname) {
			params.rtcp = params.rtcp ?? {};
			params.rtcp.cname = utils.generateUUIDv4().substring(0, 8);
		}
		const caps = this.#getRouterRtpCapabilities();
		const rtpMapping = ortc.getProducerRtpParametersMapping(params, caps);
		const consumableRtpParameters = ortc.getConsumableRtpParameters(kind, params, caps, rtpMapping);
		const producerId = id ?? utils.generateUUIDv4();
		const type = producerType(params.encodings);
		const reply = await this.channel.request('transport.produce', this.internal.transportId, {
			producerId,
			kind,
			rtpParameters: params,
			rtpMapping,
			paused,
			keyFrameRequestDelay,
			type,
			consumableRtpParameters,
		});
		const producer = new Producer<ProducerAppData>({
			internal: { ...this.internal, producerId },
			data: { kind, rtpParameters: params, type: reply.type, consumableRtpParameters },
			channel: this.channel,
			appData,
			paused,
		});
		this.#producers.set(producer.id, producer);
		producer.on('@close', () => {
			this.#producers.delete(producer.id);
			this.emit('@producerclose', producer);
		});
		this.emit('@newproducer', producer);
		this.#observer.safeEmit('newproducer', producer);
		return producer;
	}

	async consume<ConsumerAppData extends AppData = AppData>({
		producerId,
		rtpCapabilities,
		paused = false,
		mid,
		preferredLayers,
		ignoreDtx = false,
		enableRtx,
		pipe = false,
		appData,
	}: ConsumerOptions<ConsumerAppData>): Promise<Consumer<ConsumerAppData>> {
		logger.debug('consume()');
		if (!producerId || typeof producerId !== 'string') {
			throw new TypeError('missing producerId');
		}
		utils.checkAppData(appData);
		if (mid && (typeof mid !== 'string' || mid.length === 0)) {
			throw new TypeError('if given, mid must be non empty string');
		}
		const caps = utils.clone(rtpCapabilities);
		ortc.validateAndNormalizeRtpCapabilities(caps);
		const producer = this.getProducerById(producerId);
		if (!producer) {
			throw new NotFoundError(`Producer with id "${producerId}" not found`);
		}
		enableRtx ??= producer.kind === 'video';
		const rtpParameters = ortc.getConsumerRtpParameters({
			consumableRtpParameters: producer.consumableRtpParameters,
			remoteRtpCapabilities: caps,
			pipe,
			enableRtx,
		});
		if (!pipe) {
			if (mid) {
				rtpParameters.mid = mid;
			} else {
				rtpParameters.mid = `${this.#nextMidForConsumers++}`;
				if (this.#nextMidForConsumers === 100000000) {
					logger.error(`consume() | reaching max MID value "${this.#nextMidForConsumers}"`);
					this.#nextMidForConsumers = 0;
				}
			}
		}
		return this.createConsumer<ConsumerAppData>(producer, rtpParameters, pipe ? 'pipe' : producer.type, {
			paused,
			preferredLayers,
			ignoreDtx,
			appData,
		});
	}

	/** @private Asks the worker for a consumer with these parameters. */
	protected async createConsumer<ConsumerAppData extends AppData>(
		producer: Producer,
		rtpParameters: RtpParameters,
		type: 'simple' | 'simulcast' | 'svc' | 'pipe',
		{ paused, preferredLayers, ignoreDtx, appData }: { paused: boolean; preferredLayers?: any; ignoreDtx: boolean; appData?: ConsumerAppData }
	): Promise<Consumer<ConsumerAppData>> {
		const consumerId = utils.generateUUIDv4();
		const status = await this.channel.request('transport.consume', this.internal.transportId, {
			consumerId,
			producerId: producer.id,
			kind: producer.kind,
			rtpParameters,
			type,
			consumableRtpEncodings: producer.consumableRtpParameters.encodings,
			paused,
			preferredLayers,
			ignoreDtx,
		});
		const consumer = new Consumer<ConsumerAppData>({
			internal: { ...this.internal, consumerId },
			data: { producerId: producer.id, kind: producer.kind, rtpParameters, type },
			channel: this.channel,
			appData,
			paused: status.paused,
			producerPaused: status.producerPaused,
			score: status.score,
			preferredLayers: status.preferredLayers ?? undefined,
		});
		this.consumers.set(consumer.id, consumer);
		consumer.on('@close', () => this.consumers.delete(consumer.id));
		consumer.on('@producerclose', () => this.consumers.delete(consumer.id));
		this.#observer.safeEmit('newconsumer', consumer);
		return consumer;
	}
}

function checkBitrate(bitrate: number): void {
	if (typeof bitrate !== 'number' || bitrate < 0 || Number.isNaN(bitrate)) {
		throw new TypeError('bitrate must be a non-negative number');
	}
}

function producerType(encodings: { scalabilityMode?: string }[]): 'simple' | 'simulcast' | 'svc' {
	if (encodings.length > 1) {
		return 'simulcast';
	}
	const m = /^[LS](\d+)T/.exec(encodings[0]?.scalabilityMode ?? '');
	return m && Number(m[1]) > 1 ? 'svc' : 'simple';
}
