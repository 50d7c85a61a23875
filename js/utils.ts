import { randomUUID, randomInt } from 'node:crypto';

/**
 * Deep clone of JSON-like data (undefined stays undefined). Plain objects and arrays are copied
 * by hand: the facade clones parameters on every getter and in every `consume()`, and
 * `structuredClone` (a serialise/deserialise through V8's value serializer) cost 5–10× more
 * there; anything else (a Buffer, a Date in appData-like data) still goes to `structuredClone`.
 */
export function clone<T>(data: T): T {
	if (data === undefined) {
		return undefined as T;
	}
	return copy(data) as T;
}

function copy(v: unknown): unknown {
	if (typeof v !== 'object' || v === null) {
		return v;
	}
	if (Array.isArray(v)) {
		const out = new Array(v.length);
		for (let i = 0; i < v.length; i++) {
			out[i] = copy(v[i]);
		}
		return out;
	}
	const proto = Object.getPrototypeOf(v);
	if (proto !== Object.prototype && proto !== null) {
		return structuredClone(v);
	}
	const out: Record<string, unknown> = {};
	for (const key of Object.keys(v)) {
		out[key] = copy((v as Record<string, unknown>)[key]);
	}
	return out;
}

/** A random number usable as an SSRC (mediasoup's range: 100000000..999999999). */
export function generateRandomNumber(): number {
	return randomInt(100000000, 999999999);
}

export function generateUUIDv4(): string {
	return randomUUID();
}

export function isObject(v: unknown): v is Record<string, any> {
	return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Throws mediasoup's TypeError for a non-object appData. */
export function checkAppData(appData: unknown): void {
	if (appData && typeof appData !== 'object') {
		throw new TypeError('if given, appData must be an object');
	}
}
