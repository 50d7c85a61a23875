import { Logger } from './Logger';
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
import { Consumer } from './Consumer';
import type { SrtpParameters, SrtpCryptoSuite } from './PlainTransport';
import * as ortc from './ortc';
import * as utils from './utils';
import { NotFoundError } from './errors';
import type { AppData } from './types';
import type { SctpParameters } from './WebRtcTransport';

const logger = new Logger('PipeTransport');

export type PipeTransportOptions<T extends AppData = AppData> = {
	listenInfo?: TransportListenInfo;
	listenIp?: TransportListenIp | string;
	port?: number;
	enableSctp?: boolean;
	numSctpStreams?: { OS: number; MIS: number };
	maxSctpMessageSize?: number;
	sctpSendBufferSize?: number;
	enableRtx?: boolean;
	enableSrtp?: boolean;
	srtpCryptoSuite?: SrtpCryptoSuite;
	appData?: T;
};

export type PipeConsumerOptions<T extends AppData = AppData> = { producerId: string; appData?: T };

export type PipeTransportDump = BaseTransportDump & {
	tuple: TransportTuple;
	rtx: boolean;
	srtpParameters?: SrtpParameters;
};

export type PipeTransportStat = BaseTransportStats & { tuple: TransportTuple };

export type PipeTransportEvents = TransportEvents & { sctpstatechange: [SctpState] };
export type PipeTransportObserverEvents = TransportObserverEvents & { sctpstatechange: [SctpState] };
export type PipeTransportObserver = EnhancedEventEmitter<PipeTransportObserverEvents>;

/** RTP between two routers (of the same or different workers, or hosts). */
export class PipeTransport<T extends AppData = AppData> extends Transport<T, PipeTransportEvents, PipeTransportObserver> {
	readonly #data: { tuple: TransportTuple; rtx: boolean; srtpParameters?: SrtpParameters };

		readonly #sctp: { parameters?: SctpParameters; state?: SctpState };

	/** @private */
	constructor(options: TransportConstructorOptions<T>) {
		super(options, new EnhancedEventEmitter<PipeTransportObserverEvents>());
		const d = options.data;
		this.#data = { tuple: d.tuple, rtx: d.rtx, srtpParameters: d.srtpParameters ?? undefined };
		this.#sctp = { parameters: d.sctpParameters ?? undefined, state: d.sctpState ?? undefined };
		this.channel.on(this.internal.transportId, (event: string, data: any) => {
			if (event === 'sctpstatechange') {
				this.#sctp.state = data.sctpState;
				this.safeEmit('sctpstatechange', data.sctpState);
				this.observer.safeEmit('sctpstatechange', data.sctpState);
			}
		});
	}

	get type(): 'pipe' {
		return 'pipe';
	}

	get tuple(): TransportTuple {
		return utils.clone(this.#data.tuple);
	}

	get srtpParameters(): SrtpParameters | undefined {
		return utils.clone(this.#data.srtpParameters);
	}

	get sctpParameters(): SctpParameters | undefined {
		return utils.clone(this.#sctp.parameters);
	}

	get sctpState(): SctpState | undefined {
		return this.#sctp.state;
	}

	async dump(): Promise<PipeTransportDump> {
		return super.dump();
	}

	async getStats(): Promise<PipeTransportStat[]> {
		return super.getStats();
	}

	async connect({ ip, port, srtpParameters }: { ip: string; port: number; srtpParameters?: SrtpParameters }): Promise<void> {
		logger.debug('connect()');
		if (typeof ip !== 'string') {
			throw new TypeError('missing ip');
		}
		if (typeof port !== 'number') {
			throw new TypeError('missing port');
		}
		const data = await this.channel.request('transport.connect', this.internal.transportId, { ip, port, srtpParameters });
		this.#data.tuple = data.tuple;
		if (data.srtpParameters) {
			this.#data.srtpParameters = data.srtpParameters;
		}
	}

	/** A pipe consumer: every encoding of the producer, untouched but for SSRCs. */
	async consume<C extends AppData = AppData>({ producerId, appData }: PipeConsumerOptions<C>): Promise<Consumer<C>> {
		logger.debug('consume()');
		if (!producerId || typeof producerId !== 'string') {
			throw new TypeError('missing producerId');
		}
		utils.checkAppData(appData);
		const producer = this.getProducerById(producerId);
		if (!producer) {
			throw new NotFoundError(`Producer with id "${producerId}" not found`);
		}
		const rtpParameters = ortc.getPipeConsumerRtpParameters({
			consumableRtpParameters: producer.consumableRtpParameters,
			enableRtx: this.#data.rtx,
		});
		return this.createConsumer<C>(producer, rtpParameters, 'pipe', { paused: false, ignoreDtx: false, appData });
	}
}
