/**
 * The segment's size over time: hourly for the last two days, daily for the last
 * ninety. Points are recorded by the minute scheduler the first time it runs in each
 * hour and day (and once when the local stack fills the demo segments), so a new
 * segment has one point and its line starts with the next hour.
 */
import { useEffect, useMemo, useState } from "react";

import type { HistoryPoint } from "../api";
import { TimeChart } from "../chart";
import { useApp } from "../context";
import { describeError, historySeries, type Resolution, sinceFor } from "./logic";

const VIEWS: { resolution: Resolution; label: string }[] = [
  { resolution: "hour", label: "Hourly, last 48 hours" },
  { resolution: "day", label: "Daily, last 90 days" },
];

export function Trend({ segmentId, refreshKey }: { segmentId: string; refreshKey: number }) {
  const { api } = useApp();
  const [resolution, setResolution] = useState<Resolution>("hour");
  const [points, setPoints] = useState<HistoryPoint[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    const controller = new AbortController();
    setProblem(null);
    api.history(segmentId, resolution, controller.signal, sinceFor(resolution, new Date())).then(setPoints, (error: unknown) => {
      if (!controller.signal.aborted) setProblem(describeError(error));
    });
    return () => controller.abort();
  }, [api, segmentId, resolution, refreshKey]);

  const [xs, ys] = useMemo(() => historySeries(points ?? [], resolution), [points, resolution]);
  const first = points?.[0];
  const last = points?.[points.length - 1];

  return (
    <section className="panel trend" aria-labelledby="trend-title">
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
        <p className="empty" data-testid="trend-empty">
          {points.length === 0 ? "No size recorded yet in this period. " : `One point so far: ${points[0].count.toLocaleString()} members at ${new Date(points[0].at).toLocaleString()}. `}
          The size history starts when the scheduler records it: hourly, the first time it runs in each hour, and daily.
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
