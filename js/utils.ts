import { randomUUID, randomInt } from 'node:crypto';

/** Deep clone of JSON-like data (undefined stays undefined). */
export function clone<T>(data: T): T {
	if (data === undefined) {
		return undefined as T;
	}
	return structuredClone(data);
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
