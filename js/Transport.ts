import { Logger } from './Logger';
import { EnhancedEventEmitter } from './enhancedEvents';
import type { Channel } from './Channel';
import { Producer, ProducerOptions } from './Producer';
import { Consumer, ConsumerOptions } from './Consumer';
import { DataProducer, DataProducerOptions } from './DataProducer';
import { DataConsumer, DataConsumerOptions } from './DataConsumer';
import * as ortc from './ortc';
import * as utils from './utils';
import { NotFoundError, UnsupportedError } from './errors';
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
	'@newdataproducer': [DataProducer];
	'@dataproducerclose': [DataProducer];
	'@listenserverclose': [];
};

export type TransportObserverEvents = {
	close: [];
	newproducer: [Producer];
	newconsumer: [Consumer];
		newdataproducer: [DataProducer];
	newdataconsumer: [DataConsumer];
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
	getDataProducerById?: (dataProducerId: string) => DataProducer | undefined;
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
	readonly #dataProducers = new Map<string, DataProducer>();
	readonly #dataConsumers = new Map<string, DataConsumer>();
	readonly #getDataProducerById: (id: string) => DataProducer | undefined;
	readonly #usedSctpStreamIds = new Set<number>();
	#cnameForProducers?: string;
	#nextMidForConsumers = 0;
	readonly #observer: Observer;

	constructor(options: TransportConstructorOptions<TransportAppData>, observer: Observer) {
		const { internal, channel, appData, getRouterRtpCapabilities, getProducerById } = options;
		super();
		this.internal = internal;
		this.channel = channel;
		this.#appData = appData ?? ({} as TransportAppData);
		this.#getRouterRtpCapabilities = getRouterRtpCapabilities;
		this.getProducerById = getProducerById;
		this.#getDataProducerById = (options as TransportConstructorOptions<TransportAppData>).getDataProducerById ?? (() => undefined);
		this.#observer = observer;
		this.on('listenererror', (eventName: string, error: Error) => {
			logger.error(`event listener threw an error [eventName:${eventName}]:`, error);
		});
		// 'trace' is common to every transport type; the subclasses handle their own events.
		this.channel.on(this.internal.transportId, (event: string, data: any) => {
			if (event === 'trace') {
				this.safeEmit('trace', data);
				this.#observer.safeEmit('trace', data);
			}
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
		for (const dp of this.#dataProducers.values()) {
			dp.transportClosed();
			this.emit('@dataproducerclose', dp);
		}
		this.#dataProducers.clear();
		for (const dc of this.#dataConsumers.values()) {
			dc.transportClosed();
		}
		this.#dataConsumers.clear();
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
		e2ee,
		appData,
	}: ProducerOptions<ProducerAppData>): Promise<Producer<ProducerAppData>> {
		logger.debug('produce()');
		if (e2ee !== undefined && e2ee !== 'whole-frame' && e2ee !== 'clear-prefix') {
			throw new TypeError(`invalid e2ee "${String(e2ee)}" (expected 'whole-frame' or 'clear-prefix')`);
		}
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
			e2ee,
		});
		const producer = new Producer<ProducerAppData>({
			internal: { ...this.internal, producerId },
			data: { kind, rtpParameters: params, type: reply.type, consumableRtpParameters, e2ee },
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
		if (producer.e2ee && (this.type === 'plain' || this.type === 'direct')) {
			throw new UnsupportedError(
				`Producer with id "${producerId}" is end-to-end encrypted (e2ee: '${producer.e2ee}'): a ${this.type === 'plain' ? 'PlainTransport' : 'DirectTransport'} consumer (recording, server-side processing) would only get ciphertext, the keys never reach the server`
			);
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

		/** Data from the remote (an SCTP stream), or from Node on a DirectTransport. */
	async produceData<D extends AppData = AppData>({
		id,
		sctpStreamParameters,
		label = '',
		protocol = '',
		paused = false,
		appData,
	}: DataProducerOptions<D> = {}): Promise<DataProducer<D>> {
		logger.debug('produceData()');
		if (id && this.#dataProducers.has(id)) {
			throw new TypeError(`a DataProducer with same id "${id}" already exists`);
		}
		utils.checkAppData(appData);
		let type: 'sctp' | 'direct';
		let params = utils.clone(sctpStreamParameters);
		if (this.type !== 'direct') {
			type = 'sctp';
			ortc.validateAndNormalizeSctpStreamParameters(params as any);
		} else {
			type = 'direct';
			if (params) {
				logger.warn('produceData() | sctpStreamParameters are ignored when producing data on a DirectTransport');
				params = undefined;
			}
		}
		const dataProducerId = id ?? utils.generateUUIDv4();
		const dump = await this.channel.request('transport.produceData', this.internal.transportId, {
			dataProducerId,
			type,
			sctpStreamParameters: params,
			label,
			protocol,
			paused,
		});
		const dataProducer = new DataProducer<D>({
			internal: { ...this.internal, dataProducerId },
			data: { type, sctpStreamParameters: dump.sctpStreamParameters ?? undefined, label: dump.label, protocol: dump.protocol },
			channel: this.channel,
			paused,
			appData,
		});
		this.#dataProducers.set(dataProducer.id, dataProducer);
		dataProducer.on('@close', () => {
			this.#dataProducers.delete(dataProducer.id);
			this.emit('@dataproducerclose', dataProducer);
		});
		this.emit('@newdataproducer', dataProducer);
		this.#observer.safeEmit('newdataproducer', dataProducer);
		return dataProducer;
	}

	/** Data of a router's DataProducer to this transport's remote (or to Node if direct). */
	async consumeData<D extends AppData = AppData>({
		dataProducerId,
		ordered,
		maxPacketLifeTime,
		maxRetransmits,
		paused = false,
		subchannels,
		appData,
	}: DataConsumerOptions<D>): Promise<DataConsumer<D>> {
		logger.debug('consumeData()');
		if (!dataProducerId || typeof dataProducerId !== 'string') {
			throw new TypeError('missing dataProducerId');
		}
		utils.checkAppData(appData);
		const dataProducer = this.#getDataProducerById(dataProducerId);
		if (!dataProducer) {
			throw new NotFoundError(`DataProducer with id "${dataProducerId}" not found`);
		}
		let type: 'sctp' | 'direct';
		let sctpStreamParameters: any;
		let streamId: number | undefined;
		if (this.type !== 'direct') {
			type = 'sctp';
			const os = (this as any).sctpParameters?.OS;
			if (typeof os !== 'number') {
				throw new TypeError('SCTP not enabled in this transport (enableSctp)');
			}
			streamId = this.#nextSctpStreamId(os);
			sctpStreamParameters = utils.clone(dataProducer.sctpStreamParameters) ?? { ordered: true };
			sctpStreamParameters.streamId = streamId;
			// As mediasoup 3.27: an ordered consumer is reliable whatever the producer's stream
			// is (its partial-reliability limits are cleared); an unordered one takes the limits
			// given here.
			if (ordered !== undefined) {
				sctpStreamParameters.ordered = ordered;
				if (ordered) {
					delete sctpStreamParameters.maxPacketLifeTime;
					delete sctpStreamParameters.maxRetransmits;
				}
			}
			if (!ordered) {
				if (maxPacketLifeTime !== undefined) {
					sctpStreamParameters.ordered = false;
					sctpStreamParameters.maxPacketLifeTime = maxPacketLifeTime;
				}
				if (maxRetransmits !== undefined) {
					sctpStreamParameters.ordered = false;
					sctpStreamParameters.maxRetransmits = maxRetransmits;
				}
			}
			sctpStreamParameters.ordered ??= true;
		} else {
			type = 'direct';
		}
		const dataConsumerId = utils.generateUUIDv4();
		let dump: any;
		try {
			dump = await this.channel.request('transport.consumeData', this.internal.transportId, {
				dataConsumerId,
				dataProducerId,
				type,
				sctpStreamParameters,
				label: dataProducer.label,
				protocol: dataProducer.protocol,
				paused,
				subchannels,
			});
		} catch (error) {
			if (streamId !== undefined) {
				this.#usedSctpStreamIds.delete(streamId);
			}
			throw error;
		}
		const dataConsumer = new DataConsumer<D>({
			internal: { ...this.internal, dataConsumerId },
			data: {
				dataProducerId,
				type,
				sctpStreamParameters: dump.sctpStreamParameters ?? undefined,
				label: dump.label,
				protocol: dump.protocol,
				bufferedAmountLowThreshold: dump.bufferedAmountLowThreshold,
			},
			channel: this.channel,
			paused: dump.paused,
			dataProducerPaused: dump.dataProducerPaused,
			subchannels: dump.subchannels,
			appData,
		});
		this.#dataConsumers.set(dataConsumer.id, dataConsumer);
		const release = () => {
			this.#dataConsumers.delete(dataConsumer.id);
			if (streamId !== undefined) {
				this.#usedSctpStreamIds.delete(streamId);
			}
		};
		dataConsumer.on('@close', release);
		dataConsumer.on('@dataproducerclose', release);
		this.#observer.safeEmit('newdataconsumer', dataConsumer);
		return dataConsumer;
	}

	#nextSctpStreamId(os: number): number {
		for (let i = 0; i < os; i++) {
			if (!this.#usedSctpStreamIds.has(i)) {
				this.#usedSctpStreamIds.add(i);
				return i;
			}
		}
		throw new Error('no sctpStreamId available');
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
