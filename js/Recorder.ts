import { Logger } from './Logger';
import { EnhancedEventEmitter } from './enhancedEvents';
import type { Channel } from './Channel';
import type { AppData } from './types';

const logger = new Logger('Recorder');

/**
 * `router.createRecorder()` options (an extension to mediasoup's API): which producers to
 * record, audio and video together, and where.
 */
export type RecorderOptions<RecorderAppData extends AppData = AppData> = {
	/**
	 * The producers to record (at most one video producer, any number of audio producers),
	 * by id. Each must belong to this router and must not be end-to-end encrypted.
	 */
	producerIds: string[];
	/**
	 * The file to write: `.webm` (VP8, VP9, AV1, Opus) or `.mkv` (those and H264). Created or
	 * truncated; written by the worker thread.
	 */
	path: string;
	appData?: RecorderAppData;
};

/** One recorded producer, as the recorder saw it. */
export type RecorderTrackStats = {
	type: 'recorder-track';
	producerId: string;
	kind: 'audio' | 'video';
	mimeType: string;
	/** Its track number in the file (null when it never started: no keyframe came). */
	trackNumber: number | null;
	/** The encoding written (simulcast: the highest one sending). */
	encodingIdx: number | null;
	/**
	 * What placed the track in time: the sender's reports (audio and video keep the sync they
	 * were captured with), or packet arrival (no report came within 3 s of the first packet).
	 */
	syncedBy: 'senderReport' | 'arrival' | null;
	width: number | null;
	height: number | null;
	packetsReceived: number;
	/** Packets that neither arrived nor were retransmitted in time. */
	packetsLost: number;
	packetsLate: number;
	framesWritten: number;
	/** Video frames left out because a loss made them undecodable (until the next keyframe). */
	framesDropped: number;
	keyFrames: number;
	keyFrameRequests: number;
	bytesWritten: number;
};

/** What a finished recording is: `stop()` resolves with it, and 'finish' carries it. */
export type RecordingSummary = {
	path: string;
	durationMs: number;
	bytes: number;
	/** Why the file is incomplete or empty, if it is. */
	error: string | null;
	tracks: RecorderTrackStats[];
};

export type RecorderStat = {
	type: 'recorder';
	recorderId: string;
	path: string;
	/** The file has started (every track ready, or the start wait over). */
	started: boolean;
	bytesWritten: number;
	error: string | null;
	tracks: RecorderTrackStats[];
};

export type RecorderEvents = {
	/** The file was finalised on its own: its last producer closed. */
	finish: [RecordingSummary];
	/** One recorded producer closed (its track ends; the others go on). */
	producerclose: [string];
	routerclose: [];
	workerclose: [];
	listenererror: [string, Error];
	'@close': [];
};

export type RecorderObserverEvents = {
	close: [];
};

export type RecorderObserver = EnhancedEventEmitter<RecorderObserverEvents>;

/**
 * Writes chosen producers of a router to a WebM / Matroska file, in the worker thread. The
 * file is finalised (duration, cues) on `stop()`, when its last producer closes, and when the
 * router or the worker closes.
 */
export class Recorder<RecorderAppData extends AppData = AppData> extends EnhancedEventEmitter<RecorderEvents> {
	readonly #internal: { routerId: string; recorderId: string };
	readonly #channel: Channel;
	readonly #path: string;
	readonly #producerIds: string[];
	#appData: RecorderAppData;
	#closed = false;
	#stopping?: Promise<RecordingSummary>;
	readonly #observer: RecorderObserver = new EnhancedEventEmitter<RecorderObserverEvents>();

	/** @private */
	constructor({
		internal,
		channel,
		path,
		producerIds,
		appData,
	}: {
		internal: { routerId: string; recorderId: string };
		channel: Channel;
		path: string;
		producerIds: string[];
		appData?: RecorderAppData;
	}) {
		super();
		this.#internal = internal;
		this.#channel = channel;
		this.#path = path;
		this.#producerIds = producerIds;
		this.#appData = appData ?? ({} as RecorderAppData);
		this.#channel.on(internal.recorderId, (event: string, data: any) => {
			if (event === 'producerclose') {
				this.safeEmit('producerclose', data.producerId);
			} else if (event === 'finish') {
				if (this.#closed) {
					return;
				}
				this.#stopping = Promise.resolve(data as RecordingSummary);
				this.#markClosed();
				this.safeEmit('finish', data as RecordingSummary);
			}
		});
		this.on('listenererror', (eventName, error) => {
			logger.error(`event listener threw an error [eventName:${eventName}]:`, error);
		});
	}

	get id(): string {
		return this.#internal.recorderId;
	}

	/** The file being written (absolute). */
	get path(): string {
		return this.#path;
	}

	get producerIds(): string[] {
		return [...this.#producerIds];
	}

	get closed(): boolean {
		return this.#closed;
	}

	get appData(): RecorderAppData {
		return this.#appData;
	}

	set appData(appData: RecorderAppData) {
		this.#appData = appData;
	}

	get observer(): RecorderObserver {
		return this.#observer;
	}

	/**
	 * Ends the recording: what is buffered is written and the file finalised before the
	 * promise resolves. Calling it again returns the same summary.
	 */
	stop(): Promise<RecordingSummary> {
		if (this.#stopping) {
			return this.#stopping;
		}
		logger.debug('stop()');
		this.#stopping = this.#channel.request('router.closeRecorder', this.#internal.routerId, { recorderId: this.id });
		this.#markClosed();
		return this.#stopping;
	}

	/** Stops without waiting for the summary (the file is still finalised). */
	close(): void {
		if (!this.#closed) {
			this.stop().catch(() => {});
		}
	}

	async getStats(): Promise<RecorderStat[]> {
		return [await this.#channel.request('recorder.getStats', this.id)];
	}

	#markClosed(): void {
		this.#closed = true;
		this.#channel.removeAllListeners(this.#internal.recorderId);
		this.emit('@close');
		this.#observer.safeEmit('close');
	}

	/** @private The router closed: the worker finalised the file. */
	routerClosed(): void {
		if (this.#closed) {
			return;
		}
		this.#markClosed();
		this.safeEmit('routerclose');
	}

	/** @private The worker closed: it finalised the file before its thread ended. */
	workerClosed(): void {
		if (this.#closed) {
			return;
		}
		this.#markClosed();
		this.safeEmit('workerclose');
	}
}
