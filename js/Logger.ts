import debug from 'debug';
import { format } from 'node:util';

/**
 * Per-class loggers through the `debug` package, with mediasoup's namespaces so that
 * `DEBUG=mediasoup*` keeps working after switching packages: `mediasoup:Class`,
 * `mediasoup:WARN:Class`, `mediasoup:ERROR:Class`.
 */
const APP_NAME = 'mediasoup';

export type LogEventListeners = {
	ondebug?: (namespace: string, log: string) => void;
	onwarn?: (namespace: string, log: string) => void;
	onerror?: (namespace: string, log: string) => void;
};

let listeners: LogEventListeners = {};

export class Logger {
	/** Routes every log line to the given listeners as well (mediasoup's setLogEventListeners). */
	static setListeners(l?: LogEventListeners): void {
		listeners = l ?? {};
	}

	readonly #namespace: string;

	readonly #debug: debug.Debugger;
	readonly #warn: debug.Debugger;
	readonly #error: debug.Debugger;

	constructor(prefix?: string) {
		const p = prefix ? `:${prefix}` : '';
		this.#namespace = `${APP_NAME}${p}`;
		this.#debug = debug(`${APP_NAME}${p}`);
		this.#warn = debug(`${APP_NAME}:WARN${p}`);
		this.#error = debug(`${APP_NAME}:ERROR${p}`);
		this.#debug.log = console.info.bind(console);
		this.#warn.log = console.warn.bind(console);
		this.#error.log = console.error.bind(console);
	}

	debug(...args: [string, ...any[]]): void {
		this.#debug(...args);
		listeners.ondebug?.(this.#namespace, format(...args));
	}

	warn(...args: [string, ...any[]]): void {
		this.#warn(...args);
		listeners.onwarn?.(this.#namespace, format(...args));
	}

	error(...args: [string, ...any[]]): void {
		this.#error(...args);
		listeners.onerror?.(this.#namespace, format(...args));
	}
}
