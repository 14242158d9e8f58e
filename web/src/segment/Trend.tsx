/**
 * The segment's size over time: hourly for the last two days, daily for the last
 * ninety. Points are recorded by the minute scheduler the first time it runs in each
 * hour and each day (and, locally, once when the stack fills the demo segments), so a
 * segment saved now gets its first point at the next hour and a line from the one after.
 */
import { useCallback, useEffect, useMemo, useState } from "react";

import type { HistoryPoint } from "../api";
import { TimeChart } from "../chart";
import { useApp } from "../context";
import { describeError, historySeries, type Resolution, sinceFor, sizeChange } from "./logic";
import { usePolling } from "./poll";

const REREAD_MS = 5 * 60_000;
const COUNT_CHANGE = new Intl.NumberFormat(undefined, { signDisplay: "exceptZero" });
const SHARE_CHANGE = new Intl.NumberFormat(undefined, { style: "percent", signDisplay: "exceptZero", maximumFractionDigits: 1 });

const VIEWS: { resolution: Resolution; label: string }[] = [
  { resolution: "hour", label: "Hourly, last 48 hours" },
  { resolution: "day", label: "Daily, last 90 days" },
];

export function Trend({ segmentId, refreshKey }: { segmentId: string; refreshKey: number }) {
  const { api } = useApp();
  const [resolution, setResolution] = useState<Resolution>("hour");
  /** The points on screen and their resolution: after a switch, "loading", not the other view's points. */
  const [loaded, setLoaded] = useState<{ resolution: Resolution; points: HistoryPoint[] } | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  const read = useCallback(
    async (signal: AbortSignal) => {
      try {
        const points = await api.history(segmentId, resolution, signal, sinceFor(resolution, new Date()));
        setLoaded({ resolution, points });
        setProblem(null);
      } catch (error) {
        if (!signal.aborted) setProblem(describeError(error));
        throw error;
      }
    },
    [api, segmentId, resolution],
  );
  useEffect(() => {
    const controller = new AbortController();
    read(controller.signal).catch(() => undefined);
    return () => controller.abort();
  }, [read, refreshKey]);
  // A page left open gets each new point: they are recorded hourly.
  usePolling(read, REREAD_MS, true);

  const points = loaded?.resolution === resolution ? loaded.points : null;
  const [xs, ys] = useMemo(() => historySeries(points ?? [], resolution), [points, resolution]);
  const first = points?.[0];
  const last = points?.[points.length - 1];
  const change = useMemo(() => sizeChange(points ?? []), [points]);

  return (
    <section className="panel size-trend" aria-labelledby="trend-title">
      <div className="panel-head">
        <h3 id="trend-title">Size over time</h3>
        <div role="radiogroup" aria-label="resolution" className="toggle">
          {VIEWS.map((view) => (
            <label key={view.resolution}>
              <input
                type="radio"
                name="resolution"
                value={view.resolution}
                checked={resolution === view.resolution}
                onChange={() => setResolution(view.resolution)}
              />
              {view.label}
            </label>
          ))}
        </div>
      </div>
      {problem && <p role="alert" className="problem">{problem}</p>}
      {points === null && !problem && <p>loading the size history…</p>}
      {points !== null && points.length < 2 && (
        <p className="segment-empty" data-testid="trend-empty">
          {points.length === 0 ? "No size recorded yet in this period. " : `One point so far: ${points[0].count.toLocaleString()} members at ${new Date(points[0].at).toLocaleString()}. `}
          The size history starts when the scheduler records it: hourly, the first time it runs in each hour, and daily.
        </p>
      )}
      {change && (
        <p className="size-change" data-testid="size-change">
          Recorded sizes: {change.from.count.toLocaleString()} → {change.to.count.toLocaleString()} members,{" "}
          {change.delta === 0 ? (
            "no change"
          ) : (
            <strong>
              {COUNT_CHANGE.format(change.delta)}
              {change.ratio !== null && ` (${SHARE_CHANGE.format(change.ratio)})`}
            </strong>
          )}{" "}
          since {new Date(change.from.at).toLocaleString()}
        </p>
      )}
      {points !== null && points.length >= 2 && first && last && (
        <TimeChart
          testId="trend-chart"
          xs={xs}
          ys={ys}
          label="members"
          summary={`${points.length} ${resolution === "hour" ? "hourly" : "daily"} sizes from ${first.count.toLocaleString()} members on ${new Date(first.at).toLocaleString()} to ${last.count.toLocaleString()} on ${new Date(last.at).toLocaleString()}`}
        />
      )}
    </section>
  );
}
