import { Logger } from './Logger';
import * as utils from './utils';
import { EnhancedEventEmitter } from './enhancedEvents';
import {
	Transport,
	TransportConstructorOptions,
	TransportEvents,
	TransportListenInfo,
	TransportListenIp,
	TransportObserverEvents,
	TransportTuple,
	SctpState,
	BaseTransportDump,
	BaseTransportStats,
} from './Transport';
import type { AppData } from './types';
import type { SctpNegotiatedCapabilities, SctpParameters } from './WebRtcTransport';

const logger = new Logger('PlainTransport');

export type SrtpCryptoSuite =
	| 'AEAD_AES_256_GCM'
	| 'AEAD_AES_128_GCM'
	| 'AES_CM_128_HMAC_SHA1_80'
	| 'AES_CM_128_HMAC_SHA1_32';

export type SrtpParameters = { cryptoSuite: SrtpCryptoSuite; keyBase64: string };

export type PlainTransportOptions<T extends AppData = AppData> = {
	listenInfo?: TransportListenInfo;
	rtcpListenInfo?: TransportListenInfo;
	listenIp?: TransportListenIp | string;
	port?: number;
	rtcpMux?: boolean;
	comedia?: boolean;
	enableSctp?: boolean;
	numSctpStreams?: { OS: number; MIS: number };
	maxSctpMessageSize?: number;
	sctpSendBufferSize?: number;
	enableSrtp?: boolean;
	srtpCryptoSuite?: SrtpCryptoSuite;
	appData?: T;
};

export type PlainTransportDump = BaseTransportDump & {
	rtcpMux: boolean;
	comedia: boolean;
	tuple: TransportTuple;
	rtcpTuple?: TransportTuple;
	srtpParameters?: SrtpParameters;
};

export type PlainTransportStat = BaseTransportStats & {
	rtcpMux: boolean;
	comedia: boolean;
	tuple: TransportTuple;
	rtcpTuple?: TransportTuple;
};

export type PlainTransportEvents = TransportEvents & {
	tuple: [TransportTuple];
	rtcptuple: [TransportTuple];
	sctpstatechange: [SctpState];
};

export type PlainTransportObserverEvents = TransportObserverEvents & {
	tuple: [TransportTuple];
	rtcptuple: [TransportTuple];
	sctpstatechange: [SctpState];
};

export type PlainTransportObserver = EnhancedEventEmitter<PlainTransportObserverEvents>;

const SUITES = ['AEAD_AES_256_GCM', 'AEAD_AES_128_GCM', 'AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32'];

/** Plain RTP/RTCP over UDP (optionally SRTP with signalled keys), e.g. towards FFmpeg. */
export class PlainTransport<T extends AppData = AppData> extends Transport<T, PlainTransportEvents, PlainTransportObserver> {
	readonly #data: {
		rtcpMux: boolean;
		comedia: boolean;
		tuple: TransportTuple;
		rtcpTuple?: TransportTuple;
		srtpParameters?: SrtpParameters;
	};

	readonly #sctp: { parameters?: SctpParameters; state?: SctpState; negotiated?: SctpNegotiatedCapabilities };

	/** @private */
	constructor(options: TransportConstructorOptions<T>) {
		super(options, new EnhancedEventEmitter<PlainTransportObserverEvents>());
		const d = options.data;
		this.#sctp = { parameters: d.sctpParameters ?? undefined, state: d.sctpState ?? undefined };
		this.#data = {
			rtcpMux: d.rtcpMux,
			comedia: d.comedia,
			tuple: d.tuple,
			rtcpTuple: d.rtcpTuple ?? undefined,
			srtpParameters: d.srtpParameters ?? undefined,
		};
		this.channel.on(this.internal.transportId, (event: string, data: any) => this.#onNotification(event, data));
	}

	get type(): 'plain' {
		return 'plain';
	}

	get tuple(): TransportTuple {
		return utils.clone(this.#data.tuple);
	}

	get rtcpTuple(): TransportTuple | undefined {
		return utils.clone(this.#data.rtcpTuple);
	}

	get srtpParameters(): SrtpParameters | undefined {
		return utils.clone(this.#data.srtpParameters);
	}

	get sctpParameters(): SctpParameters | undefined {
		return utils.clone(this.#sctp.parameters);
	}

	/** Streams usable each way, once SCTP is connected (mediasoup 3.27). */
	get sctpNegotiatedCapabilities(): SctpNegotiatedCapabilities | undefined {
		return utils.clone(this.#sctp.negotiated);
	}

	get sctpState(): SctpState | undefined {
		return this.#sctp.state;
	}

	async dump(): Promise<PlainTransportDump> {
		return super.dump();
	}

	async getStats(): Promise<PlainTransportStat[]> {
		return super.getStats();
	}

	async connect({
		ip,
		port,
		rtcpPort,
		srtpParameters,
	}: { ip?: string; port?: number; rtcpPort?: number; srtpParameters?: SrtpParameters } = {}): Promise<void> {
		logger.debug('connect()');
		if (ip !== undefined && typeof ip !== 'string') {
			throw new TypeError('wrong ip');
		}
		if (port !== undefined && typeof port !== 'number') {
			throw new TypeError('wrong port');
		}
		if (rtcpPort !== undefined && typeof rtcpPort !== 'number') {
			throw new TypeError('wrong rtcpPort');
		}
		if (srtpParameters !== undefined) {
			if (!SUITES.includes(srtpParameters?.cryptoSuite)) {
				throw new TypeError('wrong srtpParameters.cryptoSuite');
			}
			if (typeof srtpParameters.keyBase64 !== 'string') {
				throw new TypeError('missing srtpParameters.keyBase64');
			}
		}
		const data = await this.channel.request('transport.connect', this.internal.transportId, {
			ip,
			port,
			rtcpPort,
			srtpParameters,
		});
		if (data.tuple) {
			this.#data.tuple = data.tuple;
		}
		if (data.rtcpTuple) {
			this.#data.rtcpTuple = data.rtcpTuple;
		}
		// The remote may have chosen another crypto suite: ours follows it.
		if (data.srtpParameters) {
			this.#data.srtpParameters = data.srtpParameters;
		}
	}

	#onNotification(event: string, data: any): void {
		switch (event) {
			case 'tuple':
				this.#data.tuple = data.tuple;
				this.safeEmit('tuple', data.tuple);
				this.observer.safeEmit('tuple', data.tuple);
				break;
			case 'sctpnegotiatedcapabilities':
				this.#sctp.negotiated = data;
				break;
			case 'sctpstatechange':
				this.#sctp.state = data.sctpState;
				this.safeEmit('sctpstatechange', data.sctpState);
				this.observer.safeEmit('sctpstatechange', data.sctpState);
				break;
			case 'rtcptuple':
				this.#data.rtcpTuple = data.rtcpTuple;
				this.safeEmit('rtcptuple', data.rtcpTuple);
				this.observer.safeEmit('rtcptuple', data.rtcpTuple);
				break;
			case 'trace':
				// Emitted by Transport for every transport type.
				break;
			default:
				logger.error(`ignoring unknown event "${event}"`);
		}
	}
}
