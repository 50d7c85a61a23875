import { EventEmitter, once } from 'node:events';

type Events = Record<string, any[]>;

/**
 * EventEmitter with mediasoup's extras: `safeEmit()` never lets a listener's exception escape
 * (it is reported as 'listenererror'), and event names and arguments can be typed.
 */
export class EnhancedEventEmitter<E extends Events = Events> extends EventEmitter {
	constructor() {
		super();
		this.setMaxListeners(Infinity);
	}

	emit<K extends keyof E & string>(eventName: K, ...args: E[K]): boolean {
		return super.emit(eventName, ...args);
	}

	/** Emits, catching listener errors so the emitter's own code keeps going. */
	safeEmit<K extends keyof E & string>(eventName: K, ...args: E[K]): boolean {
		try {
			return super.emit(eventName, ...args);
		} catch (error) {
			try {
				super.emit('listenererror', eventName, error);
			} catch {
				// A failing 'listenererror' listener is ignored on purpose.
			}
			return Boolean(super.listenerCount(eventName));
		}
	}

	on<K extends keyof E & string>(eventName: K, listener: (...args: E[K]) => void): this {
		return super.on(eventName, listener as any);
	}

	off<K extends keyof E & string>(eventName: K, listener: (...args: E[K]) => void): this {
		return super.off(eventName, listener as any);
	}

	addListener<K extends keyof E & string>(eventName: K, listener: (...args: E[K]) => void): this {
		return super.on(eventName, listener as any);
	}

	prependListener<K extends keyof E & string>(eventName: K, listener: (...args: E[K]) => void): this {
		return super.prependListener(eventName, listener as any);
	}

	once<K extends keyof E & string>(eventName: K, listener: (...args: E[K]) => void): this {
		return super.once(eventName, listener as any);
	}

	prependOnceListener<K extends keyof E & string>(eventName: K, listener: (...args: E[K]) => void): this {
		return super.prependOnceListener(eventName, listener as any);
	}

	removeListener<K extends keyof E & string>(eventName: K, listener: (...args: E[K]) => void): this {
		return super.off(eventName, listener as any);
	}

	removeAllListeners<K extends keyof E & string>(eventName?: K): this {
		return super.removeAllListeners(eventName);
	}

	listenerCount<K extends keyof E & string>(eventName: K): number {
		return super.listenerCount(eventName);
	}
}

/** Resolves with the arguments of the next `eventName` (node's `events.once`). */
export async function enhancedOnce<E extends Events = Events>(
	emitter: EnhancedEventEmitter<E>,
	eventName: keyof E & string,
	options?: { signal?: AbortSignal }
): Promise<any[]> {
	return once(emitter, eventName, options);
}
