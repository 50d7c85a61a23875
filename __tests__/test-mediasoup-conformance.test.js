'use strict';
// mediasoup 3.14.7's own Node tests (extracted by @mafalda-sfu/mediasoup-node-tests) run
// against this package. Exclusions are listed below, each with its reason; the README's
// compatibility section repeats them.
const mediasoup = require('../');

// Workers are threads of this process: worker.pid is the test runner itself, so the suite's
// own switch for implementations with "virtual" pids skips the tests that kill(worker.pid).
process.env.HAS_VIRTUAL_PIDS = '1';

/** Tests that cannot apply to an in-process worker or that pin 3.14-only behaviour. */
const EXCLUDED = new Map([
	['Worker.workerBin matches mediasoup-worker absolute path', 'there is no worker binary (workerBin is "")'],
	[
		'mediasoup.version matches version field in package.json',
		"compares with the test package's own version (3.14.7), not with the module under test",
	],
	['Producer emits "score"', 'injects flatbuffers notifications into the subprocess channel (mediasoup IPC format)'],
	['Consumer emits "score"', 'injects flatbuffers notifications into the subprocess channel (mediasoup IPC format)'],
	['WebRtcTransport events succeed', 'injects flatbuffers notifications into the subprocess channel (mediasoup IPC format)'],
	[
		'router.pipeToRouter() succeeds with audio',
		'expects 3.14 header-extension ids (ssrc-audio-level 10); 3.27, which this package follows, uses 6',
	],
	[
		'router.pipeToRouter() succeeds with video',
		'expects 3.14 header extensions (framemarking-07, ids 6..12); 3.27 dropped framemarking and renumbered',
	],
	[
		'router.createPipeTransport() with enableRtx succeeds',
		'expects 3.14 header extensions (framemarking-07, ids 6..12); 3.27 dropped framemarking and renumbered',
	],
	[
		'createWorker() succeeds',
		"checks constructor.name === 'Worker'; 3.27, which this package follows, names its classes WorkerImpl, RouterImpl, … (the rest of the test is covered by test-Worker.test.js)",
	],
	[
		'router.pipeToRouter() called in two Routers passing one to each other as argument generates a single PipeTransport pair',
		"counts transports whose constructor.name is 'PipeTransport'; 3.27 names the class PipeTransportImpl (the single pair is checked in test-pipeToRouter.test.js)",
	],
	[
		'consumer.dump() succeeds',
		'expects 3.14 header-extension ids (ssrc-audio-level 10); 3.27, which this package follows, uses 6',
	],
]);


const realTest = global.test;
global.test = Object.assign(
	(name, fn, timeout) => (EXCLUDED.has(name) ? realTest.skip(name, fn, timeout) : realTest(name, fn, timeout)),
	realTest
);

// Every suite of the package, as its README says to use it.
require('@mafalda-sfu/mediasoup-node-tests')(mediasoup);
