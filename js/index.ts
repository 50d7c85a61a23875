import { Logger, LogEventListeners } from './Logger';
import { EnhancedEventEmitter } from './enhancedEvents';
import { Worker, WorkerSettings } from './Worker';
import { supportedRtpCapabilities } from './supportedRtpCapabilities';
import { parseScalabilityMode } from './scalabilityModes';
import * as utils from './utils';
import type { RtpCapabilities } from './rtpParametersTypes';
import type { AppData } from './types';

import * as types from './types';
import * as errors from './errors';
import * as ortc from './ortc';
import * as extras from './extras';

export { types, errors, ortc, extras, parseScalabilityMode };

// mediasoup 3.27 exports interfaces only and names its classes WorkerImpl, RouterImpl, …; code
// tells objects apart by constructor.name, so the run-time names follow 3.27 while the types
// keep mediasoup's names (and 3.14 code still finds the classes in `types`).
for (const cls of [
	types.Worker,
	types.WebRtcServer,
	types.Router,
	types.Transport,
	types.WebRtcTransport,
	types.PlainTransport,
	types.PipeTransport,
	types.DirectTransport,
	types.Producer,
	types.Consumer,
	types.DataProducer,
	types.DataConsumer,
	types.RtpObserver,
	types.AudioLevelObserver,
	types.ActiveSpeakerObserver,
]) {
	Object.defineProperty(cls, 'name', { value: `${cls.name}Impl` });
}

const logger = new Logger();

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const version: string = require('../package.json').version;

export type ObserverEvents = { newworker: [Worker] };
export type Observer = EnhancedEventEmitter<ObserverEvents>;

/** Emits 'newworker' for every worker created. */
export const observer: Observer = new EnhancedEventEmitter<ObserverEvents>();

/** There is no worker binary: workers are threads of this process. Kept for compatibility. */
export const workerBin = '';

/** Starts a worker thread; resolves once its event loop runs. */
export async function createWorker<WorkerAppData extends AppData = AppData>(
	settings: WorkerSettings<WorkerAppData> = {}
): Promise<Worker<WorkerAppData>> {
	logger.debug('createWorker()');
	utils.checkAppData(settings.appData);
	const worker = new Worker<WorkerAppData>(settings);
	return new Promise((resolve, reject) => {
		worker.once('@success', () => {
			observer.safeEmit('newworker', worker as Worker);
			resolve(worker);
		});
		worker.once('@failure', reject);
	});
}

/** A copy of everything the worker supports (mediasoup 3.27's list). */
export function getSupportedRtpCapabilities(): RtpCapabilities {
	return utils.clone(supportedRtpCapabilities);
}

/** Also delivers the facade's log lines to these listeners (mediasoup ≥ 3.15). */
export function setLogEventListeners(listeners?: LogEventListeners): void {
	logger.debug('setLogEventListeners()');
	Logger.setListeners(listeners);
}
