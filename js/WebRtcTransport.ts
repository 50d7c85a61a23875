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
	TransportProtocol,
	TransportTuple,
	SctpState,
	BaseTransportDump,
	BaseTransportStats,
} from './Transport';
import type { AppData } from './types';

export type SctpParameters = {
	port: number;
	OS: number;
	MIS: number;
	maxMessageSize: number;
	/** mediasoup ≥ 3.20's settings, reported back as given or defaulted. */
	maxSendMessageSize?: number;
	maxReceiveMessageSize?: number;
	sendBufferSize?: number;
	perStreamSendQueueLimit?: number;
	maxReceiverWindowBufferSize?: number;
	isDataChannel?: boolean;
};

/** `transport.sctpNegotiatedCapabilities` once SCTP is connected. */
export type SctpNegotiatedCapabilities = {
	negotiatedMaxOutboundStreams: number;
	negotiatedMaxInboundStreams: number;
};

const logger = new Logger('WebRtcTransport');

export type WebRtcTransportOptions<T extends AppData = AppData> = {
	listenInfos?: TransportListenInfo[];
	listenIps?: (TransportListenIp | string)[];
	port?: number;
	webRtcServer?: any;
	enableUdp?: boolean;
	enableTcp?: boolean;
	preferUdp?: boolean;
	preferTcp?: boolean;
	iceConsentTimeout?: number;
	initialAvailableOutgoingBitrate?: number;
	enableSctp?: boolean;
	numSctpStreams?: { OS: number; MIS: number };
	maxSctpMessageSize?: number;
	sctpSendBufferSize?: number;
	maxSendMessageSize?: number;
	maxReceiveMessageSize?: number;
	appData?: T;
};

export type IceParameters = { usernameFragment: string; password: string; iceLite?: boolean };

export type IceCandidate = {
	foundation: string;
	priority: number;
	ip: string;
	address: string;
	protocol: TransportProtocol;
	port: number;
	type: 'host';
	tcpType?: 'passive';
};

export type FingerprintAlgorithm = 'sha-1' | 'sha-224' | 'sha-256' | 'sha-384' | 'sha-512';
export type DtlsFingerprint = { algorithm: FingerprintAlgorithm; value: string };
export type DtlsRole = 'auto' | 'client' | 'server';
export type DtlsParameters = { role?: DtlsRole; fingerprints: DtlsFingerprint[] };
export type IceRole = 'controlled' | 'controlling';
export type IceState = 'new' | 'connected' | 'completed' | 'disconnected' | 'closed';
export type DtlsState = 'new' | 'connecting' | 'connected' | 'failed' | 'closed';

export type WebRtcTransportDump = BaseTransportDump & {
	iceRole: 'controlled';
	iceParameters: IceParameters;
	iceCandidates: IceCandidate[];
	iceState: IceState;
	iceSelectedTuple?: TransportTuple;
	dtlsParameters: DtlsParameters;
	dtlsState: DtlsState;
	dtlsRemoteCert?: string;
};

export type WebRtcTransportStat = BaseTransportStats & {
	iceRole: string;
	iceState: IceState;
	iceSelectedTuple?: TransportTuple;
	dtlsState: DtlsState;
};

export type WebRtcTransportEvents = TransportEvents & {
	icestatechange: [IceState];
	iceselectedtuplechange: [TransportTuple];
	dtlsstatechange: [DtlsState];
	sctpstatechange: [SctpState];
};

export type WebRtcTransportObserverEvents = TransportObserverEvents & {
	icestatechange: [IceState];
	iceselectedtuplechange: [TransportTuple];
	dtlsstatechange: [DtlsState];
	sctpstatechange: [SctpState];
};

export type WebRtcTransportObserver = EnhancedEventEmitter<WebRtcTransportObserverEvents>;

/** ICE-lite + DTLS + SRTP towards one browser (or any WebRTC endpoint). */
export class WebRtcTransport<T extends AppData = AppData> extends Transport<T, WebRtcTransportEvents, WebRtcTransportObserver> {
	readonly #data: {
		iceRole: 'controlled';
		iceParameters: IceParameters;
		iceCandidates: IceCandidate[];
		iceState: IceState;
		iceSelectedTuple?: TransportTuple;
		dtlsParameters: DtlsParameters;
		dtlsState: DtlsState;
				dtlsRemoteCert?: string;
		sctpParameters?: SctpParameters;
		sctpState?: SctpState;
		sctpNegotiatedCapabilities?: SctpNegotiatedCapabilities;
	};

	/** @private */
	constructor(options: TransportConstructorOptions<T>) {
		super(options, new EnhancedEventEmitter<WebRtcTransportObserverEvents>());
		const d = options.data;
		this.#data = {
			iceRole: 'controlled',
			iceParameters: d.iceParameters,
			iceCandidates: d.iceCandidates,
			iceState: d.iceState,
			iceSelectedTuple: d.iceSelectedTuple ?? undefined,
			dtlsParameters: d.dtlsParameters,
			dtlsState: d.dtlsState,
						dtlsRemoteCert: undefined,
			sctpParameters: d.sctpParameters ?? undefined,
			sctpState: d.sctpState ?? undefined,
			sctpNegotiatedCapabilities: d.sctpNegotiatedCapabilities ?? undefined,
		};
		this.channel.on(this.internal.transportId, (event: string, data: any) => this.#onNotification(event, data));
	}

	get type(): 'webrtc' {
		return 'webrtc';
	}

	get iceRole(): 'controlled' {
		return this.#data.iceRole;
	}

	get iceParameters(): IceParameters {
		return this.#data.iceParameters;
	}

	get iceCandidates(): IceCandidate[] {
		return utils.clone(this.#data.iceCandidates);
	}

	get iceState(): IceState {
		return this.#data.iceState;
	}

	get iceSelectedTuple(): TransportTuple | undefined {
		return utils.clone(this.#data.iceSelectedTuple);
	}

	get dtlsParameters(): DtlsParameters {
		return utils.clone(this.#data.dtlsParameters);
	}

	get dtlsState(): DtlsState {
		return this.#data.dtlsState;
	}

	get dtlsRemoteCert(): string | undefined {
		return this.#data.dtlsRemoteCert;
	}

		/** SCTP parameters for the remote (with enableSctp). */
	get sctpParameters(): SctpParameters | undefined {
		return utils.clone(this.#data.sctpParameters);
	}

	/** Streams usable each way, once SCTP is connected (mediasoup 3.27). */
	get sctpNegotiatedCapabilities(): SctpNegotiatedCapabilities | undefined {
		return utils.clone(this.#data.sctpNegotiatedCapabilities);
	}

	get sctpState(): SctpState | undefined {
		return this.#data.sctpState;
	}

	close(): void {
		if (this.closed) {
			return;
		}
		this.#markClosed();
		super.close();
	}

	/** @private */
	routerClosed(): void {
		if (this.closed) {
			return;
		}
		this.#markClosed();
		super.routerClosed();
	}

	/** @private */
	listenServerClosed(): void {
		if (this.closed) {
			return;
		}
		this.#markClosed();
		super.listenServerClosed();
	}

	#markClosed(): void {
		this.#data.iceState = 'closed';
		this.#data.iceSelectedTuple = undefined;
				this.#data.dtlsState = 'closed';
		if (this.#data.sctpState) {
			this.#data.sctpState = 'closed';
		}
	}

	async dump(): Promise<WebRtcTransportDump> {
		return super.dump();
	}

	async getStats(): Promise<WebRtcTransportStat[]> {
		return super.getStats();
	}

	async connect({ dtlsParameters }: { dtlsParameters: DtlsParameters }): Promise<void> {
		logger.debug('connect()');
		if (!dtlsParameters || typeof dtlsParameters !== 'object') {
			throw new TypeError('missing dtlsParameters');
		}
		if (!Array.isArray(dtlsParameters.fingerprints) || dtlsParameters.fingerprints.length === 0) {
			throw new TypeError('missing dtlsParameters.fingerprints');
		}
		for (const fp of dtlsParameters.fingerprints) {
			if (!fp || typeof fp.algorithm !== 'string' || typeof fp.value !== 'string') {
				throw new TypeError('wrong dtlsParameters.fingerprints entry');
			}
		}
		const { dtlsLocalRole } = await this.channel.request('transport.connect', this.internal.transportId, { dtlsParameters });
		// Our DTLS role is known now: reflect it as mediasoup does.
		this.#data.dtlsParameters.role = dtlsLocalRole;
	}

	async restartIce(): Promise<IceParameters> {
		logger.debug('restartIce()');
		const { iceParameters } = await this.channel.request('transport.restartIce', this.internal.transportId);
		this.#data.iceParameters = iceParameters;
		return iceParameters;
	}

	#onNotification(event: string, data: any): void {
		switch (event) {
			case 'icestatechange':
				this.#data.iceState = data.iceState;
				this.safeEmit('icestatechange', data.iceState);
				this.observer.safeEmit('icestatechange', data.iceState);
				break;
			case 'iceselectedtuplechange':
				this.#data.iceSelectedTuple = data.iceSelectedTuple;
				this.safeEmit('iceselectedtuplechange', data.iceSelectedTuple);
				this.observer.safeEmit('iceselectedtuplechange', data.iceSelectedTuple);
				break;
			case 'dtlsstatechange':
				this.#data.dtlsState = data.dtlsState;
				if (data.dtlsState === 'connected') {
					this.#data.dtlsRemoteCert = data.dtlsRemoteCert ?? undefined;
				}
				this.safeEmit('dtlsstatechange', data.dtlsState);
				this.observer.safeEmit('dtlsstatechange', data.dtlsState);
				break;
			case 'sctpnegotiatedcapabilities':
				this.#data.sctpNegotiatedCapabilities = data;
				break;
			case 'sctpstatechange':
				this.#data.sctpState = data.sctpState;
				this.safeEmit('sctpstatechange', data.sctpState);
				this.observer.safeEmit('sctpstatechange', data.sctpState);
				break;
			case 'trace':
				// Emitted by Transport for every transport type.
				break;
			default:
				logger.error(`ignoring unknown event "${event}"`);
		}
	}
}
