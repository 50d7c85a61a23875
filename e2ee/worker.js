// The kit's worker: encrypts outgoing and decrypts incoming encoded frames, off the main
// thread. Frames arrive through RTCRtpScriptTransform ('rtctransform' events) or, where only
// Chromium's older API exists, as the streams of createEncodedStreams() posted by the page.
// Keys come from the page (postMessage); they never leave this worker except as frames.
//
// Frame formats (`format` option of the page's E2ee):
// - 'sframe' (default): RFC 9605, AES_256_GCM_SHA512_128. Whole frame:
//   header(KID, CTR) || ciphertext || tag. With `clearPrefix`, the codec's first bytes stay
//   clear in front (VP8: 10 on keyframes, 3 on delta frames; audio: 1) and are authenticated.
// - 'iv-prefix': what PeerWave's current worker sends: a random 12-byte IV, then AES-256-GCM
//   of the whole frame under the raw key (no key id: a receiver tries its keys, newest first).
import { deriveKeySalt, encrypt, decrypt, NN } from './sframe.js';

/** kid (bigint) → { raw, derived: { key, salt }, aes } ; newest last. */
const keys = new Map();
let sendKid = null;
/** Per send key: the next SFrame counter (never reused under one key). */
const counters = new Map();
const stats = { encrypted: 0, decrypted: 0, failed: 0, unknownKey: 0 };

async function addKey(kid, raw) {
	const k = BigInt(kid);
	const derived = await deriveKeySalt(raw, k);
	const aes = await crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']);
	keys.delete(k);
	keys.set(k, { raw, derived, aes });
	// A sender's old keys stay for frames still in flight; the ring keeps the newest 16.
	while (keys.size > 16) {
		keys.delete(keys.keys().next().value);
	}
}

// vp8FrameTypeBit: a receiving Chromium reads the first byte of a VP8 RTP payload after the
// payload descriptor — in whole-frame mode, the first byte of our ciphertext frame — as the VP8
// frame tag before the frame reaches the decrypting transform: bit 0 clear means "keyframe".
// Measured (Chromium 156, VP8 simulcast with three temporal layers through the SFU): with that
// bit left to chance (a random IV) or always clear (an SFrame header whose CTR is 5 bytes
// long), Chromium took upper-temporal-layer frames for keyframes and dropped them — it decoded
// 5 of 20 frames a second; with the bit set to the real frame type, 20 of 20. So the bit says
// the frame type (which the SFU infers anyway) and nothing else of the frame is readable:
// 'iv-prefix' sets it in the IV's first byte, 'sframe' chooses the CTR's encoded length so that
// the header's first byte (whose bit 0 is the low bit of C = length − 1) carries it.
function ctrLengthFor(ctr, key) {
	let len = 1;
	while (len < 8 && ctr >= 1n << BigInt(8 * len)) {
		len++;
	}
	// C = len − 1; bit 0 of the config byte must be 0 for a keyframe, 1 for a delta frame.
	if (((len - 1) & 1) !== (key ? 0 : 1)) {
		len++;
	}
	return len;
}

function randomStart() {
	const b = crypto.getRandomValues(new Uint8Array(5));
	return b.reduce((v, x) => (v << 8n) | BigInt(x), 0n);
}

function clearBytes(kind, frame, clearPrefix) {
	if (!clearPrefix) {
		return 0;
	}
	if (kind === 'audio') {
		return 1;
	}
	return frame.type === 'key' ? 10 : 3;
}

function concat(a, b) {
	const out = new Uint8Array(a.length + b.length);
	out.set(a);
	out.set(b, a.length);
	return out;
}

function makeTransform({ role, kind, format = 'sframe', clearPrefix = false }) {
	return new TransformStream({
		async transform(frame, controller) {
			const data = new Uint8Array(frame.data);
			try {
				if (role === 'sender') {
					if (sendKid === null || !keys.has(sendKid)) {
						return; // no key yet: send nothing rather than clear media
					}
					const k = keys.get(sendKid);
					let out;
					if (format === 'iv-prefix') {
						const iv = crypto.getRandomValues(new Uint8Array(NN));
						if (kind === 'video') {
							// See vp8FrameTypeBit: 95 random bits are left, ample for random IVs.
							iv[0] = (iv[0] & 0xfe) | (frame.type === 'key' ? 0 : 1);
						}
						out = concat(iv, new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, k.aes, data)));
					} else {
						const n = Math.min(clearBytes(kind, frame, clearPrefix), data.length);
						// Starting at a random 40-bit value: two workers given the same key by
						// mistake still (almost surely) never reuse a nonce.
						const ctr = counters.get(sendKid) ?? randomStart();
						counters.set(sendKid, ctr + 1n);
						const prefix = data.subarray(0, n);
						// Whole-frame VP8: see vp8FrameTypeBit. The CTR's length sets bit 0.
						const headerOptions = n === 0 && kind === 'video' ? { ctrLength: ctrLengthFor(ctr, frame.type === 'key') } : {};
						out = concat(prefix, await encrypt(k.derived, sendKid, ctr, data.subarray(n), prefix, headerOptions));
					}
					frame.data = out.buffer;
					stats.encrypted++;
				} else {
					let plain;
					if (format === 'iv-prefix') {
						for (const k of [...keys.values()].reverse()) {
							try {
								plain = new Uint8Array(
									await crypto.subtle.decrypt({ name: 'AES-GCM', iv: data.subarray(0, NN) }, k.aes, data.subarray(NN))
								);
								break;
							} catch {
								// not this key
							}
						}
						if (!plain) {
							throw new Error('no key opens the frame');
						}
					} else {
						const n = Math.min(clearBytes(kind, frame, clearPrefix), data.length);
						const prefix = data.subarray(0, n);
						const r = await decrypt(async kid => keys.get(kid)?.derived, data.subarray(n), prefix);
						plain = concat(prefix, r.plaintext);
					}
					frame.data = plain.buffer;
					stats.decrypted++;
				}
				controller.enqueue(frame);
			} catch (e) {
				// A frame that does not open is dropped: the decoder must never get ciphertext.
				stats.failed++;
				if (/no key/.test(String(e?.message))) {
					stats.unknownKey++;
				}
			}
		},
	});
}

onmessage = async ({ data: m }) => {
	if (m.type === 'setKey') {
		await addKey(m.kid, m.raw);
		postMessage({ type: 'ack', id: m.id });
	} else if (m.type === 'setSendKey') {
		sendKid = BigInt(m.kid);
		postMessage({ type: 'ack', id: m.id });
	} else if (m.type === 'stats') {
		postMessage({ type: 'ack', id: m.id, stats });
	} else if (m.type === 'streams') {
		// createEncodedStreams() fallback: the page transferred the frame streams here.
		m.readable.pipeThrough(makeTransform(m.options)).pipeTo(m.writable);
	}
};

// RTCRtpScriptTransform delivers its frames here (harmless where the event does not exist).
self.onrtctransform = ({ transformer }) => {
	transformer.readable.pipeThrough(makeTransform(transformer.options)).pipeTo(transformer.writable);
};
