'use strict';
// A TypeScript application written against mediasoup's types must type-check unchanged.
const path = require('node:path');
const { execFileSync } = require('node:child_process');

test('tsc --noEmit accepts a mediasoup application using this package\'s types', () => {
	const tsc = path.join(__dirname, '..', 'node_modules', '.bin', 'tsc');
	let out = '';
	try {
		execFileSync(tsc, ['--noEmit', '-p', path.join(__dirname, 'typescript', 'tsconfig.json')], { encoding: 'utf8' });
	} catch (error) {
		out = `${error.stdout}${error.stderr}`;
	}
	expect(out).toBe('');
});
