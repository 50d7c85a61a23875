import { EnhancedEventEmitter } from './enhancedEvents';
import { RtpObserver, RtpObserverConstructorOptions, RtpObserverEvents, RtpObserverObserverEvents } from './RtpObserver';
import type { Producer } from './Producer';
import type { AppData } from './types';

export type ActiveSpeakerObserverOptions<T extends AppData = AppData> = {
	/** Interval in ms between dominant-speaker evaluations (default 300). */
	interval?: number;
	appData?: T;
};

export type ActiveSpeakerObserverDominantSpeaker = { producer: Producer };

export type ActiveSpeakerObserverEvents = RtpObserverEvents & {
	dominantspeaker: [ActiveSpeakerObserverDominantSpeaker];
};

export type ActiveSpeakerObserverObserverEvents = RtpObserverObserverEvents & {
	dominantspeaker: [ActiveSpeakerObserverDominantSpeaker];
};

/** Emits 'dominantspeaker' when the most active speaker changes (short noises do not count). */
export class ActiveSpeakerObserver<T extends AppData = AppData> extends RtpObserver<
	T,
	ActiveSpeakerObserverEvents,
	ActiveSpeakerObserverObserverEvents
> {
	/** @private */
	constructor(options: RtpObserverConstructorOptions<T>) {
		super(options, new EnhancedEventEmitter<ActiveSpeakerObserverObserverEvents>());
	}

	get type(): 'activespeaker' {
		return 'activespeaker';
	}

	protected onNotification(event: string, data: any): void {
		if (event === 'dominantspeaker') {
			const producer = this.getProducerById(data.producerId);
			if (!producer) {
				return;
			}
			this.safeEmit('dominantspeaker', { producer });
			this.observer.safeEmit('dominantspeaker', { producer });
		}
	}
}
