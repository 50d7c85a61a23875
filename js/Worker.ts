import * as fs from 'node:fs';
import { Logger } from './Logger';
import { EnhancedEventEmitter } from './enhancedEvents';
import { Channel } from './Channel';
import { Router } from './Router';
import { WebRtcServer, WebRtcServerOptions } from './WebRtcServer';
import * as ortc from './ortc';
import * as utils from './utils';
import { WorkerClosedError } from './errors';
import type { RtpCodecCapability } from './rtpParametersTypes';
import type { AppData } from './types';

const logger = new Logger('Worker');

export type WorkerLogLevel = 'debug' | 'warn' | 'error' | 'none';

export type WorkerLogTag =
	| 'info'
	| 'ice'
	| 'dtls'
	| 'rtp'
	| 'srtp'
	| 'rtcp'
	| 'rtx'
	| 'bwe'
	| 'score'
	| 'simulcast'
	| 'svc'
	| 'sctp'
	| 'message';

const LOG_LEVELS = ['debug', 'warn', 'error', 'none'];
const LOG_TAGS = ['info', 'ice', 'dtls', 'rtp', 'srtp', 'rtcp', 'rtx', 'bwe', 'score', 'simulcast', 'svc', 'sctp', 'message'];

export type WorkerSettings<WorkerAppData extends AppData = AppData> = {
	logLevel?: WorkerLogLevel;
	logTags?: WorkerLogTag[];
	/** Lowest port for transports without an explicit port (default 10000). */
	rtcMinPort?: number;
	/** Highest port (default 59999). */
	rtcMaxPort?: number;
	/** Same as rtcMinPort/rtcMaxPort, in listenInfo's shape. */
	portRange?: { min: number; max: number };
	dtlsCertificateFile?: string;
	dtlsPrivateKeyFile?: string;
	/** Accepted for compatibility; there is no worker binary. */
	workerBin?: string;
	/** Accepted for compatibility; libwebrtc is not used. */
	libwebrtcFieldTrials?: string;
	/** Accepted for compatibility (mediasoup ≥ 3.16). */
	disableLiburing?: boolean;
	appData?: WorkerAppData;
};

export type WorkerUpdateableSettings<T extends AppData = AppData> = Pick<WorkerSettings<T>, 'logLevel' | 'logTags'>;

export type WorkerResourceUsage = {
	ru_utime: number;
	ru_stime: number;
	ru_maxrss: number;
	ru_ixrss: number;
	ru_idrss: number;
	ru_isrss: number;
	ru_minflt: number;
	ru_majflt: number;
	ru_nswap: number;
	ru_inblock: number;
	ru_oublock: number;
	ru_msgsnd: number;
	ru_msgrcv: number;
	ru_nsignals: number;
	ru_nvcsw: number;
	ru_nivcsw: number;
};

export type WorkerDump = {
	pid: number;
	webRtcServerIds: string[];
	routerIds: string[];
	channelMessageHandlers: { channelRequestHandlers: string[]; channelNotificationHandlers: string[] };
};

export type WorkerEvents = {
	died: [Error];
	subprocessclose: [];
	listenererror: [string, Error];
	'@success': [];
	'@failure': [Error];
};

export type WorkerObserverEvents = {
	close: [];
	newwebrtcserver: [WebRtcServer];
	newrouter: [Router];
};

export type WorkerObserver = EnhancedEventEmitter<WorkerObserverEvents>;

function validateSettings(s: WorkerSettings): { min: number; max: number } {
	if (s.logLevel !== undefined && !LOG_LEVELS.includes(s.logLevel)) {
		throw new TypeError(`wrong settings: invalid logLevel "${s.logLevel}"`);
	}
	if (s.logTags !== undefined && (!Array.isArray(s.logTags) || s.logTags.some(t => !LOG_TAGS.includes(t)))) {
		throw new TypeError('wrong settings: invalid logTags');
	}
	const min = s.portRange?.min ?? s.rtcMinPort ?? 10000;
	const max = s.portRange?.max ?? s.rtcMaxPort ?? 59999;
	for (const [name, v] of [['rtcMinPort', min], ['rtcMaxPort', max]] as const) {
		if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) {
			throw new TypeError(`wrong settings: invalid ${name} ${v}`);
		}
	}
	if (min > max) {
		throw new TypeError(`wrong settings: rtcMinPort (${min}) greater than rtcMaxPort (${max})`);
	}
	const cert = s.dtlsCertificateFile;
	const key = s.dtlsPrivateKeyFile;
	if (Boolean(cert) !== Boolean(key)) {
		throw new TypeError('wrong settings: dtlsCertificateFile and dtlsPrivateKeyFile must be given together');
	}
	for (const [name, file] of [['dtlsCertificateFile', cert], ['dtlsPrivateKeyFile', key]] as const) {
		if (file !== undefined && (typeof file !== 'string' || !fs.existsSync(file))) {
			throw new TypeError(`wrong settings: ${name} "${file}" not found`);
		}
	}
	return { min, max };
}

/**
 * A worker: one OS thread with its own event loop inside this process (where mediasoup has a
 * subprocess). `pid` is therefore `process.pid`.
 */
export class Worker<WorkerAppData extends AppData = AppData> extends EnhancedEventEmitter<WorkerEvents> {
	readonly #channel: Channel;
	#closed = false;
	#died = false;
	#subprocessClosed = false;
	#appData: WorkerAppData;
	readonly #routers = new Set<Router>();
	readonly #webRtcServers = new Set<WebRtcServer>();
	readonly #observer: WorkerObserver = new EnhancedEventEmitter();

	/** @private Use createWorker(). */
	constructor(settings: WorkerSettings<WorkerAppData>) {
		super();
		logger.debug('constructor()');
		const { min, max } = validateSettings(settings);
		this.#appData = settings.appData ?? ({} as WorkerAppData);
		try {
			this.#channel = new Channel({
				rtcMinPort: min,
				rtcMaxPort: max,
				dtlsCertificateFile: settings.dtlsCertificateFile,
				dtlsPrivateKeyFile: settings.dtlsPrivateKeyFile,
				allowCrashForTesting: process.env.PEERWAVE_SFU_ALLOW_CRASH === '1',
			});
		} catch (error) {
			throw new TypeError(`wrong settings: ${(error as Error).message}`);
		}
		let running = false;
				this.#channel.once('@running', () => {
			running = true;
			// The worker starts with mediasoup's defaults (logLevel 'error', no tags).
			this.#channel
				.request('worker.updateSettings', '', { logLevel: settings.logLevel ?? 'error', logTags: settings.logTags ?? [] })
				.then(
					() => this.emit('@success'),
					error => this.emit('@failure', error)
				);
		});
		this.#channel.once('@died', (reason: string) => {
			const error = new Error(`worker thread died: ${reason}`);
			if (!running) {
				this.close();
				this.emit('@failure', error);
			} else {
				this.#workerDied(error);
			}
		});
		this.#channel.once('@exited', () => this.#onExited());
		this.on('listenererror', (eventName, error) => {
			logger.error(`event listener threw an error [eventName:${eventName}]:`, error);
		});
	}

	/** The process id (workers are threads of this process). */
	get pid(): number {
		return process.pid;
	}

	get closed(): boolean {
		return this.#closed;
	}

	get died(): boolean {
		return this.#died;
	}

	/** True once the worker thread has really exited. */
	get subprocessClosed(): boolean {
		return this.#subprocessClosed;
	}

	get appData(): WorkerAppData {
		return this.#appData;
	}

	set appData(appData: WorkerAppData) {
		this.#appData = appData;
	}

	get observer(): WorkerObserver {
		return this.#observer;
	}

	/** @private For testing. */
	get routersForTesting(): Set<Router> {
		return this.#routers;
	}

	/** @private For testing. */
	get webRtcServersForTesting(): Set<WebRtcServer> {
		return this.#webRtcServers;
	}

	/** @private For testing. */
	get channelForTesting(): Channel {
		return this.#channel;
	}

	close(): void {
		if (this.#closed) {
			return;
		}
		logger.debug('close()');
		this.#closed = true;
		for (const router of this.#routers) {
			router.workerClosed();
		}
		this.#routers.clear();
		for (const server of this.#webRtcServers) {
			server.workerClosed();
		}
		this.#webRtcServers.clear();
		// Joins the thread; its 'exited' message then emits 'subprocessclose'.
		this.#channel.close();
		this.#observer.safeEmit('close');
	}

	async dump(): Promise<WorkerDump> {
		logger.debug('dump()');
		return this.#channel.request('worker.dump');
	}

	/** rusage of the worker thread (RUSAGE_THREAD), times in milliseconds. */
	async getResourceUsage(): Promise<WorkerResourceUsage> {
		logger.debug('getResourceUsage()');
		return this.#channel.request('worker.getResourceUsage');
	}

	async updateSettings({ logLevel, logTags }: WorkerUpdateableSettings = {}): Promise<void> {
		logger.debug('updateSettings()');
		if (this.#closed) {
			throw new WorkerClosedError('Channel closed, cannot send request [method:worker.updateSettings]');
		}
		if (logLevel !== undefined && !LOG_LEVELS.includes(logLevel)) {
			throw new TypeError(`wrong logLevel "${logLevel}"`);
		}
		if (logTags !== undefined && (!Array.isArray(logTags) || logTags.some(t => !LOG_TAGS.includes(t)))) {
			throw new TypeError('wrong logTags');
		}
		await this.#channel.request('worker.updateSettings', '', { logLevel, logTags });
	}

	/** Ports shared by many WebRtcTransports. */
	async createWebRtcServer<T extends AppData = AppData>({ listenInfos, appData }: WebRtcServerOptions<T>): Promise<WebRtcServer<T>> {
		logger.debug('createWebRtcServer()');
		if (!Array.isArray(listenInfos) || listenInfos.length === 0) {
			throw new TypeError('missing listenInfos');
		}
		utils.checkAppData(appData);
		for (const li of listenInfos) {
			if (!li || typeof li.ip !== 'string') {
				throw new TypeError('missing listenInfo.ip');
			}
			if (li.protocol !== 'udp' && li.protocol !== 'tcp') {
				throw new TypeError(`wrong listenInfo.protocol "${li.protocol}"`);
			}
		}
		const webRtcServerId = utils.generateUUIDv4();
		await this.#channel.request('worker.createWebRtcServer', '', {
			webRtcServerId,
			listenInfos: listenInfos.map(li => ({ ...li, announcedAddress: li.announcedAddress ?? li.announcedIp, port: li.port ?? 0 })),
		});
		const server = new WebRtcServer<T>({ internal: { webRtcServerId }, channel: this.#channel, appData });
		this.#webRtcServers.add(server);
		server.on('@close', () => this.#webRtcServers.delete(server));
		this.#observer.safeEmit('newwebrtcserver', server);
		return server;
	}

	async createRouter<RouterAppData extends AppData = AppData>({
		mediaCodecs,
		appData,
	}: { mediaCodecs?: RtpCodecCapability[]; appData?: RouterAppData } = {}): Promise<Router<RouterAppData>> {
		logger.debug('createRouter()');
		utils.checkAppData(appData);
		const rtpCapabilities = ortc.generateRouterRtpCapabilities(utils.clone(mediaCodecs));
		const routerId = utils.generateUUIDv4();
		await this.#channel.request('worker.createRouter', '', { routerId });
		const router = new Router<RouterAppData>({
			internal: { routerId },
			data: { rtpCapabilities },
			channel: this.#channel,
			appData,
		});
		this.#routers.add(router);
		router.on('@close', () => this.#routers.delete(router));
		this.#observer.safeEmit('newrouter', router);
		return router;
	}

	/** @private Test-only: makes the worker thread panic (needs PEERWAVE_SFU_ALLOW_CRASH=1). */
	async crashForTesting(): Promise<void> {
		await this.#channel.request('worker.crashForTesting');
	}

	#workerDied(error: Error): void {
		if (this.#closed) {
			return;
		}
		logger.error(`worker died: ${error.message}`);
		this.#closed = true;
		this.#died = true;
		this.#channel.release();
		for (const router of this.#routers) {
			router.workerClosed();
		}
		this.#routers.clear();
		for (const server of this.#webRtcServers) {
			server.workerClosed();
		}
		this.#webRtcServers.clear();
		this.safeEmit('died', error);
		this.#onExited();
		this.#observer.safeEmit('close');
	}

	#onExited(): void {
		if (this.#subprocessClosed) {
			return;
		}
		this.#subprocessClosed = true;
		this.#channel.release();
		this.safeEmit('subprocessclose');
	}
}
