import type { RtpCapabilities, RtcpFeedback, RtpHeaderExtension } from './rtpParametersTypes';

/**
 * Everything the worker can receive and send: mediasoup 3.27's codec list and header
 * extension ids, so routers and clients negotiate exactly as they do with mediasoup.
 */

const audioFb: RtcpFeedback[] = [{ type: 'nack' }, { type: 'transport-cc' }];
const tccFb: RtcpFeedback[] = [{ type: 'transport-cc' }];
const videoFb: RtcpFeedback[] = [
	{ type: 'nack' },
	{ type: 'nack', parameter: 'pli' },
	{ type: 'ccm', parameter: 'fir' },
	{ type: 'goog-remb' },
	{ type: 'transport-cc' },
];

function audio(mimeType: string, clockRate: number, extra: object = {}, fb?: RtcpFeedback[]) {
	return { kind: 'audio' as const, mimeType, clockRate, ...extra, ...(fb ? { rtcpFeedback: fb } : {}) };
}

function ext(
	kind: 'audio' | 'video',
	uri: RtpHeaderExtension['uri'],
	preferredId: number,
	direction: RtpHeaderExtension['direction']
): RtpHeaderExtension {
	return { kind, uri, preferredId, preferredEncrypt: false, direction };
}

const multiopus = (channels: number, mapping: string, streams: number, coupled: number) =>
	audio(
		'audio/multiopus',
		48000,
		{ channels, parameters: { channel_mapping: mapping, num_streams: streams, coupled_streams: coupled } },
		audioFb
	);

export const supportedRtpCapabilities: RtpCapabilities = {
	codecs: [
		audio('audio/opus', 48000, { channels: 2 }, audioFb),
		multiopus(4, '0,1,2,3', 2, 2),
		multiopus(6, '0,4,1,2,3,5', 4, 2),
		multiopus(8, '0,6,1,2,3,4,5,7', 5, 3),
		audio('audio/PCMU', 8000, { preferredPayloadType: 0 }, tccFb),
		audio('audio/PCMA', 8000, { preferredPayloadType: 8 }, tccFb),
		audio('audio/ISAC', 32000, {}, tccFb),
		audio('audio/ISAC', 16000, {}, tccFb),
		audio('audio/G722', 8000, { preferredPayloadType: 9 }, tccFb),
		audio('audio/iLBC', 8000, {}, tccFb),
		audio('audio/SILK', 24000, {}, tccFb),
		audio('audio/SILK', 16000, {}, tccFb),
		audio('audio/SILK', 12000, {}, tccFb),
		audio('audio/SILK', 8000, {}, tccFb),
		audio('audio/CN', 32000, { preferredPayloadType: 13 }),
		audio('audio/CN', 16000, { preferredPayloadType: 13 }),
		audio('audio/CN', 8000, { preferredPayloadType: 13 }),
		audio('audio/telephone-event', 48000),
		audio('audio/telephone-event', 32000),
		audio('audio/telephone-event', 16000),
		audio('audio/telephone-event', 8000),
		{ kind: 'video', mimeType: 'video/VP8', clockRate: 90000, rtcpFeedback: videoFb },
		{ kind: 'video', mimeType: 'video/VP9', clockRate: 90000, rtcpFeedback: videoFb },
		{
			kind: 'video',
			mimeType: 'video/H264',
			clockRate: 90000,
			parameters: { 'level-asymmetry-allowed': 1 },
			rtcpFeedback: videoFb,
		},
		{ kind: 'video', mimeType: 'video/AV1', clockRate: 90000, parameters: {}, rtcpFeedback: videoFb },
	],
	headerExtensions: [
		ext('audio', 'urn:ietf:params:rtp-hdrext:sdes:mid', 1, 'sendrecv'),
		ext('video', 'urn:ietf:params:rtp-hdrext:sdes:mid', 1, 'sendrecv'),
		ext('video', 'urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id', 2, 'recvonly'),
		ext('video', 'urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id', 3, 'recvonly'),
		ext('audio', 'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time', 4, 'sendrecv'),
		ext('video', 'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time', 4, 'sendrecv'),
		// For audio, transport-wide-cc is only used when receiving.
		ext('audio', 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01', 5, 'recvonly'),
		ext('video', 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01', 5, 'sendrecv'),
		ext('audio', 'urn:ietf:params:rtp-hdrext:ssrc-audio-level', 6, 'sendrecv'),
		// 'sendrecv' where mediasoup 3.27 has 'recvonly': consumers of a producer that sends the
		// descriptor get it, rewritten for what they receive (Chromium cannot reassemble AV1
		// SVC frames without it).
		ext(
			'video',
			'https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension',
			7,
			'sendrecv'
		),
		ext('video', 'urn:3gpp:video-orientation', 8, 'sendrecv'),
		ext('video', 'urn:ietf:params:rtp-hdrext:toffset', 9, 'sendrecv'),
		ext('audio', 'http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time', 10, 'sendrecv'),
		ext('video', 'http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time', 10, 'sendrecv'),
		ext('audio', 'http://www.webrtc.org/experiments/rtp-hdrext/playout-delay', 11, 'sendrecv'),
		ext('video', 'http://www.webrtc.org/experiments/rtp-hdrext/playout-delay', 11, 'sendrecv'),
		ext('audio', 'urn:mediasoup:params:rtp-hdrext:packet-id', 12, 'sendrecv'),
		ext('video', 'urn:mediasoup:params:rtp-hdrext:packet-id', 12, 'sendrecv'),
	],
};
