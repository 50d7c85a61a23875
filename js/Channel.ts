import { EnhancedEventEmitter } from './enhancedEvents';
import { Logger } from './Logger';
import { WorkerClosedError, NotFoundError, UnsupportedError } from './errors';

const logger = new Logger('Channel');
// The worker's own lines (its logLevel / logTags), as mediasoup prints its worker's output.
const workerLogger = new Logger(`worker[pid:${process.pid}]`);

type NativeMessage = { message: string; payload?: Buffer | null };

interface NativeWorker {
	/**
	 * false: the worker is gone; true: queued, the answer comes with the doorbell; an array: the
	 * answer came at once, with what the worker said before it (in order).
	 */
	request(id: number, method: string, handlerId: string, data: string, payload?: Buffer | null): boolean | NativeMessage[];
	drain(): NativeMessage[];
	close(): void;
}

// The napi-rs generated loader picks the addon built for this platform.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const native: {
	BindingWorker: new (settings: NativeSettings, doorbell: () => void) => NativeWorker;
} = require('../js/native/index.js');

export type NativeSettings = {
	rtcMinPort: number;
	rtcMaxPort: number;
	dtlsCertificateFile?: string;
	dtlsPrivateKeyFile?: string;
	allowCrashForTesting?: boolean;
};

type Sent = { method: string; resolve: (data: any) => void; reject: (error: Error) => void };

/**
 * The JS end of a worker thread: requests go down as (id, method, handlerId, JSON body);
 * responses and notifications come back in order, from one queue: taken when the worker rings
 * the doorbell, or — for a request the worker answered within a few microseconds — returned by
 * the request call itself with everything queued before the answer, and handled in a microtask
 * (so events still never fire inside the API call that made the request). Notifications are
 * emitted on this emitter with the target id as the event name.
 */
export class Channel extends EnhancedEventEmitter<any> {
	#binding?: NativeWorker;
	// Kept after release(): the thread's last messages are taken through it.
	readonly #outbox: NativeWorker;
	#nextId = 0;
	readonly #sents = new Map<number, Sent>();
	#closed = false;

	constructor(settings: NativeSettings) {
		super();
		this.#binding = new native.BindingWorker(settings, () => this.#deliver(this.#outbox.drain()));
		this.#outbox = this.#binding;
	}

	get closed(): boolean {
		return this.#closed;
	}

	async request(method: string, handlerId = '', data?: unknown): Promise<any> {
		if (this.#closed || !this.#binding) {
			throw new WorkerClosedError(`Channel closed, cannot send request [method:${method}]`);
		}
		const id = ++this.#nextId;
		if (this.#nextId >= 4294967295) {
			this.#nextId = 0;
		}
		logger.debug('request() [method:%s, id:%s]', method, id);
		const body = data === undefined ? '' : JSON.stringify(data);
		return new Promise((resolve, reject) => {
			this.#sents.set(id, { method, resolve, reject });
			this.#sent(this.#binding!.request(id, method, handlerId, body), id, method);
		});
	}

	#sent(result: boolean | NativeMessage[], id: number, method: string): void {
		if (result === true) {
			return;
		}
		if (result === false) {
			const sent = this.#sents.get(id);
			this.#sents.delete(id);
			sent?.reject(new WorkerClosedError(`Channel closed, cannot send request [method:${method}]`));
			return;
		}
		queueMicrotask(() => this.#deliver(result));
	}

	#deliver(list: NativeMessage[]): void {
		for (const m of list) {
			this.#onMessage(m.message, m.payload);
		}
	}

	/** Stops the worker thread (synchronously) and rejects what is still pending. */
	close(): void {
		if (this.#closed) {
			return;
		}
		this.#closed = true;
		for (const [id, sent] of this.#sents) {
			sent.reject(new WorkerClosedError(`Channel closed, pending request aborted [method:${sent.method}, id:${id}]`));
		}
		this.#sents.clear();
		this.#binding?.close();
	}

	/** Binary data to the worker with no response (producer.send, transport.sendRtcp). */
	notifyBinary(method: string, handlerId: string, payload: Buffer, data?: unknown): void {
		if (this.#closed || !this.#binding) {
			throw new WorkerClosedError(`Channel closed, cannot send notification [method:${method}]`);
		}
		this.#binding.request(0, method, handlerId, data === undefined ? '' : JSON.stringify(data), payload);
	}

	/** A request carrying binary data (dataConsumer.send). */
	async requestBinary(method: string, handlerId: string, data: unknown, payload: Buffer): Promise<any> {
		if (this.#closed || !this.#binding) {
			throw new WorkerClosedError(`Channel closed, cannot send request [method:${method}]`);
		}
		const id = ++this.#nextId;
		return new Promise((resolve, reject) => {
			this.#sents.set(id, { method, resolve, reject });
			this.#sent(this.#binding!.request(id, method, handlerId, JSON.stringify(data), payload), id, method);
		});
	}

	#onMessage(line: string, payload?: Buffer | null): void {
		let msg: any;
		try {
			msg = JSON.parse(line);
		} catch (error) {
			logger.error('invalid message from worker: %o', error);
			return;
		}
		switch (msg.t) {
			case 'res': {
				const sent = this.#sents.get(msg.id);
				if (!sent) {
					return;
				}
				this.#sents.delete(msg.id);
				if (msg.ok) {
					sent.resolve(msg.data);
				} else {
					sent.reject(toError(msg.error, msg.reason));
				}
				return;
			}
			case 'ntf':
				this.emit(msg.target, msg.event, msg.data);
				return;
			case 'bin':
				this.emit(msg.target, msg.event, payload, msg.ppid);
				return;
			case 'log': {
				const line = `[${msg.tag}] ${msg.message}`;
				if (msg.level === 'error') {
					workerLogger.error(line);
				} else if (msg.level === 'warn') {
					workerLogger.warn(line);
				} else {
					workerLogger.debug(line);
				}
				return;
			}
			case 'running':
				this.emit('@running');
				return;
			case 'died':
				this.emit('@died', String(msg.reason));
				return;
			case 'closed':
				this.emit('@exited');
				return;
			default:
				logger.warn('unknown message from worker: %s', msg.t);
		}
	}

	/** Called once the worker thread is gone, so nothing holds the event loop. */
	release(): void {
		this.#closed = true;
		for (const [id, sent] of this.#sents) {
			sent.reject(new WorkerClosedError(`Channel closed, pending request aborted [method:${sent.method}, id:${id}]`));
		}
		this.#sents.clear();
		this.#binding?.close();
		this.#binding = undefined;
	}
}

function toError(kind: string, reason: string): Error {
	switch (kind) {
		case 'TypeError':
			return new TypeError(reason);
		case 'NotFoundError':
			return new NotFoundError(reason);
		case 'UnsupportedError':
			return new UnsupportedError(reason);
		default:
			return new Error(reason);
	}
}
