import debug from 'debug';

/**
 * Per-class loggers through the `debug` package, with mediasoup's namespaces so that
 * `DEBUG=mediasoup*` keeps working after switching packages: `mediasoup:Class`,
 * `mediasoup:WARN:Class`, `mediasoup:ERROR:Class`.
 */
const APP_NAME = 'mediasoup';

export class Logger {
	readonly #debug: debug.Debugger;
	readonly #warn: debug.Debugger;
	readonly #error: debug.Debugger;

	constructor(prefix?: string) {
		const p = prefix ? `:${prefix}` : '';
		this.#debug = debug(`${APP_NAME}${p}`);
		this.#warn = debug(`${APP_NAME}:WARN${p}`);
		this.#error = debug(`${APP_NAME}:ERROR${p}`);
		this.#debug.log = console.info.bind(console);
		this.#warn.log = console.warn.bind(console);
		this.#error.log = console.error.bind(console);
	}

	debug(...args: [string, ...any[]]): void {
		this.#debug(...args);
	}

	warn(...args: [string, ...any[]]): void {
		this.#warn(...args);
	}

	error(...args: [string, ...any[]]): void {
		this.#error(...args);
	}
}
