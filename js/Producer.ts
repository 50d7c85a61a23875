import { Logger } from './Logger';
import * as utils from './utils';
import { EnhancedEventEmitter } from './enhancedEvents';
import type { Channel } from './Channel';
import type { MediaKind, RtpParameters } from './rtpParametersTypes';
import type { AppData } from './types';

const logger = new Logger('Producer');

export type ProducerOptions<T extends AppData = AppData> = {
	id?: string;
	kind: MediaKind;
	rtpParameters: RtpParameters;
	paused?: boolean;
	keyFrameRequestDelay?: number;
	enableMediasoupPacketIdHeaderExtension?: boolean;
	/**
	 * peerwave-sfu extension (mediasoup has no such option; an application that does not set
	 * it sees no change). The producer's media frames are end-to-end encrypted by its sender
	 * (for instance with `peerwave-sfu/e2ee`), so the SFU must not read their payload:
	 * - `'whole-frame'`: nothing after the RTP payload descriptor is readable. Keyframes and
	 *   switch points are inferred from what stays readable (see the README's E2EE section);
	 * - `'clear-prefix'`: the codec's first bytes stay clear (VP8: 10 on keyframes, 3 on delta
	 *   frames; Opus: 1), so keyframes are read as usual, never deeper.
	 * Such a producer cannot be consumed through a PlainTransport or a DirectTransport (they
	 * serve recording and server-side processing, which would get ciphertext): `consume()`
	 * rejects with UnsupportedError. Pipe consumers (pipeToRouter) carry the flag along.
	 */
	e2ee?: ProducerE2ee;
	appData?: T;
};

/** How a producer's frames are end-to-end encrypted (peerwave-sfu extension). */
export type ProducerE2ee = 'whole-frame' | 'clear-prefix';

export type ProducerType = 'simple' | 'simulcast' | 'svc';

export type ProducerScore = { encodingIdx: number; ssrc: number; rid?: string; score: number };

export type ProducerVideoOrientation = { camera: boolean; flip: boolean; rotation: number };

export type ProducerTraceEventType = 'rtp' | 'keyframe' | 'nack' | 'pli' | 'fir' | 'sr';

export type ProducerTraceEventData = {
	type: ProducerTraceEventType;
	timestamp: number;
	direction: 'in' | 'out';
	info: any;
};

export type ProducerStat = {
	type: string;
	timestamp: number;
	ssrc: number;
	rtxSsrc?: number;
	rid?: string;
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
	jitter: number;
	bitrateByLayer?: any;
};

export type ProducerDump = {
	id: string;
	kind: string;
	type: ProducerType;
	rtpParameters: RtpParameters;
	rtpMapping: any;
	rtpStreams: any[];
	traceEventTypes: string[];
	paused: boolean;
};

export type ProducerEvents = {
	transportclose: [];
	score: [ProducerScore[]];
	videoorientationchange: [ProducerVideoOrientation];
	trace: [ProducerTraceEventData];
	listenererror: [string, Error];
	'@close': [];
};

export type ProducerObserverEvents = {
	close: [];
	pause: [];
	resume: [];
	score: [ProducerScore[]];
	videoorientationchange: [ProducerVideoOrientation];
	trace: [ProducerTraceEventData];
};

export type ProducerObserver = EnhancedEventEmitter<ProducerObserverEvents>;

export class Producer<ProducerAppData extends AppData = AppData> extends EnhancedEventEmitter<ProducerEvents> {
	readonly #internal: { routerId: string; transportId: string; producerId: string };
	readonly #data: { kind: MediaKind; rtpParameters: RtpParameters; type: ProducerType; consumableRtpParameters: RtpParameters; e2ee?: ProducerE2ee };
	readonly #channel: Channel;
	#closed = false;
	#appData: ProducerAppData;
	#paused: boolean;
	#score: ProducerScore[] = [];
	readonly #observer: ProducerObserver = new EnhancedEventEmitter();

	/** @private */
	constructor({
		internal,
		data,
		channel,
		appData,
		paused,
	}: {
		internal: { routerId: string; transportId: string; producerId: string };
		data: { kind: MediaKind; rtpParameters: RtpParameters; type: ProducerType; consumableRtpParameters: RtpParameters; e2ee?: ProducerE2ee };
		channel: Channel;
		appData?: ProducerAppData;
		paused: boolean;
	}) {
		super();
		this.#internal = internal;
		this.#data = data;
		this.#channel = channel;
		this.#appData = appData ?? ({} as ProducerAppData);
		this.#paused = paused;
		this.#channel.on(this.#internal.producerId, (event: string, d: any) => this.#onNotification(event, d));
		this.on('listenererror', (eventName, error) => {
			logger.error(`event listener threw an error [eventName:${eventName}]:`, error);
		});
	}

	get id(): string {
		return this.#internal.producerId;
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

	get type(): ProducerType {
		return this.#data.type;
	}

	/** peerwave-sfu extension: how the producer's frames are end-to-end encrypted, if they are. */
	get e2ee(): ProducerE2ee | undefined {
		return this.#data.e2ee;
	}

	/** @private The parameters consumers derive theirs from. */
	get consumableRtpParameters(): RtpParameters {
		return utils.clone(this.#data.consumableRtpParameters);
	}

	get paused(): boolean {
		return this.#paused;
	}

	get score(): ProducerScore[] {
		return utils.clone(this.#score);
	}

	get appData(): ProducerAppData {
		return this.#appData;
	}

	set appData(appData: ProducerAppData) {
		this.#appData = appData;
	}

	get observer(): ProducerObserver {
		return this.#observer;
	}

	close(): void {
		if (this.#closed) {
			return;
		}
		logger.debug('close()');
		this.#closed = true;
		this.#channel.removeAllListeners(this.#internal.producerId);
		this.#channel
			.request('transport.closeProducer', this.#internal.transportId, { producerId: this.id })
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
		this.#channel.removeAllListeners(this.#internal.producerId);
		this.safeEmit('transportclose');
		this.#observer.safeEmit('close');
	}

	async dump(): Promise<ProducerDump> {
		logger.debug('dump()');
		return this.#channel.request('producer.dump', this.id);
	}

	async getStats(): Promise<ProducerStat[]> {
		logger.debug('getStats()');
		return this.#channel.request('producer.getStats', this.id);
	}

	async pause(): Promise<void> {
		logger.debug('pause()');
		await this.#channel.request('producer.pause', this.id);
		const wasPaused = this.#paused;
		this.#paused = true;
		if (!wasPaused) {
			this.#observer.safeEmit('pause');
		}
	}

	async resume(): Promise<void> {
		logger.debug('resume()');
		await this.#channel.request('producer.resume', this.id);
		const wasPaused = this.#paused;
		this.#paused = false;
		if (wasPaused) {
			this.#observer.safeEmit('resume');
		}
	}

	/** Sends an RTP packet into this producer (only for producers of a DirectTransport). */
	send(rtpPacket: Buffer): void {
		if (!Buffer.isBuffer(rtpPacket)) {
			throw new TypeError('rtpPacket must be a Buffer');
		}
		this.#channel.notifyBinary('producer.send', this.id, rtpPacket);
	}

	async enableTraceEvent(types: ProducerTraceEventType[] = []): Promise<void> {
		logger.debug('enableTraceEvent()');
		if (!Array.isArray(types)) {
			throw new TypeError('types must be an array');
		}
		if (types.some(t => typeof t !== 'string')) {
			throw new TypeError('every type must be a string');
		}
		await this.#channel.request('producer.enableTraceEvent', this.id, { types });
	}

	#onNotification(event: string, data: any): void {
		switch (event) {
			case 'score':
				this.#score = data;
				this.safeEmit('score', data);
				this.#observer.safeEmit('score', data);
				break;
			case 'videoorientationchange':
				this.safeEmit('videoorientationchange', data);
				this.#observer.safeEmit('videoorientationchange', data);
				break;
			case 'trace':
				this.safeEmit('trace', data);
				this.#observer.safeEmit('trace', data);
				break;
			default:
				logger.error(`ignoring unknown event "${event}"`);
		}
	}
}
