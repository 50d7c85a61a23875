'use strict';
// Unit tests of the browser kit's SFrame code (e2ee/sframe.js) against the RFC 9605 test
// vectors of its cipher suite (appendix C: header encodings; AES_256_GCM_SHA512_128 key,
// salt, nonce, ciphertext), plus tampering checks. The kit is an ES module and Jest runs
// CommonJS, so the checks run in a child Node (WebCrypto as in browsers) and report here.
const { execFileSync } = require('node:child_process');
const path = require('node:path');

test('SFrame: RFC 9605 test vectors for AES_256_GCM_SHA512_128 and every header vector', () => {
	const out = execFileSync(process.execPath, [path.join(__dirname, 'e2ee', 'vectors.mjs')], { encoding: 'utf8' });
	const r = JSON.parse(out.trim().split('\n').pop());
	expect(r.failed).toEqual([]);
	// 289 header vectors encoded and decoded, 8 checks of the suite's row, 3 of the kit's
	// longer-than-needed CTR encoding.
	expect(r.checks).toBe(289 * 2 + 8 + 3);
});
