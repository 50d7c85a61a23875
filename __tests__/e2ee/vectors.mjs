// Checks the kit's SFrame code (e2ee/sframe.js, an ES module) against the RFC 9605 test
// vectors for its cipher suite; run by test-e2ee-kit.test.js (Jest runs CommonJS), prints one
// JSON line: the checks made and the ones that failed.
import { readFileSync } from 'node:fs';
import { AES_256_GCM_SHA512_128, encodeHeader, decodeHeader, deriveKeySalt, nonce, encrypt, decrypt } from '../../e2ee/sframe.js';

// KIDs and CTRs reach 2^64 - 1: read them as strings (a JSON number would lose precision).
const raw = readFileSync(new URL('../fixtures/sframe-rfc9605-vectors.json', import.meta.url), 'utf8');
const v = JSON.parse(raw.replace(/"(kid|ctr)": (\d+)/g, '"$1": "$2"'));
const hex = s => Uint8Array.from(s.match(/../g) ?? [], b => parseInt(b, 16));
const toHex = b => Array.from(b, x => x.toString(16).padStart(2, '0')).join('');
const failed = [];
let checks = 0;
const check = (what, got, want) => {
	checks++;
	if (got !== want) {
		failed.push({ what, got, want });
	}
};

for (const h of v.header) {
	check(`header ${h.kid}/${h.ctr}`, toHex(encodeHeader(BigInt(h.kid), BigInt(h.ctr))), h.encoded);
	const d = decodeHeader(hex(h.encoded));
	check(`decode ${h.encoded}`, `${d.kid}/${d.ctr}/${d.length}`, `${h.kid}/${h.ctr}/${h.encoded.length / 2}`);
}
for (const s of v.sframe) {
	check('cipher suite', s.cipher_suite, AES_256_GCM_SHA512_128);
	const k = await deriveKeySalt(hex(s.base_key), BigInt(s.kid), { exposeKey: true });
	check('sframe_key', toHex(k.rawKey), s.sframe_key);
	check('sframe_salt', toHex(k.salt), s.sframe_salt);
	check('nonce', toHex(nonce(k.salt, BigInt(s.ctr))), s.nonce);
	const ct = await encrypt(k, BigInt(s.kid), BigInt(s.ctr), hex(s.pt), hex(s.metadata));
	check('ct', toHex(ct), s.ct);
	const back = await decrypt(async kid => (kid === BigInt(s.kid) ? k : undefined), hex(s.ct), hex(s.metadata));
	check('decrypt', toHex(back.plaintext), s.pt);
	// A flipped bit anywhere, or other metadata, must not authenticate.
	const bad = hex(s.ct);
	bad[bad.length - 1] ^= 1;
	const refused = await decrypt(async () => k, bad, hex(s.metadata)).then(() => false, () => true);
	check('tampered ciphertext refused', refused, true);
	const otherMeta = await decrypt(async () => k, hex(s.ct), new Uint8Array(0)).then(() => false, () => true);
	check('other metadata refused', otherMeta, true);
}
// The kit writes a CTR in more bytes than it needs (its config byte's low bit then tells a
// VP8 keyframe, see e2ee/worker.js): still a valid header that any SFrame reader decodes.
const padded = encodeHeader(0x100n, 0x1234567890n, { ctrLength: 6 });
check('padded CTR header', toHex(padded), '9d' + '0100' + '001234567890');
const back = decodeHeader(padded);
check('padded CTR decodes', `${back.kid}/${back.ctr}/${back.length}`, `256/${0x1234567890n}/9`);
check('CTR too long for its length refused', (() => { try { encodeHeader(1n, 0x1234567890n, { ctrLength: 4 }); return false; } catch { return true; } })(), true);
console.log(JSON.stringify({ checks, failed }));
