import { Logger } from './Logger';
import { EnhancedEventEmitter } from './enhancedEvents';
import { Transport, TransportConstructorOptions, TransportEvents, TransportObserverEvents, BaseTransportDump, BaseTransportStats } from './Transport';
import { UnsupportedError } from './errors';
import type { AppData } from './types';

const logger = new Logger('DirectTransport');

export type DirectTransportOptions<T extends AppData = AppData> = {
	/** Maximum allowed size for direct messages sent from DataProducers (default 262144). */
	maxMessageSize?: number;
	appData?: T;
};

export type DirectTransportDump = BaseTransportDump;
export type DirectTransportStat = BaseTransportStats;

export type DirectTransportEvents = TransportEvents & { rtcp: [Buffer] };
export type DirectTransportObserverEvents = TransportObserverEvents & { rtcp: [Buffer] };
export type DirectTransportObserver = EnhancedEventEmitter<DirectTransportObserverEvents>;

/**
 * RTP and RTCP exchanged with Node directly: `producer.send(buffer)`, consumer `'rtp'` events,
 * `sendRtcp(buffer)` and `'rtcp'` events. No network and no bandwidth control.
 */
export class DirectTransport<T extends AppData = AppData> extends Transport<T, DirectTransportEvents, DirectTransportObserver> {
	/** @private */
	constructor(options: TransportConstructorOptions<T>) {
		super(options, new EnhancedEventEmitter<DirectTransportObserverEvents>());
		this.channel.on(this.internal.transportId, (event: string, data: any) => {
			if (event === 'rtcp' && !this.closed) {
				this.safeEmit('rtcp', data);
			}
		});
	}

	get type(): 'direct' {
		return 'direct';
	}

	async dump(): Promise<DirectTransportDump> {
		return super.dump();
	}

	async getStats(): Promise<DirectTransportStat[]> {
		return super.getStats();
	}

	/** Does nothing: a DirectTransport has no remote endpoint. */
	async connect(): Promise<void> {
		logger.debug('connect()');
	}

	async setMaxIncomingBitrate(_bitrate: number): Promise<void> {
		throw new UnsupportedError('setMaxIncomingBitrate() not implemented in DirectTransport');
	}

	async setMaxOutgoingBitrate(_bitrate: number): Promise<void> {
		throw new UnsupportedError('setMaxOutgoingBitrate() not implemented in DirectTransport');
	}

	async setMinOutgoingBitrate(_bitrate: number): Promise<void> {
		throw new UnsupportedError('setMinOutgoingBitrate() not implemented in DirectTransport');
	}

	/** Sends an RTCP packet (compound or not) into the SFU as if it came from the remote. */
	sendRtcp(rtcpPacket: Buffer): void {
		if (!Buffer.isBuffer(rtcpPacket)) {
			throw new TypeError('rtcpPacket must be a Buffer');
		}
		this.channel.notifyBinary('transport.sendRtcp', this.internal.transportId, rtcpPacket);
	}
}
