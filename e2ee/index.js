// peerwave-sfu/e2ee: end-to-end encryption of WebRTC media frames for calls through an SFU
// that must not read them (peerwave-sfu's `produce({ e2ee })`, or any SFU with the
// clear-prefix mode). Works with mediasoup-client: attach a producer's `rtpSender` and a
// consumer's `rtpReceiver`. The frames are encrypted in a worker (RTCRtpScriptTransform;
// Chromium's createEncodedStreams() where that is all there is). Keys are the application's
// (PeerWave derives them from its Signal sessions); they go to the worker, never to a server.
export { AES_256_GCM_SHA512_128, encodeHeader, decodeHeader, deriveKeySalt, encrypt, decrypt } from './sframe.js';

const hex = b => Array.from(new Uint8Array(b), x => x.toString(16).padStart(2, '0')).join('');

export class E2ee {
	/**
	 * RTCConfiguration members the peer connections of encrypted media need (mediasoup-client:
	 * `createSendTransport({ ..., additionalSettings: E2ee.transportSettings })`, and the same
	 * for receive transports): `encodedInsertableStreams` where the browser has Chromium's
	 * createEncodedStreams(), nothing elsewhere.
	 */
	static get transportSettings() {
		return typeof RTCRtpSender !== 'undefined' && typeof RTCRtpSender.prototype.createEncodedStreams === 'function'
			? { encodedInsertableStreams: true }
			: {};
	}

	#worker;
	#next = 1;
	#pending = new Map();
	#options;
	/** kid (string) → fingerprint (hex of SHA-256 of the key). */
	#fingerprints = new Map();

	/**
	 * @param {object} [options]
	 * @param {'sframe'|'iv-prefix'} [options.format] frame format (default 'sframe')
	 * @param {boolean} [options.clearPrefix] SFrame mode leaving the codec's first bytes clear
	 * @param {string|URL} [options.workerUrl] where worker.js is served (default: next to this file)
	 */
	constructor({ format = 'sframe', clearPrefix = false, workerUrl } = {}) {
		if (format !== 'sframe' && format !== 'iv-prefix') {
			throw new TypeError(`format must be 'sframe' or 'iv-prefix', not ${format}`);
		}
		if (clearPrefix && format !== 'sframe') {
			throw new TypeError("clearPrefix applies to the 'sframe' format only");
		}
		this.#options = { format, clearPrefix };
		this.#worker = new Worker(workerUrl ?? new URL('./worker.js', import.meta.url), { type: 'module', name: 'peerwave-e2ee' });
		this.#worker.onmessage = ({ data }) => {
			const p = this.#pending.get(data.id);
			if (p) {
				this.#pending.delete(data.id);
				p(data);
			}
		};
	}

	#call(m, transfer = []) {
		const id = this.#next++;
		return new Promise(resolve => {
			this.#pending.set(id, resolve);
			this.#worker.postMessage({ ...m, id }, transfer);
		});
	}

	/**
	 * Adds (or replaces) the key `kid` (an integer, unique per sender and generation, e.g.
	 * participant << 8 | generation) with its 32 raw bytes. Every page needs every sender's
	 * current keys; older keys stay usable for frames in flight (the 16 newest are kept).
	 */
	async setKey(kid, rawKey) {
		const raw = new Uint8Array(rawKey);
		if (raw.length !== 32) {
			throw new TypeError(`a key is 32 bytes (AES-256), not ${raw.length}`);
		}
		this.#fingerprints.set(String(kid), hex(await crypto.subtle.digest('SHA-256', raw)));
		await this.#call({ type: 'setKey', kid: BigInt(kid), raw });
	}

	/** Makes `kid` (already set) the key this page's senders encrypt with: rotation. */
	async setSendKey(kid) {
		if (!this.#fingerprints.has(String(kid))) {
			throw new TypeError(`unknown key ${kid}: setKey() it first`);
		}
		await this.#call({ type: 'setSendKey', kid: BigInt(kid) });
	}

	/** Encrypts what an RTCRtpSender sends (mediasoup-client: `producer.rtpSender`). */
	attachSender(sender, kind = sender.track?.kind) {
		this.#attach(sender, { role: 'sender', kind });
	}

	/** Decrypts what an RTCRtpReceiver gets (mediasoup-client: `consumer.rtpReceiver`). */
	attachReceiver(receiver, kind = receiver.track?.kind) {
		this.#attach(receiver, { role: 'receiver', kind });
	}

	#attach(senderOrReceiver, { role, kind }) {
		if (kind !== 'audio' && kind !== 'video') {
			throw new TypeError('kind must be audio or video');
		}
		const options = { role, kind, ...this.#options };
		if (typeof senderOrReceiver.createEncodedStreams === 'function') {
			// Chromium. Measured (Chromium 156): an RTCRtpScriptTransform set on a sender that
			// already sends is never given a frame, and the frames go out in clear. With the
			// peer connection created with `encodedInsertableStreams: true`
			// (E2ee.transportSettings) Chromium holds every frame until createEncodedStreams()
			// is called, however late: nothing leaves unencrypted.
			let streams;
			try {
				streams = senderOrReceiver.createEncodedStreams();
			} catch (e) {
				throw new Error(
					`cannot encrypt this ${role}: create its transport with additionalSettings: E2ee.transportSettings (${e.message})`
				);
			}
			const { readable, writable } = streams;
			this.#worker.postMessage({ type: 'streams', readable, writable, options }, [readable, writable]);
		} else if (typeof RTCRtpScriptTransform !== 'undefined') {
			senderOrReceiver.transform = new RTCRtpScriptTransform(this.#worker, options);
		} else {
			throw new Error('this browser can transform neither with createEncodedStreams nor with RTCRtpScriptTransform');
		}
	}

	/** Frames encrypted, decrypted, and dropped for not opening (unknownKey: no key for them). */
	async stats() {
		return (await this.#call({ type: 'stats' })).stats;
	}

	/**
	 * A short code for users to compare aloud: derived from the fingerprints of every key this
	 * page holds (so equal on every page of a call that shares the same keys), 6 groups of 5
	 * digits.
	 */
	async securityCode() {
		return securityCode([...this.#fingerprints.entries()].map(([kid, f]) => `${kid}:${f}`));
	}

	close() {
		this.#worker.terminate();
	}
}

/** The security code of a set of key fingerprints (order does not matter). */
export async function securityCode(fingerprints) {
	const joined = new TextEncoder().encode([...fingerprints].sort().join('\n'));
	const d = new Uint8Array(await crypto.subtle.digest('SHA-256', joined));
	const groups = [];
	for (let i = 0; i < 6; i++) {
		// 5 bytes per group, as a number modulo 100000.
		let v = 0;
		for (let j = 0; j < 5; j++) {
			v = (v * 256 + d[i * 5 + j]) % 100000;
		}
		groups.push(String(v).padStart(5, '0'));
	}
	return groups.join(' ');
}
