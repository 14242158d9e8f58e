/**
 * One segment, as a marketer watches it: what it is and its live size (with fill
 * progress while a new version is backfilled), its size over time, its members, its
 * enters and exits as they happen, its snapshots, and the contacts picked by hand.
 *
 * The count is re-read every few seconds (every second and a half while filling),
 * so the page stays true while the tab is open without a reload.
 */
import "./segment.css";

import { useCallback, useEffect, useState } from "react";
import { Link } from "wouter";

import { ApiError, type Segment } from "../api";
import { useApp } from "../context";
import { SegmentHeader } from "../segment/Header";
import { LiveFeed } from "../segment/LiveFeed";
import { describeError } from "../segment/logic";
import { ManualContactsEditor } from "../segment/Manual";
import { Members } from "../segment/Members";
import { usePolling } from "../segment/poll";
import { Snapshots } from "../segment/Snapshots";
import { Trend } from "../segment/Trend";
import { isFilling } from "./segmentList";

const REFRESH_MS = 5000;
const FILLING_REFRESH_MS = 1500;

function Watched({ initial }: { initial: Segment }) {
  const { api, reloadSegments } = useApp();
  const [segment, setSegment] = useState(initial);
  /** Bumped when this page saves, so the parts that read once read again. */
  const [saves, setSaves] = useState(0);
  const [problem, setProblem] = useState<string | null>(null);
  const filling = isFilling(segment);

  const refresh = useCallback(
    async (signal?: AbortSignal) => {
      try {
        setSegment(await api.segment(segment.id, signal));
        setProblem(null);
      } catch (error) {
        if (!signal?.aborted) setProblem(`The count could not be refreshed: ${describeError(error)}`);
        throw error;
      }
    },
    [api, segment.id],
  );
  usePolling(refresh, filling ? FILLING_REFRESH_MS : REFRESH_MS, true);

  const saved = (fresh: Segment) => {
    setSegment((shown) => ({ ...fresh, count: shown.count }));
    setSaves((count) => count + 1);
    // At once rather than at the next poll: the answer shows the backfill the save queued.
    refresh().catch(() => undefined);
    void reloadSegments();
  };

  return (
    <>
      <SegmentHeader segment={segment} filling={filling} onArchived={saved} />
      {problem && (
        <p role="alert" className="problem">
          {problem}
        </p>
      )}
      <div className="segment-grid">
        <div className="segment-main">
          <Trend segmentId={segment.id} refreshKey={saves} />
          <Members segmentId={segment.id} total={segment.count} archived={segment.status === "archived"} refreshKey={saves} />
        </div>
        <LiveFeed segmentId={segment.id} />
      </div>
      <div className="segment-grid">
        <Snapshots segmentId={segment.id} archived={segment.status === "archived"} />
        <ManualContactsEditor segment={initial} latestVersion={segment.version} onSaved={saved} />
      </div>
    </>
  );
}

export function SegmentPage({ id }: { id: string }) {
  const { api } = useApp();
  const [segment, setSegment] = useState<Segment | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    const controller = new AbortController();
    setSegment(null);
    setProblem(null);
    api.segment(id, controller.signal).then(setSegment, (error: unknown) => {
      if (controller.signal.aborted) return;
      setProblem(error instanceof ApiError && error.status === 404 ? `No segment “${id}” in this tenant.` : describeError(error));
    });
    return () => controller.abort();
  }, [api, id]);

  if (problem) {
    return (
      <section className="segment-page">
        <p role="alert" className="problem">
          {problem}
        </p>
        <Link href="/">All segments</Link>
      </section>
    );
  }
  if (segment === null || segment.id !== id) return <p>loading the segment…</p>;
  return (
    <section className="segment-page">
      <Watched key={segment.id} initial={segment} />
    </section>
  );
}
