// Great-circle distance between two points on the Earth (haversine formula, spherical Earth).

/** The Earth's mean radius (IUGG), in metres. A sphere is within 0.5 % of the ellipsoid: plenty for ranking units. */
export const EARTH_RADIUS_M = 6_371_008.8

const toRadians = (degrees: number) => (degrees * Math.PI) / 180

/** Metres along the great circle from (lat1, lng1) to (lat2, lng2), degrees in. */
export function haversineMetres(lat1: number, lng1: number, lat2: number, lng2: number): number {
  const dLat = toRadians(lat2 - lat1)
  const dLng = toRadians(lng2 - lng1)
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(toRadians(lat1)) * Math.cos(toRadians(lat2)) * Math.sin(dLng / 2) ** 2
  // min(1, …): rounding can push `a` a hair above 1 for antipodal points, and asin(>1) is NaN.
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(a)))
}
