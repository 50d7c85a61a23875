// Types of peerwave-sfu/e2ee (see index.js and the README's E2EE section).

export type E2eeFormat = 'sframe' | 'iv-prefix';

export interface E2eeOptions {
	/** 'sframe' (RFC 9605, AES_256_GCM_SHA512_128; default) or 'iv-prefix' (12-byte IV, then AES-256-GCM). */
	format?: E2eeFormat;
	/** SFrame with the codec's first bytes left clear, for SFUs that read them. */
	clearPrefix?: boolean;
	/** Where worker.js is served (default: next to index.js). */
	workerUrl?: string | URL;
}

export interface E2eeStats {
	encrypted: number;
	decrypted: number;
	failed: number;
	unknownKey: number;
}

export declare class E2ee {
	/** RTCConfiguration members for the transports of encrypted media (mediasoup-client `additionalSettings`). */
	static readonly transportSettings: Partial<RTCConfiguration>;
	constructor(options?: E2eeOptions);
	setKey(kid: number | bigint, rawKey: ArrayBuffer | Uint8Array): Promise<void>;
	setSendKey(kid: number | bigint): Promise<void>;
	attachSender(sender: RTCRtpSender, kind?: 'audio' | 'video'): void;
	attachReceiver(receiver: RTCRtpReceiver, kind?: 'audio' | 'video'): void;
	stats(): Promise<E2eeStats>;
	securityCode(): Promise<string>;
	close(): void;
}

export declare function securityCode(fingerprints: Iterable<string>): Promise<string>;

export declare const AES_256_GCM_SHA512_128: 0x0005;
export declare function encodeHeader(kid: number | bigint, ctr: number | bigint): Uint8Array;
export declare function decodeHeader(buf: Uint8Array): { kid: bigint; ctr: bigint; length: number } | null;
export declare function deriveKeySalt(
	baseKey: Uint8Array,
	kid: number | bigint,
	options?: { exposeKey?: boolean }
): Promise<{ key: CryptoKey; salt: Uint8Array; rawKey?: Uint8Array }>;
export declare function encrypt(
	k: { key: CryptoKey; salt: Uint8Array },
	kid: number | bigint,
	ctr: number | bigint,
	plaintext: Uint8Array,
	metadata?: Uint8Array
): Promise<Uint8Array>;
export declare function decrypt(
	keyFor: (kid: bigint) => Promise<{ key: CryptoKey; salt: Uint8Array } | undefined>,
	frame: Uint8Array,
	metadata?: Uint8Array
): Promise<{ kid: bigint; ctr: bigint; plaintext: Uint8Array }>;
