'use strict';
// Per-receiver adaptation with real Chromium peers and a real bottleneck: two receivers of one
// VP8 simulcast producer; tc caps the SFU's packets to one of them at 300 kbit/s. That
// receiver's consumer must move down (its transport's bandwidth estimate falls) while the
// other stays at the top layer, keep decoding under the cap, and come back up when the cap is
// lifted. tc needs a network namespace of its own, so the call runs in a child process under
// `unshare --net` (root: CI and this machine run as root); see netns/bwe-throttle.js.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

test('a throttled receiver moves down and recovers while the other stays at the top layer', () => {
	const script = path.join(__dirname, 'netns', 'bwe-throttle.js');
	const r = spawnSync('unshare', ['--net', process.execPath, script], { encoding: 'utf8', timeout: 120000 });
	if (r.error) {
		throw new Error(`could not run the call in a network namespace: ${r.error.message}`);
	}
	const line = r.stdout.trim().split('\n').pop() || '';
	let outcome;
	try {
		outcome = JSON.parse(line);
	} catch {
		throw new Error(`no outcome from the call (exit ${r.status}): ${r.stdout}\n${r.stderr}`);
	}
	console.log(`[e2e bwe] ${JSON.stringify(outcome.events)}`);
	if (!outcome.ok) {
		throw new Error(outcome.error);
	}
	expect(r.status).toBe(0);
	const what = outcome.events.map(e => e.what);
	expect(what).toEqual(expect.arrayContaining(['C moved down', 'under the cap', 'cap lifted', 'C back at the top layer']));
}, 150000);
