/**
 * Capability negotiation, as mediasoup does it: validation (which fills defaults in place),
 * router capabilities from media codecs, producer → router mappings, consumable and consumer
 * parameters. The worker receives the results; error classes and messages follow mediasoup.
 */
import * as h264 from 'h264-profile-level-id';
import { supportedRtpCapabilities } from './supportedRtpCapabilities';
import { parseScalabilityMode } from './scalabilityModes';
import { UnsupportedError } from './errors';
import * as utils from './utils';
import type {
	MediaKind,
	RtpCapabilities,
	RtpCodecCapability,
	RtpCodecParameters,
	RtpEncodingParameters,
	RtpHeaderExtension,
	RtpHeaderExtensionParameters,
	RtpMapping,
	RtpParameters,
	RtcpFeedback,
	RtcpParameters,
} from './rtpParametersTypes';

const DYNAMIC_PAYLOAD_TYPES: number[] = [
	...Array.from({ length: 28 }, (_, i) => 100 + i),
	96,
	97,
	98,
	99,
];

const MIME_RE = /^(audio|video)\/(.+)/i;

export function isRtxCodec(codec: { mimeType: string }): boolean {
	return /.+\/rtx$/i.test(codec.mimeType);
}

function checkCodecParameters(codec: any): void {
	if (!codec.parameters || typeof codec.parameters !== 'object') {
		codec.parameters = {};
	}
	for (const key of Object.keys(codec.parameters)) {
		let value = codec.parameters[key];
		if (value === undefined) {
			codec.parameters[key] = '';
			value = '';
		}
		if (typeof value !== 'string' && typeof value !== 'number') {
			throw new TypeError(`invalid codec parameter [key:${key}s, value:${value}]`);
		}
		if (key === 'apt' && typeof value !== 'number') {
			throw new TypeError('invalid codec apt parameter');
		}
	}
	if (!Array.isArray(codec.rtcpFeedback)) {
		codec.rtcpFeedback = [];
	}
	for (const fb of codec.rtcpFeedback) {
		validateAndNormalizeRtcpFeedback(fb);
	}
}

function mimeKind(codec: any): MediaKind {
	if (typeof codec !== 'object' || codec === null) {
		throw new TypeError('codec is not an object');
	}
	if (!codec.mimeType || typeof codec.mimeType !== 'string') {
		throw new TypeError('missing codec.mimeType');
	}
	const m = MIME_RE.exec(codec.mimeType);
	if (!m) {
		throw new TypeError('invalid codec.mimeType');
	}
	return m[1].toLowerCase() as MediaKind;
}

function normalizeChannels(codec: any, kind: MediaKind): void {
	if (kind === 'audio') {
		if (typeof codec.channels !== 'number') {
			codec.channels = 1;
		}
	} else {
		delete codec.channels;
	}
}

export function validateAndNormalizeRtcpFeedback(fb: RtcpFeedback): void {
	if (typeof fb !== 'object' || fb === null) {
		throw new TypeError('fb is not an object');
	}
	if (!fb.type || typeof fb.type !== 'string') {
		throw new TypeError('missing fb.type');
	}
	if (!fb.parameter || typeof fb.parameter !== 'string') {
		fb.parameter = '';
	}
}

export function validateAndNormalizeRtpCodecCapability(codec: RtpCodecCapability): void {
	const kind = mimeKind(codec);
	codec.kind = kind;
	if (codec.preferredPayloadType && typeof codec.preferredPayloadType !== 'number') {
		throw new TypeError('invalid codec.preferredPayloadType');
	}
	if (typeof codec.clockRate !== 'number') {
		throw new TypeError('missing codec.clockRate');
	}
	normalizeChannels(codec, kind);
	checkCodecParameters(codec);
}

export function validateAndNormalizeRtpHeaderExtension(ext: RtpHeaderExtension): void {
	if (typeof ext !== 'object' || ext === null) {
		throw new TypeError('ext is not an object');
	}
	if (ext.kind !== 'audio' && ext.kind !== 'video') {
		throw new TypeError('invalid ext.kind');
	}
	if (!ext.uri || typeof ext.uri !== 'string') {
		throw new TypeError('missing ext.uri');
	}
	if (typeof ext.preferredId !== 'number') {
		throw new TypeError('missing ext.preferredId');
	}
	if (ext.preferredEncrypt && typeof ext.preferredEncrypt !== 'boolean') {
		throw new TypeError('invalid ext.preferredEncrypt');
	} else if (!ext.preferredEncrypt) {
		ext.preferredEncrypt = false;
	}
	if (ext.direction && typeof ext.direction !== 'string') {
		throw new TypeError('invalid ext.direction');
	} else if (!ext.direction) {
		ext.direction = 'sendrecv';
	}
}

export function validateAndNormalizeRtpCapabilities(caps: RtpCapabilities): void {
	if (typeof caps !== 'object' || caps === null) {
		throw new TypeError('caps is not an object');
	}
	if (caps.codecs && !Array.isArray(caps.codecs)) {
		throw new TypeError('caps.codecs is not an array');
	}
	caps.codecs ??= [];
	caps.codecs.forEach(validateAndNormalizeRtpCodecCapability);
	if (caps.headerExtensions && !Array.isArray(caps.headerExtensions)) {
		throw new TypeError('caps.headerExtensions is not an array');
	}
	caps.headerExtensions ??= [];
	caps.headerExtensions.forEach(validateAndNormalizeRtpHeaderExtension);
}

export function validateAndNormalizeRtpCodecParameters(codec: RtpCodecParameters): void {
	const kind = mimeKind(codec);
	if (typeof codec.payloadType !== 'number') {
		throw new TypeError('missing codec.payloadType');
	}
	if (typeof codec.clockRate !== 'number') {
		throw new TypeError('missing codec.clockRate');
	}
	normalizeChannels(codec, kind);
	checkCodecParameters(codec);
}

export function validateAndNormalizeRtpHeaderExtensionParameters(ext: RtpHeaderExtensionParameters): void {
	if (typeof ext !== 'object' || ext === null) {
		throw new TypeError('ext is not an object');
	}
	if (!ext.uri || typeof ext.uri !== 'string') {
		throw new TypeError('missing ext.uri');
	}
	if (typeof ext.id !== 'number') {
		throw new TypeError('missing ext.id');
	}
	if (ext.encrypt && typeof ext.encrypt !== 'boolean') {
		throw new TypeError('invalid ext.encrypt');
	} else if (!ext.encrypt) {
		ext.encrypt = false;
	}
	if (!ext.parameters || typeof ext.parameters !== 'object') {
		ext.parameters = {};
	}
	for (const key of Object.keys(ext.parameters)) {
		let value = ext.parameters[key];
		if (value === undefined) {
			ext.parameters[key] = '';
			value = '';
		}
		if (typeof value !== 'string' && typeof value !== 'number') {
			throw new TypeError('invalid header extension parameter');
		}
	}
}

export function validateAndNormalizeRtpEncodingParameters(encoding: RtpEncodingParameters): void {
	if (typeof encoding !== 'object' || encoding === null) {
		throw new TypeError('encoding is not an object');
	}
	if (encoding.ssrc && typeof encoding.ssrc !== 'number') {
		throw new TypeError('invalid encoding.ssrc');
	}
	if (encoding.rid && typeof encoding.rid !== 'string') {
		throw new TypeError('invalid encoding.rid');
	}
	if (encoding.rtx && typeof encoding.rtx !== 'object') {
		throw new TypeError('invalid encoding.rtx');
	} else if (encoding.rtx && typeof encoding.rtx.ssrc !== 'number') {
		throw new TypeError('missing encoding.rtx.ssrc');
	}
	if (!encoding.dtx || typeof encoding.dtx !== 'boolean') {
		encoding.dtx = false;
	}
	if (encoding.scalabilityMode && typeof encoding.scalabilityMode !== 'string') {
		throw new TypeError('invalid encoding.scalabilityMode');
	}
}

export function validateAndNormalizeRtcpParameters(rtcp: RtcpParameters): void {
	if (typeof rtcp !== 'object' || rtcp === null) {
		throw new TypeError('rtcp is not an object');
	}
	if (rtcp.cname && typeof rtcp.cname !== 'string') {
		throw new TypeError('invalid rtcp.cname');
	}
	if (!rtcp.reducedSize || typeof rtcp.reducedSize !== 'boolean') {
		rtcp.reducedSize = true;
	}
}

export function validateAndNormalizeRtpParameters(params: RtpParameters): void {
	if (typeof params !== 'object' || params === null) {
		throw new TypeError('params is not an object');
	}
	if (params.mid && typeof params.mid !== 'string') {
		throw new TypeError('params.mid is not a string');
	}
	if (!Array.isArray(params.codecs)) {
		throw new TypeError('missing params.codecs');
	}
	params.codecs.forEach(validateAndNormalizeRtpCodecParameters);
	if (params.headerExtensions && !Array.isArray(params.headerExtensions)) {
		throw new TypeError('params.headerExtensions is not an array');
	}
	params.headerExtensions ??= [];
	params.headerExtensions.forEach(validateAndNormalizeRtpHeaderExtensionParameters);
	if (params.encodings && !Array.isArray(params.encodings)) {
		throw new TypeError('params.encodings is not an array');
	}
	params.encodings ??= [];
	params.encodings.forEach(validateAndNormalizeRtpEncodingParameters);
	if (params.rtcp && typeof params.rtcp !== 'object') {
		throw new TypeError('params.rtcp is not an object');
	}
	params.rtcp ??= {};
	if (params.msid && typeof params.msid !== 'string') {
		throw new TypeError('params.msid is not a string');
	}
	validateAndNormalizeRtcpParameters(params.rtcp);
}

// mediasoup ≤ 3.14 names.
export const validateRtpCapabilities = validateAndNormalizeRtpCapabilities;
export const validateRtpParameters = validateAndNormalizeRtpParameters;

/**
 * Whether two codecs are the same for negotiation. `strict` also compares the parameters that
 * make codecs incompatible (H264 packetization-mode and profile, VP9 profile-id); `modify`
 * writes the answer's H264 profile-level-id into `a`.
 */
export function matchCodecs(a: any, b: any, { strict = false, modify = false } = {}): boolean {
	const mime = a.mimeType.toLowerCase();
	if (mime !== b.mimeType.toLowerCase() || a.clockRate !== b.clockRate || a.channels !== b.channels) {
		return false;
	}
	const ap = a.parameters ?? {};
	const bp = b.parameters ?? {};
	if (mime === 'audio/multiopus') {
		return ap.num_streams === bp.num_streams && ap.coupled_streams === bp.coupled_streams;
	}
	if ((mime === 'video/h264' || mime === 'video/h264-svc') && strict) {
		if ((ap['packetization-mode'] || 0) !== (bp['packetization-mode'] || 0)) {
			return false;
		}
		if (!h264.isSameProfile(ap, bp)) {
			return false;
		}
		let answer: string | undefined;
		try {
			answer = h264.generateProfileLevelIdStringForAnswer(ap, bp);
		} catch {
			return false;
		}
		if (modify) {
			if (answer) {
				ap['profile-level-id'] = answer;
			} else {
				delete ap['profile-level-id'];
			}
			a.parameters = ap;
		}
		return true;
	}
	if (mime === 'video/vp9' && strict) {
		return (ap['profile-id'] || 0) === (bp['profile-id'] || 0);
	}
	return true;
}

/** The router's capabilities for the given media codecs (mediasoup's PT allocation). */
export function generateRouterRtpCapabilities(mediaCodecs: RtpCodecCapability[] = []): RtpCapabilities {
	const supported = utils.clone(supportedRtpCapabilities);
	validateAndNormalizeRtpCapabilities(supported);
	if (!Array.isArray(mediaCodecs)) {
		throw new TypeError('mediaCodecs must be an Array');
	}
	const freePts = [...DYNAMIC_PAYLOAD_TYPES];
	const caps: RtpCapabilities = { codecs: [], headerExtensions: supported.headerExtensions };
	const takePt = (): number => {
		const pt = freePts.shift();
		if (pt === undefined) {
			throw new Error('cannot allocate more dynamic codec payload types');
		}
		return pt;
	};
	for (const mediaCodec of mediaCodecs) {
		validateAndNormalizeRtpCodecCapability(mediaCodec);
		const matched = supported.codecs!.find(c => matchCodecs(mediaCodec, c, { strict: false }));
		if (!matched) {
			throw new UnsupportedError(`media codec not supported [mimeType:${mediaCodec.mimeType}]`);
		}
		const codec = utils.clone(matched);
		if (typeof mediaCodec.preferredPayloadType === 'number') {
			codec.preferredPayloadType = mediaCodec.preferredPayloadType;
			const i = freePts.indexOf(codec.preferredPayloadType);
			if (i > -1) {
				freePts.splice(i, 1);
			}
		} else if (typeof codec.preferredPayloadType !== 'number') {
			codec.preferredPayloadType = takePt();
		}
		if (caps.codecs!.some(c => c.preferredPayloadType === codec.preferredPayloadType)) {
			throw new TypeError('duplicated codec.preferredPayloadType');
		}
		codec.parameters = { ...codec.parameters, ...mediaCodec.parameters };
		caps.codecs!.push(codec);
		if (codec.kind === 'video') {
			caps.codecs!.push({
				kind: codec.kind,
				mimeType: `${codec.kind}/rtx`,
				preferredPayloadType: takePt(),
				clockRate: codec.clockRate,
				parameters: { apt: codec.preferredPayloadType },
				rtcpFeedback: [],
			});
		}
	}
	return caps;
}

/** Maps a producer's payload types and encodings onto the router's. */
export function getProducerRtpParametersMapping(params: RtpParameters, caps: RtpCapabilities): RtpMapping {
	const mapping: RtpMapping = { codecs: [], encodings: [] };
	const toCap = new Map<RtpCodecParameters, RtpCodecCapability>();
	for (const codec of params.codecs) {
		if (isRtxCodec(codec)) {
			continue;
		}
		const matched = caps.codecs!.find(c => matchCodecs(codec, c, { strict: true, modify: true }));
		if (!matched) {
			throw new UnsupportedError(`unsupported codec [mimeType:${codec.mimeType}, payloadType:${codec.payloadType}]`);
		}
		toCap.set(codec, matched);
	}
	for (const codec of params.codecs) {
		if (!isRtxCodec(codec)) {
			continue;
		}
		const media = params.codecs.find(c => c.payloadType === codec.parameters.apt);
		if (!media) {
			throw new TypeError(`missing media codec found for RTX PT ${codec.payloadType}`);
		}
		const capMedia = toCap.get(media)!;
		const capRtx = caps.codecs!.find(c => isRtxCodec(c) && c.parameters.apt === capMedia.preferredPayloadType);
		if (!capRtx) {
			throw new UnsupportedError(`no RTX codec for capability codec PT ${capMedia.preferredPayloadType}`);
		}
		toCap.set(codec, capRtx);
	}
	for (const [codec, cap] of toCap) {
		mapping.codecs.push({ payloadType: codec.payloadType, mappedPayloadType: cap.preferredPayloadType! });
	}
	let mappedSsrc = utils.generateRandomNumber();
	for (const e of params.encodings ?? []) {
		mapping.encodings.push({ ssrc: e.ssrc, rid: e.rid, scalabilityMode: e.scalabilityMode, mappedSsrc: mappedSsrc++ });
	}
	return mapping;
}

/** The parameters every consumer of a producer derives its own from. */
export function getConsumableRtpParameters(
	kind: MediaKind,
	params: RtpParameters,
	caps: RtpCapabilities,
	mapping: RtpMapping
): RtpParameters {
	const out: RtpParameters = { codecs: [], headerExtensions: [], encodings: [], rtcp: {}, msid: undefined };
	for (const codec of params.codecs) {
		if (isRtxCodec(codec)) {
			continue;
		}
		const pt = mapping.codecs.find(m => m.payloadType === codec.payloadType)!.mappedPayloadType;
		const cap = caps.codecs!.find(c => c.preferredPayloadType === pt)!;
		const consumable: RtpCodecParameters = {
			mimeType: cap.mimeType,
			payloadType: cap.preferredPayloadType!,
			clockRate: cap.clockRate,
			channels: cap.channels,
			parameters: codec.parameters,
			rtcpFeedback: cap.rtcpFeedback,
		};
		out.codecs.push(consumable);
		const rtx = caps.codecs!.find(c => isRtxCodec(c) && c.parameters.apt === consumable.payloadType);
		if (rtx) {
			out.codecs.push({
				mimeType: rtx.mimeType,
				payloadType: rtx.preferredPayloadType!,
				clockRate: rtx.clockRate,
				parameters: rtx.parameters,
				rtcpFeedback: rtx.rtcpFeedback,
			});
		}
	}
	for (const capExt of caps.headerExtensions!) {
		if (capExt.kind !== kind || (capExt.direction !== 'sendrecv' && capExt.direction !== 'sendonly')) {
			continue;
		}
		// abs-capture-time and the dependency descriptor only when the producer sends them.
		if (
			(capExt.uri === 'http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time' ||
				capExt.uri === 'https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension') &&
			!params.headerExtensions!.some(e => e.uri === capExt.uri)
		) {
			continue;
		}
		out.headerExtensions!.push({ uri: capExt.uri, id: capExt.preferredId, encrypt: capExt.preferredEncrypt, parameters: {} });
	}
	const encodings = utils.clone(params.encodings) ?? [];
	encodings.forEach((e, i) => {
		delete e.rid;
		delete e.rtx;
		delete e.codecPayloadType;
		e.ssrc = mapping.encodings[i].mappedSsrc;
		out.encodings!.push(e);
	});
	out.rtcp = { cname: params.rtcp!.cname, reducedSize: true };
	out.msid = params.msid;
	return out;
}

/** Whether the given capabilities can receive a producer with these consumable parameters. */
export function canConsume(consumable: RtpParameters, caps: RtpCapabilities): boolean {
	validateAndNormalizeRtpCapabilities(caps);
	const matching = consumable.codecs.filter(codec => caps.codecs!.some(c => matchCodecs(c, codec, { strict: true })));
	return matching.length > 0 && !isRtxCodec(matching[0]);
}

/** A consumer's parameters: one encoding, codecs and extensions the remote supports. */
export function getConsumerRtpParameters({
	consumableRtpParameters,
	remoteRtpCapabilities,
	pipe,
	enableRtx,
}: {
	consumableRtpParameters: RtpParameters;
	remoteRtpCapabilities: RtpCapabilities;
	pipe: boolean;
	enableRtx: boolean;
}): RtpParameters {
	const out: RtpParameters = {
		codecs: [],
		headerExtensions: [],
		encodings: [],
		rtcp: consumableRtpParameters.rtcp,
		msid: consumableRtpParameters.msid,
	};
	remoteRtpCapabilities.codecs!.forEach(validateAndNormalizeRtpCodecCapability);
	let rtxSupported = false;
	for (const codec of utils.clone(consumableRtpParameters.codecs) ?? []) {
		if (!enableRtx && isRtxCodec(codec)) {
			continue;
		}
		const cap = remoteRtpCapabilities.codecs!.find(c => matchCodecs(c, codec, { strict: true }));
		if (!cap) {
			continue;
		}
		codec.rtcpFeedback = cap.rtcpFeedback!.filter(fb => enableRtx || fb.type !== 'nack' || fb.parameter);
		out.codecs.push(codec);
	}
	// Drop RTX codecs whose media codec did not survive.
	for (let i = out.codecs.length - 1; i >= 0; --i) {
		const codec = out.codecs[i];
		if (isRtxCodec(codec)) {
			if (out.codecs.some(m => m.payloadType === codec.parameters.apt)) {
				rtxSupported = true;
			} else {
				out.codecs.splice(i, 1);
			}
		}
	}
	if (out.codecs.length === 0 || isRtxCodec(out.codecs[0])) {
		throw new UnsupportedError('no compatible media codecs');
	}
	out.headerExtensions = consumableRtpParameters.headerExtensions!.filter(ext =>
		remoteRtpCapabilities.headerExtensions!.some(c => c.preferredId === ext.id && c.uri === ext.uri)
	);
	// Transport-CC if available, REMB otherwise.
	const has = (uri: string) => out.headerExtensions!.some(e => e.uri === uri);
	let drop: string[];
	if (has('http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01')) {
		drop = ['goog-remb'];
	} else if (has('http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time')) {
		drop = ['transport-cc'];
	} else {
		drop = ['transport-cc', 'goog-remb'];
	}
	for (const codec of out.codecs) {
		codec.rtcpFeedback = codec.rtcpFeedback!.filter(fb => !drop.includes(fb.type));
	}
	const encodings = consumableRtpParameters.encodings ?? [];
	if (!pipe) {
		const enc: RtpEncodingParameters = { ssrc: utils.generateRandomNumber() };
		if (rtxSupported) {
			enc.rtx = { ssrc: enc.ssrc! + 1 };
		}
		let scalabilityMode = encodings.find(e => e.scalabilityMode)?.scalabilityMode;
		if (encodings.length > 1) {
			const { temporalLayers } = parseScalabilityMode(scalabilityMode);
			scalabilityMode = `L${encodings.length}T${temporalLayers}`;
		}
		if (scalabilityMode) {
			enc.scalabilityMode = scalabilityMode;
		}
		const maxBitrate = encodings.reduce((max, e) => (e.maxBitrate && e.maxBitrate > max ? e.maxBitrate : max), 0);
		if (maxBitrate) {
			enc.maxBitrate = maxBitrate;
		}
		out.encodings!.push(enc);
	} else {
		const base = utils.generateRandomNumber();
		const baseRtx = utils.generateRandomNumber();
		utils.clone(encodings).forEach((e, i) => {
			e.ssrc = base + i;
			if (rtxSupported) {
				e.rtx = { ssrc: baseRtx + i };
			} else {
				delete e.rtx;
			}
			out.encodings!.push(e);
		});
	}
	return out;
}

/** A pipe consumer's parameters: every encoding, no BWE, RTX/NACK only if enabled. */
export function getPipeConsumerRtpParameters({
	consumableRtpParameters,
	enableRtx,
}: {
	consumableRtpParameters: RtpParameters;
	enableRtx: boolean;
}): RtpParameters {
	const out: RtpParameters = {
		codecs: [],
		headerExtensions: [],
		encodings: [],
		rtcp: consumableRtpParameters.rtcp,
		msid: consumableRtpParameters.msid,
	};
	for (const codec of utils.clone(consumableRtpParameters.codecs) ?? []) {
		if (!enableRtx && isRtxCodec(codec)) {
			continue;
		}
		codec.rtcpFeedback = codec.rtcpFeedback!.filter(
			fb =>
				(fb.type === 'nack' && fb.parameter === 'pli') ||
				(fb.type === 'ccm' && fb.parameter === 'fir') ||
				(enableRtx && fb.type === 'nack' && !fb.parameter)
		);
		out.codecs.push(codec);
	}
	const skip = [
		'urn:ietf:params:rtp-hdrext:sdes:mid',
		'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
		'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
	];
	out.headerExtensions = consumableRtpParameters.headerExtensions!.filter(e => !skip.includes(e.uri));
	// The dependency descriptor is among the consumable extensions only when the producer sends
	// it; a pipe consumer carries it anyway (as mediasoup 3.27 does), so the router at the other
	// end of the pipe receives it from its pipe producer.
	const dd = supportedRtpCapabilities.headerExtensions!.find(
		e => e.uri === 'https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension'
	);
	if (dd && !out.headerExtensions.some(e => e.uri === dd.uri)) {
		out.headerExtensions.push({ uri: dd.uri, id: dd.preferredId, encrypt: dd.preferredEncrypt ?? false, parameters: {} });
		out.headerExtensions.sort((a, b) => a.id - b.id);
	}
	const base = utils.generateRandomNumber();
	const baseRtx = utils.generateRandomNumber();
	utils.clone(consumableRtpParameters.encodings ?? []).forEach((e, i) => {
		e.ssrc = base + i;
		if (enableRtx) {
			e.rtx = { ssrc: baseRtx + i };
		} else {
			delete e.rtx;
		}
		out.encodings!.push(e);
	});
	return out;
}

/** Validates SctpStreamParameters, filling `ordered` (mediasoup's rules and messages). */
export function validateAndNormalizeSctpStreamParameters(params: any): void {
	if (typeof params !== 'object' || params === null) {
		throw new TypeError('params is not an object');
	}
	if (typeof params.streamId !== 'number') {
		throw new TypeError('missing params.streamId');
	}
	const orderedGiven = typeof params.ordered === 'boolean';
	if (!orderedGiven) {
		params.ordered = true;
	}
	if (params.maxPacketLifeTime && typeof params.maxPacketLifeTime !== 'number') {
		throw new TypeError('invalid params.maxPacketLifeTime');
	}
	if (params.maxRetransmits && typeof params.maxRetransmits !== 'number') {
		throw new TypeError('invalid params.maxRetransmits');
	}
	if (params.maxPacketLifeTime && params.maxRetransmits) {
		throw new TypeError('cannot provide both maxPacketLifeTime and maxRetransmits');
	}
	if (orderedGiven && params.ordered && (params.maxPacketLifeTime || params.maxRetransmits)) {
		throw new TypeError('cannot be ordered with maxPacketLifeTime or maxRetransmits');
	} else if (!orderedGiven && (params.maxPacketLifeTime || params.maxRetransmits)) {
		params.ordered = false;
	}
}
