import { Logger } from './Logger';
import * as utils from './utils';
import { EnhancedEventEmitter } from './enhancedEvents';
import type { Channel } from './Channel';
import type { SctpStreamParameters, DataProducerType } from './DataProducer';
import type { AppData } from './types';

const logger = new Logger('DataConsumer');

export type DataConsumerType = DataProducerType;

export type DataConsumerOptions<T extends AppData = AppData> = {
	dataProducerId: string;
	ordered?: boolean;
	maxPacketLifeTime?: number;
	maxRetransmits?: number;
	paused?: boolean;
	subchannels?: number[];
	appData?: T;
};

export type DataConsumerEvents = {
	transportclose: [];
	dataproducerclose: [];
	dataproducerpause: [];
	dataproducerresume: [];
	message: [Buffer, number];
	sctpsendbufferfull: [];
	bufferedamountlow: [number];
	listenererror: [string, Error];
	'@close': [];
	'@dataproducerclose': [];
};

export type DataConsumerObserverEvents = { close: []; pause: []; resume: [] };
export type DataConsumerObserver = EnhancedEventEmitter<DataConsumerObserverEvents>;

/** Messages out of the router: to an SCTP stream (data channel) or to Node (direct). */
export class DataConsumer<T extends AppData = AppData> extends EnhancedEventEmitter<DataConsumerEvents> {
	readonly #internal: { routerId: string; transportId: string; dataConsumerId: string };
	readonly #data: {
		dataProducerId: string;
		type: DataConsumerType;
		sctpStreamParameters?: SctpStreamParameters;
		label: string;
		protocol: string;
		bufferedAmountLowThreshold: number;
	};
	readonly #channel: Channel;
	#closed = false;
	#paused: boolean;
	#dataProducerPaused: boolean;
	#subchannels: number[];
	#appData: T;
	readonly #observer: DataConsumerObserver = new EnhancedEventEmitter();

	/** @private */
	constructor({
		internal,
		data,
		channel,
		paused,
		dataProducerPaused,
		subchannels,
		appData,
	}: {
		internal: { routerId: string; transportId: string; dataConsumerId: string };
		data: {
			dataProducerId: string;
			type: DataConsumerType;
			sctpStreamParameters?: SctpStreamParameters;
			label: string;
			protocol: string;
			bufferedAmountLowThreshold: number;
		};
		channel: Channel;
		paused: boolean;
		dataProducerPaused: boolean;
		subchannels: number[];
		appData?: T;
	}) {
		super();
		this.#internal = internal;
		this.#data = data;
		this.#channel = channel;
		this.#paused = paused;
		this.#dataProducerPaused = dataProducerPaused;
		this.#subchannels = subchannels;
		this.#appData = appData ?? ({} as T);
		this.#channel.on(this.#internal.dataConsumerId, (event: string, d: any, ppid?: number) => this.#onNotification(event, d, ppid));
	}

	get id(): string {
		return this.#internal.dataConsumerId;
	}

	get dataProducerId(): string {
		return this.#data.dataProducerId;
	}

	get closed(): boolean {
		return this.#closed;
	}

	get type(): DataConsumerType {
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

	get dataProducerPaused(): boolean {
		return this.#dataProducerPaused;
	}

	get subchannels(): number[] {
		return [...this.#subchannels];
	}

	get appData(): T {
		return this.#appData;
	}

	set appData(appData: T) {
		this.#appData = appData;
	}

	get observer(): DataConsumerObserver {
		return this.#observer;
	}

	close(): void {
		if (this.#closed) {
			return;
		}
		logger.debug('close()');
		this.#closed = true;
		this.#channel.removeAllListeners(this.#internal.dataConsumerId);
		this.#channel
			.request('transport.closeDataConsumer', this.#internal.transportId, { dataConsumerId: this.id })
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
		this.#channel.removeAllListeners(this.#internal.dataConsumerId);
		this.safeEmit('transportclose');
		this.#observer.safeEmit('close');
	}

	async dump(): Promise<any> {
		return this.#channel.request('dataConsumer.dump', this.id);
	}

	async getStats(): Promise<any[]> {
		return this.#channel.request('dataConsumer.getStats', this.id);
	}

	async pause(): Promise<void> {
		await this.#channel.request('dataConsumer.pause', this.id);
		const wasPaused = this.#paused;
		this.#paused = true;
		if (!wasPaused && !this.#dataProducerPaused) {
			this.#observer.safeEmit('pause');
		}
	}

	async resume(): Promise<void> {
		await this.#channel.request('dataConsumer.resume', this.id);
		const wasPaused = this.#paused;
		this.#paused = false;
		if (wasPaused && !this.#dataProducerPaused) {
			this.#observer.safeEmit('resume');
		}
	}

	async setBufferedAmountLowThreshold(threshold: number): Promise<void> {
		if (typeof threshold !== 'number' || threshold < 0) {
			throw new TypeError('threshold must be a non-negative number');
		}
		await this.#channel.request('dataConsumer.setBufferedAmountLowThreshold', this.id, { threshold });
	}

	async getBufferedAmount(): Promise<number> {
		const { bufferedAmount } = await this.#channel.request('dataConsumer.getBufferedAmount', this.id);
		return bufferedAmount;
	}

	/**
	 * Sends a message to this consumer's endpoint (its data channel, or its 'message' event on a
	 * DirectTransport). Resolves with the stream's buffered amount.
	 */
	async send(message: string | Buffer, ppid?: number): Promise<number> {
		if (typeof message !== 'string' && !Buffer.isBuffer(message)) {
			throw new TypeError('message must be a string or a Buffer');
		}
		if (ppid === undefined) {
			if (typeof message === 'string') {
				ppid = message.length > 0 ? 51 : 56;
			} else {
				ppid = message.length > 0 ? 53 : 57;
			}
		}
		const payload = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
		const { bufferedAmount } = await this.#channel.requestBinary('dataConsumer.send', this.id, { ppid }, payload);
		return bufferedAmount;
	}

	async setSubchannels(subchannels: number[]): Promise<void> {
		if (!Array.isArray(subchannels) || subchannels.some(s => typeof s !== 'number')) {
			throw new TypeError('subchannels must be an array of numbers');
		}
		const data = await this.#channel.request('dataConsumer.setSubchannels', this.id, { subchannels });
		this.#subchannels = data.subchannels;
	}

	async addSubchannel(subchannel: number): Promise<void> {
		if (typeof subchannel !== 'number') {
			throw new TypeError('subchannel must be a number');
		}
		const data = await this.#channel.request('dataConsumer.addSubchannel', this.id, { subchannel });
		this.#subchannels = data.subchannels;
	}

	async removeSubchannel(subchannel: number): Promise<void> {
		if (typeof subchannel !== 'number') {
			throw new TypeError('subchannel must be a number');
		}
		const data = await this.#channel.request('dataConsumer.removeSubchannel', this.id, { subchannel });
		this.#subchannels = data.subchannels;
	}

	#onNotification(event: string, data: any, ppid?: number): void {
		switch (event) {
			case 'dataproducerclose':
				if (this.#closed) {
					break;
				}
				this.#closed = true;
				this.#channel.removeAllListeners(this.#internal.dataConsumerId);
				this.emit('@dataproducerclose');
				this.safeEmit('dataproducerclose');
				this.#observer.safeEmit('close');
				break;
			case 'dataproducerpause':
				if (this.#dataProducerPaused) {
					break;
				}
				this.#dataProducerPaused = true;
				this.safeEmit('dataproducerpause');
				if (!this.#paused) {
					this.#observer.safeEmit('pause');
				}
				break;
			case 'dataproducerresume':
				if (!this.#dataProducerPaused) {
					break;
				}
				this.#dataProducerPaused = false;
				this.safeEmit('dataproducerresume');
				if (!this.#paused) {
					this.#observer.safeEmit('resume');
				}
				break;
			case 'message':
				if (!this.#closed) {
					this.safeEmit('message', data, ppid ?? 53);
				}
				break;
			case 'sctpsendbufferfull':
				this.safeEmit('sctpsendbufferfull');
				break;
			case 'bufferedamountlow':
				this.safeEmit('bufferedamountlow', data.bufferedAmount);
				break;
			default:
				logger.error(`ignoring unknown event "${event}"`);
		}
	}
}
