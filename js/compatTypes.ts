/**
 * Types that mediasoup 3.27 exports through `types` and that the facade's classes do not define
 * themselves: the shapes of dumps and stats entries, router capability aliases, observers'
 * emitter types, small unions. Shapes follow mediasoup 3.27.1's public typings, so that an
 * application naming any of them compiles unchanged (`__tests__/typescript/types-3.27.ts`).
 */
import type { EnhancedEventEmitter } from './enhancedEvents';
import type { MediaKind, RtpCapabilities, RtpCodecCapability, RtpEncodingParameters, RtpParameters } from './rtpParametersTypes';
import type { Consumer } from './Consumer';
import type { Producer } from './Producer';
import type { DataConsumer, DataConsumerType } from './DataConsumer';
import type { DataProducer, DataProducerType, SctpStreamParameters } from './DataProducer';
import type { PipeTransport } from './PipeTransport';
import type { Router } from './Router';
import type { Worker, WorkerSettings } from './Worker';
import type { TransportListenInfo, TransportListenIp } from './Transport';
import type { RtpObserverObserverEvents } from './RtpObserver';
import type { AudioLevelObserverObserverEvents } from './AudioLevelObserver';
import type { ActiveSpeakerObserverObserverEvents } from './ActiveSpeakerObserver';
import type { LogEventListeners } from './Logger';
import type { parseScalabilityMode } from './scalabilityModes';
import type { AppData } from './types';

export type { LogEventListeners };

/** What `createRouter({ mediaCodecs })` takes: codecs whose preferred payload type is optional. */
export type RouterRtpCodecCapability = Omit<RtpCodecCapability, 'preferredPayloadType'> & {
	preferredPayloadType?: number;
};

export type RouterRtpCapabilities = Omit<RtpCapabilities, 'codecs'> & {
	codecs?: RouterRtpCodecCapability[];
};

export type TransportType = 'webrtc' | 'plain' | 'pipe' | 'direct';
export type RtpObserverType = 'audiolevel' | 'activespeaker';
export type IceCandidateType = 'host';
export type IceCandidateTcpType = 'passive';
export type WebRtcServerListenInfo = TransportListenInfo;

export type IpPort = { ip: string; port: number };

export type IceUserNameFragment = { localIceUsernameFragment: string; webRtcTransportId: string };

export type RtpObserverObserver = EnhancedEventEmitter<RtpObserverObserverEvents>;
export type AudioLevelObserverObserver = EnhancedEventEmitter<AudioLevelObserverObserverEvents>;
export type ActiveSpeakerObserverObserver = EnhancedEventEmitter<ActiveSpeakerObserverObserverEvents>;

/** The module-level `observer` and its events. */
export type ObserverEvents = { newworker: [Worker] };
export type Observer = EnhancedEventEmitter<ObserverEvents>;

/** The package's top level, as an interface (3.27 describes its index this way). */
export interface Index {
	version: string;
	observer: Observer;
	workerBin: string;
	setLogEventListeners: (listeners?: LogEventListeners) => void;
	createWorker: <WorkerAppData extends AppData = AppData>(options?: WorkerSettings<WorkerAppData>) => Promise<Worker<WorkerAppData>>;
	getSupportedRtpCapabilities: () => RtpCapabilities;
	parseScalabilityMode: typeof parseScalabilityMode;
}

export type PipeToRouterOptions = {
	producerId?: string;
	dataProducerId?: string;
	router: Router;
	keepId?: boolean;
	listenInfo?: TransportListenInfo;
	listenIp?: TransportListenIp | string;
	enableSctp?: boolean;
	numSctpStreams?: { OS: number; MIS: number };
	maxSendMessageSize?: number;
	maxReceiveMessageSize?: number;
	sctpSendBufferSize?: number;
	sctpPerStreamSendQueueLimit?: number;
	sctpMaxReceiverWindowBufferSize?: number;
	sctpDefaultStreamBufferedAmountLowThreshold?: number;
	enableRtx?: boolean;
	enableSrtp?: boolean;
};

export type PipeToRouterResult = {
	pipeConsumer?: Consumer;
	pipeProducer?: Producer;
	pipeDataConsumer?: DataConsumer;
	pipeDataProducer?: DataProducer;
};

export type PipeTransportPair = { [key: string]: PipeTransport };

/** Parameters of one RTP stream in a producer's or consumer's dump. */
export type RtpStreamParametersDump = {
	encodingIdx: number;
	ssrc: number;
	payloadType: number;
	mimeType: string;
	clockRate: number;
	rid?: string;
	cname: string;
	rtxSsrc?: number;
	rtxPayloadType?: number;
	useNack: boolean;
	usePli: boolean;
	useFir: boolean;
	useInBandFec: boolean;
	useDtx: boolean;
	spatialLayers: number;
	temporalLayers: number;
};

export type RtxStreamParameters = {
	ssrc: number;
	payloadType: number;
	mimeType: string;
	clockRate: number;
	rrid?: string;
	cname: string;
};

export type RtxStreamDump = { params: RtxStreamParameters };

export type RtpStreamDump = {
	params: RtpStreamParametersDump;
	score: number;
	rtxStream?: RtxStreamDump;
};

export type BaseConsumerDump = {
	id: string;
	producerId: string;
	kind: MediaKind;
	rtpParameters: RtpParameters;
	consumableRtpEncodings?: RtpEncodingParameters[];
	supportedCodecPayloadTypes: number[];
	traceEventTypes: string[];
	paused: boolean;
	producerPaused: boolean;
	priority: number;
};

export type SimpleConsumerDump = BaseConsumerDump & { type: string; rtpStream: RtpStreamDump };

export type SimulcastConsumerDump = BaseConsumerDump & {
	type: string;
	rtpStream: RtpStreamDump;
	preferredSpatialLayer: number;
	targetSpatialLayer: number;
	currentSpatialLayer: number;
	preferredTemporalLayer: number;
	targetTemporalLayer: number;
	currentTemporalLayer: number;
};

export type SvcConsumerDump = SimulcastConsumerDump;

export type PipeConsumerDump = BaseConsumerDump & { type: string; rtpStreams: RtpStreamDump[] };

export type DataProducerDump = {
	id: string;
	paused: boolean;
	type: DataProducerType;
	sctpStreamParameters?: SctpStreamParameters;
	label: string;
	protocol: string;
};

export type DataConsumerDump = {
	id: string;
	paused: boolean;
	dataProducerPaused: boolean;
	subchannels: number[];
	dataProducerId: string;
	type: DataConsumerType;
	sctpStreamParameters?: SctpStreamParameters;
	label: string;
	protocol: string;
	bufferedAmount: number;
	bufferedAmountLowThreshold: number;
};

export type DataProducerStat = {
	type: string;
	timestamp: number;
	label: string;
	protocol: string;
	messagesReceived: number;
	bytesReceived: number;
};

export type DataConsumerStat = {
	type: string;
	timestamp: number;
	label: string;
	protocol: string;
	messagesSent: number;
	bytesSent: number;
	bufferedAmount: number;
};

type KeyValue<K> = { key: K; value: string };

export type RtpListenerDump = {
	ssrcTable: KeyValue<number>[];
	midTable: KeyValue<number>[];
	ridTable: KeyValue<number>[];
};

export type SctpListenerDump = { streamIdTable: KeyValue<number>[] };

export type RecvRtpHeaderExtensions = {
	mid?: number;
	rid?: number;
	rrid?: number;
	absSendTime?: number;
	transportWideCc01?: number;
};

export type BitrateByLayer = { [key: string]: number };

export type BaseRtpStreamStats = {
	timestamp: number;
	ssrc: number;
	rtxSsrc?: number;
	rid?: string;
	kind: string;
	mimeType: string;
	packetsLost: number;
	fractionLost: number;
	jitter: number;
	packetsDiscarded: number;
	packetsRetransmitted: number;
	packetsRepaired: number;
	nackCount: number;
	nackPacketCount: number;
	pliCount: number;
	firCount: number;
	roundTripTime?: number;
	rtxPacketsDiscarded?: number;
	score: number;
};

export type RtpStreamRecvStats = BaseRtpStreamStats & {
	type: string;
	packetCount: number;
	byteCount: number;
	bitrate: number;
	bitrateByLayer: BitrateByLayer;
};

export type RtpStreamSendStats = BaseRtpStreamStats & {
	type: string;
	packetCount: number;
	byteCount: number;
	bitrate: number;
};
