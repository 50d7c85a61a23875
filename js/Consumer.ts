import { Logger } from './Logger';
import * as utils from './utils';
import { EnhancedEventEmitter } from './enhancedEvents';
import type { Channel } from './Channel';
import type { MediaKind, RtpCapabilities, RtpParameters } from './rtpParametersTypes';
import type { AppData } from './types';

const logger = new Logger('Consumer');

export type ConsumerLayers = { spatialLayer: number; temporalLayer?: number };

export type ConsumerOptions<T extends AppData = AppData> = {
	producerId: string;
	rtpCapabilities: RtpCapabilities;
	paused?: boolean;
	mid?: string;
	preferredLayers?: ConsumerLayers;
	ignoreDtx?: boolean;
	enableRtx?: boolean;
	pipe?: boolean;
	appData?: T;
};

export type ConsumerType = 'simple' | 'simulcast' | 'svc' | 'pipe';

export type ConsumerScore = { score: number; producerScore: number; producerScores: number[] };

export type ConsumerTraceEventType = 'rtp' | 'keyframe' | 'nack' | 'pli' | 'fir';

export type ConsumerTraceEventData = {
	type: ConsumerTraceEventType;
	timestamp: number;
	direction: 'in' | 'out';
	info: any;
};

export type ConsumerStat = {
	type: string;
	timestamp: number;
	ssrc: number;
	rtxSsrc?: number;
	kind: string;
	mimeType: string;
	packetsLost: number;
	fractionLost: number;
	packetsDiscarded: number;
	packetsRetransmitted: number;
	packetsRepaired: number;
	nackCount: number;
	nackPacketCount: number;
	pliCount: number;
	firCount: number;
	score: number;
	packetCount: number;
	byteCount: number;
	bitrate: number;
	roundTripTime?: number;
};

export type ConsumerDump = {
	id: string;
	producerId: string;
	kind: MediaKind;
	type: ConsumerType;
	rtpParameters: RtpParameters;
	consumableRtpEncodings?: any[];
	supportedCodecPayloadTypes: number[];
	traceEventTypes: string[];
	paused: boolean;
	producerPaused: boolean;
	priority: number;
};

export type ConsumerEvents = {
	transportclose: [];
	producerclose: [];
	producerpause: [];
	producerresume: [];
	score: [ConsumerScore];
	layerschange: [ConsumerLayers?];
	trace: [ConsumerTraceEventData];
	rtp: [Buffer];
	listenererror: [string, Error];
	'@close': [];
	'@producerclose': [];
};

export type ConsumerObserverEvents = {
	close: [];
	pause: [];
	resume: [];
	score: [ConsumerScore];
	layerschange: [ConsumerLayers?];
	trace: [ConsumerTraceEventData];
};

export type ConsumerObserver = EnhancedEventEmitter<ConsumerObserverEvents>;

export class Consumer<ConsumerAppData extends AppData = AppData> extends EnhancedEventEmitter<ConsumerEvents> {
	readonly #internal: { routerId: string; transportId: string; consumerId: string };
	readonly #data: { producerId: string; kind: MediaKind; rtpParameters: RtpParameters; type: ConsumerType };
	readonly #channel: Channel;
	#closed = false;
	#appData: ConsumerAppData;
	#paused: boolean;
	#producerPaused: boolean;
	#priority = 1;
	#score: ConsumerScore;
	#preferredLayers?: ConsumerLayers;
	#currentLayers?: ConsumerLayers;
	readonly #observer: ConsumerObserver = new EnhancedEventEmitter();

	/** @private */
	constructor({
		internal,
		data,
		channel,
		appData,
		paused,
		producerPaused,
		score = { score: 10, producerScore: 10, producerScores: [] },
		preferredLayers,
	}: {
		internal: { routerId: string; transportId: string; consumerId: string };
		data: { producerId: string; kind: MediaKind; rtpParameters: RtpParameters; type: ConsumerType };
		channel: Channel;
		appData?: ConsumerAppData;
		paused: boolean;
		producerPaused: boolean;
		score?: ConsumerScore;
		preferredLayers?: ConsumerLayers;
	}) {
		super();
		this.#internal = internal;
		this.#data = data;
		this.#channel = channel;
		this.#appData = appData ?? ({} as ConsumerAppData);
		this.#paused = paused;
		this.#producerPaused = producerPaused;
		this.#score = score;
		this.#preferredLayers = preferredLayers;
		this.#channel.on(this.#internal.consumerId, (event: string, d: any) => this.#onNotification(event, d));
		this.on('listenererror', (eventName, error) => {
			logger.error(`event listener threw an error [eventName:${eventName}]:`, error);
		});
	}

	get id(): string {
		return this.#internal.consumerId;
	}

	get producerId(): string {
		return this.#data.producerId;
	}

	get closed(): boolean {
		return this.#closed;
	}

	get kind(): MediaKind {
		return this.#data.kind;
	}

	get rtpParameters(): RtpParameters {
		return utils.clone(this.#data.rtpParameters);
	}

	get type(): ConsumerType {
		return this.#data.type;
	}

	get paused(): boolean {
		return this.#paused;
	}

	get producerPaused(): boolean {
		return this.#producerPaused;
	}

	get priority(): number {
		return this.#priority;
	}

	get score(): ConsumerScore {
		return utils.clone(this.#score);
	}

	get preferredLayers(): ConsumerLayers | undefined {
		return utils.clone(this.#preferredLayers);
	}

	get currentLayers(): ConsumerLayers | undefined {
		return utils.clone(this.#currentLayers);
	}

	get appData(): ConsumerAppData {
		return this.#appData;
	}

	set appData(appData: ConsumerAppData) {
		this.#appData = appData;
	}

	get observer(): ConsumerObserver {
		return this.#observer;
	}

	close(): void {
		if (this.#closed) {
			return;
		}
		logger.debug('close()');
		this.#closed = true;
		this.#channel.removeAllListeners(this.#internal.consumerId);
		this.#channel
			.request('transport.closeConsumer', this.#internal.transportId, { consumerId: this.id })
			.catch(() => {});
		this.emit('@close');
		this.#observer.safeEmit('close');
	}

	/** @private */
	transportClosed(): void {
		if (this.#closed) {
			return;
		}
		logger.debug('transportClosed()');
		this.#closed = true;
		this.#channel.removeAllListeners(this.#internal.consumerId);
		this.safeEmit('transportclose');
		this.#observer.safeEmit('close');
	}

	async dump(): Promise<ConsumerDump> {
		logger.debug('dump()');
		return this.#channel.request('consumer.dump', this.id);
	}

	async getStats(): Promise<any[]> {
		logger.debug('getStats()');
		return this.#channel.request('consumer.getStats', this.id);
	}

	async pause(): Promise<void> {
		logger.debug('pause()');
		await this.#channel.request('consumer.pause', this.id);
		const wasPaused = this.#paused;
		this.#paused = true;
		if (!wasPaused && !this.#producerPaused) {
			this.#observer.safeEmit('pause');
		}
	}

	async resume(): Promise<void> {
		logger.debug('resume()');
		await this.#channel.request('consumer.resume', this.id);
		const wasPaused = this.#paused;
		this.#paused = false;
		if (wasPaused && !this.#producerPaused) {
			this.#observer.safeEmit('resume');
		}
	}

	async setPreferredLayers({ spatialLayer, temporalLayer }: ConsumerLayers): Promise<void> {
		logger.debug('setPreferredLayers()');
		if (typeof spatialLayer !== 'number') {
			throw new TypeError('spatialLayer must be a number');
		}
		if (temporalLayer != null && typeof temporalLayer !== 'number') {
			throw new TypeError('if given, temporalLayer must be a number');
		}
		const data = await this.#channel.request('consumer.setPreferredLayers', this.id, { spatialLayer, temporalLayer });
		this.#preferredLayers = data ?? undefined;
	}

	async setPriority(priority: number): Promise<void> {
		logger.debug('setPriority()');
		if (typeof priority !== 'number' || priority < 0) {
			throw new TypeError('priority must be a positive number');
		}
		const data = await this.#channel.request('consumer.setPriority', this.id, { priority });
		this.#priority = data.priority;
	}

	async unsetPriority(): Promise<void> {
		await this.setPriority(1);
	}

	async requestKeyFrame(): Promise<void> {
		logger.debug('requestKeyFrame()');
		await this.#channel.request('consumer.requestKeyFrame', this.id);
	}

	async enableTraceEvent(types: ConsumerTraceEventType[] = []): Promise<void> {
		logger.debug('enableTraceEvent()');
		if (!Array.isArray(types)) {
			throw new TypeError('types must be an array');
		}
		if (types.some(t => typeof t !== 'string')) {
			throw new TypeError('every type must be a string');
		}
		await this.#channel.request('consumer.enableTraceEvent', this.id, { types });
	}

	#onNotification(event: string, data: any): void {
		switch (event) {
			case 'producerclose':
				if (this.#closed) {
					break;
				}
				this.#closed = true;
				this.#channel.removeAllListeners(this.#internal.consumerId);
				this.emit('@producerclose');
				this.safeEmit('producerclose');
				this.#observer.safeEmit('close');
				break;
			case 'producerpause':
				if (this.#producerPaused) {
					break;
				}
				this.#producerPaused = true;
				this.safeEmit('producerpause');
				if (!this.#paused) {
					this.#observer.safeEmit('pause');
				}
				break;
			case 'producerresume':
				if (!this.#producerPaused) {
					break;
				}
				this.#producerPaused = false;
				this.safeEmit('producerresume');
				if (!this.#paused) {
					this.#observer.safeEmit('resume');
				}
				break;
			case 'score':
				this.#score = data;
				this.safeEmit('score', data);
				this.#observer.safeEmit('score', data);
				break;
			case 'layerschange':
				this.#currentLayers = data ?? undefined;
				this.safeEmit('layerschange', this.#currentLayers);
				this.#observer.safeEmit('layerschange', this.#currentLayers);
				break;
			case 'trace':
				this.safeEmit('trace', data);
				this.#observer.safeEmit('trace', data);
				break;
			case 'rtp':
				// RTP of a consumer on a DirectTransport, as a Buffer.
				if (!this.#closed) {
					this.safeEmit('rtp', data);
				}
				break;
			default:
				logger.error(`ignoring unknown event "${event}"`);
		}
	}
}
