// SFrame (RFC 9605) with the cipher suite AES_256_GCM_SHA512_128 (0x0005), on WebCrypto:
// the header (§4.3), key and salt derivation (§4.4.2), the nonce (§4.4.3) and authenticated
// encryption with the header and any clear metadata as associated data (§4.4.3). Runs in
// browsers (window and workers) and in Node ≥ 20 (globalThis.crypto).

export const AES_256_GCM_SHA512_128 = 0x0005;
/** Key, nonce and tag sizes of the suite (Nk, Nn, Nt). */
export const NK = 32;
export const NN = 12;
export const NT = 16;

const subtle = () => globalThis.crypto.subtle;
const text = new TextEncoder();

/** `n` (a bigint or a safe integer) in as few big-endian bytes as it needs (at least one). */
function minimalBytes(n) {
	let v = BigInt(n);
	const out = [];
	do {
		out.unshift(Number(v & 0xffn));
		v >>= 8n;
	} while (v > 0n);
	return out;
}

function bigEndian(n, len) {
	const out = new Uint8Array(len);
	let v = BigInt(n);
	for (let i = len - 1; i >= 0; i--) {
		out[i] = Number(v & 0xffn);
		v >>= 8n;
	}
	return out;
}

/**
 * The SFrame header of (KID, CTR): a config byte X|K|Y|C, then the KID's bytes when it does
 * not fit in K (values 0–7 do), then the CTR's likewise — in `ctrLength` bytes when given
 * (leading zeros; the header stays valid: a receiver reads C+1 bytes whatever their value).
 */
export function encodeHeader(kid, ctr, { ctrLength } = {}) {
	const k = BigInt(kid);
	const c = BigInt(ctr);
	const bytes = [0];
	if (k < 8n) {
		bytes[0] |= Number(k) << 4;
	} else {
		const kb = minimalBytes(k);
		bytes[0] |= 0x80 | ((kb.length - 1) << 4);
		bytes.push(...kb);
	}
	if (c < 8n && !ctrLength) {
		bytes[0] |= Number(c);
	} else {
		let cb = minimalBytes(c);
		if (ctrLength) {
			if (ctrLength < cb.length || ctrLength > 8) {
				throw new RangeError(`a CTR of ${cb.length} bytes cannot be written in ${ctrLength}`);
			}
			cb = [...new Array(ctrLength - cb.length).fill(0), ...cb];
		}
		bytes[0] |= 0x08 | (cb.length - 1);
		bytes.push(...cb);
	}
	return Uint8Array.from(bytes);
}

/** Reads a header at the start of `buf`: { kid, ctr (bigints), length }; null if truncated. */
export function decodeHeader(buf) {
	if (buf.length < 1) {
		return null;
	}
	const b = buf[0];
	let i = 1;
	const read = n => {
		if (i + n > buf.length) {
			return null;
		}
		let v = 0n;
		for (let j = 0; j < n; j++) {
			v = (v << 8n) | BigInt(buf[i + j]);
		}
		i += n;
		return v;
	};
	const kid = b & 0x80 ? read(((b >> 4) & 0x07) + 1) : BigInt((b >> 4) & 0x07);
	if (kid === null) {
		return null;
	}
	const ctr = b & 0x08 ? read((b & 0x07) + 1) : BigInt(b & 0x07);
	if (ctr === null) {
		return null;
	}
	return { kid, ctr, length: i };
}

function label(prefix, kid) {
	const p = text.encode(prefix);
	const out = new Uint8Array(p.length + 10);
	out.set(p);
	out.set(bigEndian(kid, 8), p.length);
	out.set(bigEndian(AES_256_GCM_SHA512_128, 2), p.length + 8);
	return out;
}

/**
 * The SFrame key and salt of `kid` from the application's `baseKey` (bytes): HKDF-SHA512 with
 * an empty salt, info "SFrame 1.0 Secret key " / "SFrame 1.0 Secret salt " + KID + suite.
 * Returns { key (a non-extractable AES-GCM CryptoKey), salt (bytes) }, and the raw key bytes
 * when `exposeKey` (the test vectors check them).
 */
export async function deriveKeySalt(baseKey, kid, { exposeKey = false } = {}) {
	const ikm = await subtle().importKey('raw', baseKey, 'HKDF', false, ['deriveBits']);
	const hkdf = info => ({ name: 'HKDF', hash: 'SHA-512', salt: new Uint8Array(0), info });
	const rawKey = new Uint8Array(await subtle().deriveBits(hkdf(label('SFrame 1.0 Secret key ', kid)), ikm, NK * 8));
	const salt = new Uint8Array(await subtle().deriveBits(hkdf(label('SFrame 1.0 Secret salt ', kid)), ikm, NN * 8));
	const key = await subtle().importKey('raw', rawKey, 'AES-GCM', false, ['encrypt', 'decrypt']);
	return exposeKey ? { key, salt, rawKey } : { key, salt };
}

/** The nonce of `ctr`: the salt XOR the counter, big-endian, right-aligned. */
export function nonce(salt, ctr) {
	const out = Uint8Array.from(salt);
	const c = bigEndian(ctr, NN);
	for (let i = 0; i < NN; i++) {
		out[i] ^= c[i];
	}
	return out;
}

function concat(...parts) {
	const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
	let i = 0;
	for (const p of parts) {
		out.set(p, i);
		i += p.length;
	}
	return out;
}

/**
 * Encrypts `plaintext` under (`kid`, `ctr`) with { key, salt } from deriveKeySalt; `metadata`
 * is authenticated, not encrypted, and not included; `headerOptions` go to encodeHeader.
 * Returns header || ciphertext || tag.
 */
export async function encrypt({ key, salt }, kid, ctr, plaintext, metadata = new Uint8Array(0), headerOptions = {}) {
	const header = encodeHeader(kid, ctr, headerOptions);
	const ct = await subtle().encrypt(
		{ name: 'AES-GCM', iv: nonce(salt, ctr), additionalData: concat(header, metadata), tagLength: NT * 8 },
		key,
		plaintext
	);
	return concat(header, new Uint8Array(ct));
}

/**
 * Decrypts an SFrame ciphertext (header first). `keyFor(kid)` returns { key, salt } or
 * undefined (unknown key). Returns { kid, ctr, plaintext }; throws when the key is unknown
 * or the frame does not authenticate.
 */
export async function decrypt(keyFor, frame, metadata = new Uint8Array(0)) {
	const h = decodeHeader(frame);
	if (!h || frame.length < h.length + NT) {
		throw new Error('not an SFrame ciphertext');
	}
	const k = await keyFor(h.kid);
	if (!k) {
		throw new Error(`no key for KID ${h.kid}`);
	}
	const header = frame.subarray(0, h.length);
	const pt = await subtle().decrypt(
		{ name: 'AES-GCM', iv: nonce(k.salt, h.ctr), additionalData: concat(header, metadata), tagLength: NT * 8 },
		k.key,
		frame.subarray(h.length)
	);
	return { kid: h.kid, ctr: h.ctr, plaintext: new Uint8Array(pt) };
}
