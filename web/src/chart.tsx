/**
 * A time-series line chart on uPlot (small and fast; the app needs lines over time,
 * not a charting framework). The chart follows its box's width, so it fits any
 * layout, and carries a text summary for screen readers, which cannot read a canvas.
 *
 * The read-out under the chart names the point under the pointer; from the keyboard
 * the chart is a slider over its points (focus it, then arrows, Page Up / Down, Home,
 * End), the cursor drawn where the read-out is, and the read-out is announced.
 */
import "uplot/dist/uPlot.min.css";

import { useEffect, useRef, useState } from "react";
import uPlot from "uplot";

import { movedIndex } from "./chartKeys";

export interface TimeChartProps {
  /** Unix seconds, ascending. */
  xs: number[];
  /** One value per x; `null` is a gap in the line. */
  ys: (number | null)[];
  label: string;
  /** What the chart shows, in words (its accessible name). */
  summary: string;
  height?: number;
  testId?: string;
}

const counts = (_plot: uPlot, splits: number[]) => splits.map((value) => value.toLocaleString());

export function TimeChart({ xs, ys, label, summary, height = 220, testId }: TimeChartProps) {
  const box = useRef<HTMLDivElement>(null);
  /** The point under the pointer, read out below the chart (else the latest point). */
  const [hovered, setHovered] = useState<number | null>(null);
  const plotRef = useRef<uPlot | null>(null);

  useEffect(() => {
    const element = box.current;
    if (element === null) return;
    setHovered(null);
    const options: uPlot.Options = {
      width: Math.max(element.clientWidth, 300),
      height,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true },
        // From zero: a segment of 1,000 that gains 10 should not look like it doubled.
        y: { range: (_plot, _min, max) => [0, Math.max(1, Math.ceil(max * 1.1))] },
      },
      axes: [{}, { values: counts, size: 60 }],
      series: [{}, { label, stroke: "#2b6cd4", width: 2, fill: "rgba(43, 108, 212, 0.08)", points: { show: xs.length <= 60 } }],
      hooks: { setCursor: [(self) => setHovered(self.cursor.idx ?? null)] },
    };
    const plot = new uPlot(options, [xs, ys], element);
    plotRef.current = plot;
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(element.clientWidth, 300), height }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      plotRef.current = null;
      plot.destroy();
    };
  }, [xs, ys, label, height]);

  const shown = hovered ?? xs.length - 1;
  const value = ys[shown];
  const readout = shown >= 0 ? `${new Date(xs[shown] * 1000).toLocaleString()}: ${value === null ? "not recorded" : `${value.toLocaleString()} ${label}`}` : "";

  const onKeyDown = (event: React.KeyboardEvent) => {
    const plot = plotRef.current;
    const next = movedIndex(event.key, shown, xs.length);
    if (plot === null || next === null) return;
    event.preventDefault();
    const y = ys[next];
    // Moving uPlot's cursor runs its setCursor hook, which sets the read-out's point.
    plot.setCursor({ left: plot.valToPos(xs[next], "x"), top: y === null ? plot.bbox.height / devicePixelRatio / 2 : plot.valToPos(y, "y") });
  };

  return (
    <figure className="time-chart">
      <div
        ref={box}
        role="slider"
        tabIndex={0}
        aria-label={summary}
        aria-valuemin={0}
        aria-valuemax={Math.max(xs.length - 1, 0)}
        aria-valuenow={Math.max(shown, 0)}
        aria-valuetext={readout}
        onKeyDown={onKeyDown}
        data-testid={testId}
      />
      {shown >= 0 && (
        <figcaption className="chart-readout" aria-live="polite" data-testid={testId && `${testId}-readout`}>
          {readout}
        </figcaption>
      )}
    </figure>
  );
}
