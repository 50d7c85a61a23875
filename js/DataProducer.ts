import { Logger } from './Logger';
import * as utils from './utils';
import { EnhancedEventEmitter } from './enhancedEvents';
import type { Channel } from './Channel';
import type { AppData } from './types';

const logger = new Logger('DataProducer');

export type SctpStreamParameters = {
	streamId: number;
	ordered?: boolean;
	maxPacketLifeTime?: number;
	maxRetransmits?: number;
};

export type DataProducerType = 'sctp' | 'direct';

export type DataProducerOptions<T extends AppData = AppData> = {
	id?: string;
	sctpStreamParameters?: SctpStreamParameters;
	label?: string;
	protocol?: string;
	paused?: boolean;
	appData?: T;
};

export type DataProducerEvents = { transportclose: []; listenererror: [string, Error]; '@close': [] };
export type DataProducerObserverEvents = { close: []; pause: []; resume: [] };
export type DataProducerObserver = EnhancedEventEmitter<DataProducerObserverEvents>;

/** Messages into the router: from an SCTP stream (data channel) or sent from Node (direct). */
export class DataProducer<T extends AppData = AppData> extends EnhancedEventEmitter<DataProducerEvents> {
	readonly #internal: { routerId: string; transportId: string; dataProducerId: string };
	readonly #data: { type: DataProducerType; sctpStreamParameters?: SctpStreamParameters; label: string; protocol: string };
	readonly #channel: Channel;
	#closed = false;
	#paused: boolean;
	#appData: T;
	readonly #observer: DataProducerObserver = new EnhancedEventEmitter();

	/** @private */
	constructor({
		internal,
		data,
		channel,
		paused,
		appData,
	}: {
		internal: { routerId: string; transportId: string; dataProducerId: string };
		data: { type: DataProducerType; sctpStreamParameters?: SctpStreamParameters; label: string; protocol: string };
		channel: Channel;
		paused: boolean;
		appData?: T;
	}) {
		super();
		this.#internal = internal;
		this.#data = data;
		this.#channel = channel;
		this.#paused = paused;
		this.#appData = appData ?? ({} as T);
	}

	get id(): string {
		return this.#internal.dataProducerId;
	}

	get closed(): boolean {
		return this.#closed;
	}

	get type(): DataProducerType {
		return this.#data.type;
	}

	get sctpStreamParameters(): SctpStreamParameters | undefined {
		return utils.clone(this.#data.sctpStreamParameters);
	}

	get label(): string {
		return this.#data.label;
	}

	get protocol(): string {
		return this.#data.protocol;
	}

	get paused(): boolean {
		return this.#paused;
	}

	get appData(): T {
		return this.#appData;
	}

	set appData(appData: T) {
		this.#appData = appData;
	}

	get observer(): DataProducerObserver {
		return this.#observer;
	}

	close(): void {
		if (this.#closed) {
			return;
		}
		logger.debug('close()');
		this.#closed = true;
		this.#channel
			.request('transport.closeDataProducer', this.#internal.transportId, { dataProducerId: this.id })
			.catch(() => {});
		this.emit('@close');
		this.#observer.safeEmit('close');
	}

	/** @private */
	transportClosed(): void {
		if (this.#closed) {
			return;
		}
		this.#closed = true;
		this.safeEmit('transportclose');
		this.#observer.safeEmit('close');
	}

	async dump(): Promise<any> {
		return this.#channel.request('dataProducer.dump', this.id);
	}

	async getStats(): Promise<any[]> {
		return this.#channel.request('dataProducer.getStats', this.id);
	}

	async pause(): Promise<void> {
		await this.#channel.request('dataProducer.pause', this.id);
		const wasPaused = this.#paused;
		this.#paused = true;
		if (!wasPaused) {
			this.#observer.safeEmit('pause');
		}
	}

	async resume(): Promise<void> {
		await this.#channel.request('dataProducer.resume', this.id);
		const wasPaused = this.#paused;
		this.#paused = false;
		if (wasPaused) {
			this.#observer.safeEmit('resume');
		}
	}

	/**
	 * Sends a message into the router (DataProducers of a DirectTransport only). Strings go
	 * with PPID 51, Buffers with 53 (empty ones with 56/57) unless `ppid` is given.
	 */
	/**
	 * Sends a message to the DataConsumers subscribed to one of `subchannels` (all if none), to
	 * `requiredSubchannel` if given, and not to `ignoredSubchannel` (mediasoup 3.27).
	 */
	send(message: string | Buffer, ppid?: number, subchannels?: number[], requiredSubchannel?: number, ignoredSubchannel?: number): void {
		if (typeof message !== 'string' && !Buffer.isBuffer(message)) {
			throw new TypeError('message must be a string or a Buffer');
		}
		if (this.#data.type !== 'direct') {
			throw new TypeError('send() is only for DataProducers of a DirectTransport');
		}
		if (ppid === undefined) {
			if (typeof message === 'string') {
				ppid = message.length > 0 ? 51 : 56;
			} else {
				ppid = message.length > 0 ? 53 : 57;
			}
		}
		const payload = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
		this.#channel.notifyBinary('dataProducer.send', this.id, payload, { ppid, subchannels, requiredSubchannel, ignoredSubchannel });
	}
}
