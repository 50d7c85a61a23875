import { Logger } from './Logger';
import { EnhancedEventEmitter } from './enhancedEvents';
import type { Channel } from './Channel';
import type { TransportListenInfo } from './Transport';
import type { WebRtcTransport } from './WebRtcTransport';
import type { AppData } from './types';

const logger = new Logger('WebRtcServer');

export type WebRtcServerOptions<T extends AppData = AppData> = {
	listenInfos: TransportListenInfo[];
	appData?: T;
};

export type WebRtcServerDump = {
	id: string;
	udpSockets: { ip: string; port: number }[];
	tcpServers: { ip: string; port: number }[];
	webRtcTransportIds: string[];
	localIceUsernameFragments: { localIceUsernameFragment: string; webRtcTransportId: string }[];
	tupleHashes: { tupleHash: string; webRtcTransportId: string }[];
};

export type WebRtcServerEvents = { workerclose: []; listenererror: [string, Error]; '@close': [] };

export type WebRtcServerObserverEvents = {
	close: [];
	webrtctransporthandled: [WebRtcTransport];
	webrtctransportunhandled: [WebRtcTransport];
};

export type WebRtcServerObserver = EnhancedEventEmitter<WebRtcServerObserverEvents>;

/** UDP/TCP ports shared by many WebRtcTransports (demultiplexed by ICE username fragment). */
export class WebRtcServer<T extends AppData = AppData> extends EnhancedEventEmitter<WebRtcServerEvents> {
	readonly #internal: { webRtcServerId: string };
	readonly #channel: Channel;
	#closed = false;
	#appData: T;
	readonly #transports = new Map<string, WebRtcTransport>();
	readonly #observer: WebRtcServerObserver = new EnhancedEventEmitter();

	/** @private */
	constructor({ internal, channel, appData }: { internal: { webRtcServerId: string }; channel: Channel; appData?: T }) {
		super();
		this.#internal = internal;
		this.#channel = channel;
		this.#appData = appData ?? ({} as T);
		this.on('listenererror', (eventName, error) => {
			logger.error(`event listener threw an error [eventName:${eventName}]:`, error);
		});
	}

	get id(): string {
		return this.#internal.webRtcServerId;
	}

	get closed(): boolean {
		return this.#closed;
	}

	get appData(): T {
		return this.#appData;
	}

	set appData(appData: T) {
		this.#appData = appData;
	}

	get observer(): WebRtcServerObserver {
		return this.#observer;
	}

	/** @private For testing. */
	get webRtcTransportsForTesting(): Map<string, WebRtcTransport> {
		return this.#transports;
	}

	close(): void {
		if (this.#closed) {
			return;
		}
		logger.debug('close()');
		this.#closed = true;
		this.#channel.request('worker.closeWebRtcServer', '', { webRtcServerId: this.id }).catch(() => {});
		for (const transport of this.#transports.values()) {
			transport.listenServerClosed();
			this.#observer.safeEmit('webrtctransportunhandled', transport);
		}
		this.#transports.clear();
		this.emit('@close');
		this.#observer.safeEmit('close');
	}

	/** @private */
	workerClosed(): void {
		if (this.#closed) {
			return;
		}
		logger.debug('workerClosed()');
		this.#closed = true;
		this.#transports.clear();
		this.safeEmit('workerclose');
		this.#observer.safeEmit('close');
	}

	async dump(): Promise<WebRtcServerDump> {
		logger.debug('dump()');
		return this.#channel.request('webRtcServer.dump', this.id);
	}

	/** @private */
	handleWebRtcTransport(transport: WebRtcTransport): void {
		this.#transports.set(transport.id, transport);
		this.#observer.safeEmit('webrtctransporthandled', transport);
		transport.on('@close', () => {
			this.#transports.delete(transport.id);
			this.#observer.safeEmit('webrtctransportunhandled', transport);
		});
	}
}
