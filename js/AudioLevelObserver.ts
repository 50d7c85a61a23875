import { EnhancedEventEmitter } from './enhancedEvents';
import { RtpObserver, RtpObserverConstructorOptions, RtpObserverEvents, RtpObserverObserverEvents } from './RtpObserver';
import type { Producer } from './Producer';
import type { AppData } from './types';

export type AudioLevelObserverOptions<T extends AppData = AppData> = {
	/** Maximum number of entries in the 'volumes' event (default 1). */
	maxEntries?: number;
	/** Minimum average volume (dBov, -127..0) to be reported (default -80). */
	threshold?: number;
	/** Interval in ms to check audio volumes (default 1000). */
	interval?: number;
	appData?: T;
};

export type AudioLevelObserverVolume = { producer: Producer; volume: number };

export type AudioLevelObserverEvents = RtpObserverEvents & {
	volumes: [AudioLevelObserverVolume[]];
	silence: [];
};

export type AudioLevelObserverObserverEvents = RtpObserverObserverEvents & {
	volumes: [AudioLevelObserverVolume[]];
	silence: [];
};

/** Reports the loudest producers (from the ssrc-audio-level RTP header extension). */
export class AudioLevelObserver<T extends AppData = AppData> extends RtpObserver<
	T,
	AudioLevelObserverEvents,
	AudioLevelObserverObserverEvents
> {
	/** @private */
	constructor(options: RtpObserverConstructorOptions<T>) {
		super(options, new EnhancedEventEmitter<AudioLevelObserverObserverEvents>());
	}

	get type(): 'audiolevel' {
		return 'audiolevel';
	}

	protected onNotification(event: string, data: any): void {
		if (event === 'volumes') {
			const volumes: AudioLevelObserverVolume[] = (data as { producerId: string; volume: number }[])
				.map(({ producerId, volume }) => ({ producer: this.getProducerById(producerId)!, volume }))
				.filter(v => Boolean(v.producer));
			if (volumes.length > 0) {
				this.safeEmit('volumes', volumes);
				this.observer.safeEmit('volumes', volumes);
			}
		} else if (event === 'silence') {
			this.safeEmit('silence');
			this.observer.safeEmit('silence');
		}
	}
}
