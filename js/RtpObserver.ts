import { Logger } from './Logger';
import { EnhancedEventEmitter } from './enhancedEvents';
import type { Channel } from './Channel';
import type { Producer } from './Producer';
import type { AppData } from './types';

const logger = new Logger('RtpObserver');

export type RtpObserverAddRemoveProducerOptions = { producerId: string };

export type RtpObserverEvents = {
	routerclose: [];
	listenererror: [string, Error];
	'@close': [];
};

export type RtpObserverObserverEvents = {
	close: [];
	pause: [];
	resume: [];
	addproducer: [Producer];
	removeproducer: [Producer];
};

export type RtpObserverConstructorOptions<T> = {
	internal: { routerId: string; rtpObserverId: string };
	channel: Channel;
	appData?: T;
	getProducerById: (producerId: string) => Producer | undefined;
};

/** What AudioLevelObserver and ActiveSpeakerObserver share. */
export abstract class RtpObserver<
	T extends AppData = AppData,
	E extends RtpObserverEvents = RtpObserverEvents,
	O extends RtpObserverObserverEvents = RtpObserverObserverEvents,
> extends EnhancedEventEmitter<E> {
	protected readonly internal: { routerId: string; rtpObserverId: string };
	protected readonly channel: Channel;
	#closed = false;
	#paused = false;
	#appData: T;
	protected readonly getProducerById: (producerId: string) => Producer | undefined;
	readonly #observer: EnhancedEventEmitter<O>;

	constructor({ internal, channel, appData, getProducerById }: RtpObserverConstructorOptions<T>, observer: EnhancedEventEmitter<O>) {
		super();
		this.internal = internal;
		this.channel = channel;
		this.#appData = appData ?? ({} as T);
		this.getProducerById = getProducerById;
		this.#observer = observer;
		this.channel.on(internal.rtpObserverId, (event: string, data: any) => this.onNotification(event, data));
		this.on('listenererror', (eventName, error) => {
			logger.error(`event listener threw an error [eventName:${eventName}]:`, error);
		});
	}

	protected abstract onNotification(event: string, data: any): void;

	get id(): string {
		return this.internal.rtpObserverId;
	}

	get closed(): boolean {
		return this.#closed;
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

	get observer(): EnhancedEventEmitter<O> {
		return this.#observer;
	}

	close(): void {
		if (this.#closed) {
			return;
		}
		logger.debug('close()');
		this.#closed = true;
		this.channel.removeAllListeners(this.internal.rtpObserverId);
		this.channel.request('router.closeRtpObserver', this.internal.routerId, { rtpObserverId: this.id }).catch(() => {});
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
		this.channel.removeAllListeners(this.internal.rtpObserverId);
		this.safeEmit('routerclose');
		this.#observer.safeEmit('close');
	}

	async pause(): Promise<void> {
		logger.debug('pause()');
		await this.channel.request('rtpObserver.pause', this.id);
		const wasPaused = this.#paused;
		this.#paused = true;
		if (!wasPaused) {
			this.#observer.safeEmit('pause');
		}
	}

	async resume(): Promise<void> {
		logger.debug('resume()');
		await this.channel.request('rtpObserver.resume', this.id);
		const wasPaused = this.#paused;
		this.#paused = false;
		if (wasPaused) {
			this.#observer.safeEmit('resume');
		}
	}

	async addProducer({ producerId }: RtpObserverAddRemoveProducerOptions): Promise<void> {
		logger.debug('addProducer()');
		const producer = this.getProducerById(producerId);
		if (!producer) {
			throw new TypeError(`Producer with id "${producerId}" not found`);
		}
		await this.channel.request('rtpObserver.addProducer', this.id, { producerId });
		this.#observer.safeEmit('addproducer', producer);
	}

	async removeProducer({ producerId }: RtpObserverAddRemoveProducerOptions): Promise<void> {
		logger.debug('removeProducer()');
		const producer = this.getProducerById(producerId);
		if (!producer) {
			throw new TypeError(`Producer with id "${producerId}" not found`);
		}
		await this.channel.request('rtpObserver.removeProducer', this.id, { producerId });
		this.#observer.safeEmit('removeproducer', producer);
	}
}
