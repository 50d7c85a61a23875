/**
 * Error classes of mediasoup's API. `InvalidStateError` (mediasoup ≤ 3.14) is kept as an
 * alias of `WorkerClosedError` (mediasoup ≥ 3.15) so code written for either keeps working.
 */

function fixStack(err: Error, ctor: Function): void {
	if (typeof (Error as any).captureStackTrace === 'function') {
		(Error as any).captureStackTrace(err, ctor);
	}
}

/** Thrown when a feature or a parameter value is not supported. */
export class UnsupportedError extends Error {
	constructor(message?: string) {
		super(message);
		this.name = 'UnsupportedError';
		fixStack(this, UnsupportedError);
	}
}

/** Thrown when an operation is attempted on a closed worker (or a closed object's channel). */
export class WorkerClosedError extends Error {
	constructor(message?: string) {
		super(message);
		this.name = 'WorkerClosedError';
		fixStack(this, WorkerClosedError);
	}
}

/** mediasoup 3.14's name for WorkerClosedError. */
export const InvalidStateError = WorkerClosedError;
export type InvalidStateError = WorkerClosedError;

/** Thrown when a referenced object (producer, consumer, ...) does not exist. */
export class NotFoundError extends Error {
	constructor(message?: string) {
		super(message);
		this.name = 'NotFoundError';
		fixStack(this, NotFoundError);
	}
}
