/** Spatial/temporal layer counts of an SVC scalability mode such as 'L3T3_KEY' or 'S2T1'. */
export type ScalabilityMode = {
	spatialLayers: number;
	temporalLayers: number;
	ksvc: boolean;
};

const MODE_RE = /^[LS]([1-9]\d{0,1})T([1-9]\d{0,1})(_KEY)?/;

export function parseScalabilityMode(scalabilityMode?: string): ScalabilityMode {
	const m = MODE_RE.exec(scalabilityMode ?? '');
	if (m) {
		return { spatialLayers: Number(m[1]), temporalLayers: Number(m[2]), ksvc: Boolean(m[3]) };
	}
	return { spatialLayers: 1, temporalLayers: 1, ksvc: false };
}
