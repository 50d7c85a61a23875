/**
 * mediasoup's `types` namespace: every public type, plus (as mediasoup 3.14 code expects) the
 * classes and error classes at run time.
 */
export type AppData = { [key: string]: unknown };

export type Either<T, U> = Only<T, U> | Only<U, T>;
type Only<T, U> = { [P in keyof T]: T[P] } & { [P in keyof U]?: never };

export * from './rtpParametersTypes';
export type { ScalabilityMode } from './scalabilityModes';
export * from './Worker';
export * from './Router';
export * from './Transport';
export * from './WebRtcTransport';
export * from './WebRtcServer';
export * from './PlainTransport';
export * from './PipeTransport';
export * from './DirectTransport';
export * from './Producer';
export * from './Consumer';
export * from './DataProducer';
export * from './DataConsumer';
export * from './RtpObserver';
export * from './AudioLevelObserver';
export * from './ActiveSpeakerObserver';
export * from './Recorder';
export * from './errors';
export type * from './compatTypes';
export { EnhancedEventEmitter } from './enhancedEvents';
