/**
 * The segment's enters and exits as they happen. The first read shows the latest
 * page; then the feed asks every two seconds for what came after the newest mark
 * the API gave (`?after=`), so each poll carries only new transitions. Only the
 * newest {@link FEED_CAP} stay on screen.
 */
import { useCallback, useEffect, useState } from "react";
import { Link } from "wouter";

import type { Transition } from "../api";
import { useApp } from "../context";
import { describeError, FEED_CAP, feedTime, mergeFeed } from "./logic";
import { usePolling } from "./poll";

const POLL_MS = 2000;
const PAGE = 100;

export function LiveFeed({ segmentId }: { segmentId: string }) {
  const { api } = useApp();
  const [entries, setEntries] = useState<Transition[] | null>(null);
  const [newest, setNewest] = useState<string | null>(null);
  const [paused, setPaused] = useState(false);
  const [checkedAt, setCheckedAt] = useState<Date | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    const controller = new AbortController();
    api.transitions(segmentId, { limit: 50 }, controller.signal).then(
      (page) => {
        // Merged, not set: a poll may have answered first.
        setEntries((shown) => mergeFeed(shown ?? [], page.transitions));
        setNewest((mark) => mark ?? page.newest);
        setCheckedAt(new Date());
      },
      (error: unknown) => !controller.signal.aborted && setProblem(describeError(error)),
    );
    return () => controller.abort();
  }, [api, segmentId]);

  const poll = useCallback(
    async (signal: AbortSignal) => {
      // More than a page may have arrived since the last poll: follow the cursor
      // (with the same mark) until the feed has all of it or is full.
      const read = (cursor: string | null) => api.transitions(segmentId, { after: newest, cursor, limit: PAGE }, signal);
      const arrived: Transition[] = [];
      let mark: string | null;
      try {
        let page = await read(null);
        mark = page.newest;
        arrived.push(...page.transitions);
        while (page.cursor !== null && arrived.length < FEED_CAP) {
          page = await read(page.cursor);
          arrived.push(...page.transitions);
        }
      } catch (error) {
        if (!signal.aborted) setProblem(describeError(error));
        throw error;
      }
      setProblem(null);
      setCheckedAt(new Date());
      setEntries((shown) => (arrived.length > 0 || shown === null ? mergeFeed(shown ?? [], arrived) : shown));
      setNewest(mark);
    },
    [api, segmentId, newest],
  );
  // Also while the first read has failed: a poll without a mark reads the latest page again.
  usePolling(poll, POLL_MS, !paused);

  const segment = encodeURIComponent(segmentId);
  const now = checkedAt ?? new Date();
  return (
    <section className="panel feed" aria-labelledby="feed-title">
      <div className="panel-head">
        <h3 id="feed-title">Live feed</h3>
        <span className="feed-state" data-testid="feed-state">
          {paused ? "paused" : checkedAt ? `live · checked ${checkedAt.toLocaleTimeString()}` : "connecting…"}
        </span>
        <button type="button" onClick={() => setPaused(!paused)} aria-pressed={paused}>
          {paused ? "Resume" : "Pause"}
        </button>
      </div>
      {problem && <p role="alert" className="problem">{problem}</p>}
      {entries !== null && entries.length === 0 && (
        <p className="segment-empty" data-testid="feed-empty">
          No one has entered or left in the last 30 days. New enters and exits appear here as they happen.
        </p>
      )}
      {entries !== null && entries.length > 0 && (
        <ol className="feed-list" data-testid="feed-list" aria-live="polite">
          {entries.map((entry) => (
            <li key={`${entry.at} ${entry.contact_id} ${entry.kind}`} className={entry.kind} data-testid="feed-entry">
              <span className="kind">{entry.kind === "enter" ? "entered" : "exited"}</span>{" "}
              <Link href={`/explain/${segment}/${encodeURIComponent(entry.contact_id)}`}>{entry.contact_id}</Link>{" "}
              <time dateTime={entry.at} title={`${new Date(entry.at).toLocaleString()}${entry.segment_version === null ? "" : `, decided by version ${entry.segment_version}`}`}>
                {feedTime(entry.at, now)}
              </time>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
