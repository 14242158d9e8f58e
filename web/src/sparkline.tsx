/**
 * A size trend small enough for a table row: an SVG line, no axes. A chart library
 * would bring a canvas and its setup per row for what is one polyline.
 */

/**
 * The polyline's points for `values` in a `width` x `height` box, `pad` pixels from
 * each edge: the smallest value at the bottom, the largest at the top, evenly spaced in
 * time order. A flat series is drawn across the middle. Fewer than two values draw nothing.
 */
export function sparklinePoints(values: readonly number[], width: number, height: number, pad = 2): string {
  if (values.length < 2) return "";
  const low = Math.min(...values);
  const high = Math.max(...values);
  const step = (width - 2 * pad) / (values.length - 1);
  const y = (value: number) => (high === low ? height / 2 : pad + ((high - value) / (high - low)) * (height - 2 * pad));
  const round = (n: number) => Math.round(n * 10) / 10;
  return values.map((value, index) => `${round(pad + index * step)},${round(y(value))}`).join(" ");
}

export function Sparkline({ values, label, width = 120, height = 28 }: { values: readonly number[]; label: string; width?: number; height?: number }) {
  const points = sparklinePoints(values, width, height);
  const last = points.split(" ").at(-1)?.split(",") ?? [];
  return (
    <svg className="sparkline" role="img" aria-label={label} width={width} height={height} viewBox={`0 0 ${width} ${height}`}>
      <title>{label}</title>
      <polyline points={points} fill="none" stroke="currentColor" strokeWidth="1.5" strokeLinejoin="round" strokeLinecap="round" />
      {last.length === 2 && <circle cx={last[0]} cy={last[1]} r="2.2" fill="currentColor" />}
    </svg>
  );
}
