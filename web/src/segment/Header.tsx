/** What the segment is and how big it is now, with its fill progress while a backfill runs. */
import { useMemo } from "react";
import { Link } from "wouter";

import type { Segment } from "../api";
import { useApp } from "../context";
import { fillingOf } from "../pages/segmentList";
import { SummaryTree } from "../pages/Templates";
import { summarizeRule } from "../pages/templateList";
import type { Json } from "../rule";
import { fillFraction } from "./logic";
import { Provenance, SegmentActions } from "./Manage";

const when = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString() : "—");

function Filling({ segment }: { segment: Segment }) {
  const progress = segment.backfill_progress;
  const filling = fillingOf(segment);
  if (filling.state === "queued" || !progress) {
    const since = filling.state === "queued" && filling.since ? ` (queued ${when(filling.since)})` : "";
    return (
      <p className="filling" data-testid="backfill-progress" role="status">
        Filling version {segment.version}: waiting for the backfill to start{since}…
      </p>
    );
  }
  const fraction = fillFraction(progress);
  return (
    <p className="filling" data-testid="backfill-progress" role="status">
      <label>
        Filling version {segment.version}: {Math.round(fraction * 100)} %{" "}
        <progress max={1} value={fraction} />
      </label>{" "}
      {progress.contacts_done.toLocaleString()} contacts checked, {progress.entered.toLocaleString()} entered,{" "}
      {progress.exited.toLocaleString()} exited ({progress.slices_finished} of {progress.slices} slices done)
    </p>
  );
}

export function SegmentHeader({ segment, filling, onArchived }: { segment: Segment; filling: boolean; onArchived: (archived: Segment) => void }) {
  const id = encodeURIComponent(segment.id);
  const finished = segment.backfill_progress?.finished_at;
  const { catalog } = useApp();
  const summary = useMemo(() => (segment.rule ? summarizeRule(segment.rule as Json, catalog) : null), [segment.rule, catalog]);
  return (
    <header className="segment-header">
      <div className="segment-title">
        <h2>{segment.name}</h2>
        <span className={`badge type-${segment.type}`}>{segment.type}</span>
        {segment.status === "archived" && <span className="badge archived">archived</span>}
      </div>
      <p className="segment-meta">
        <code>{segment.id}</code> · version {segment.version} · last changed {when(segment.updated_at)}
        {finished && <> · filled {when(finished)}</>}
      </p>
      <Provenance segment={segment} />
      {segment.description && <p className="segment-description">{segment.description}</p>}
      {segment.status === "archived" ? (
        <p className="segment-count" data-testid="segment-archived">
          Archived: its members are no longer kept up to date, listed or snapshotted. Saving a new version makes it active again.
        </p>
      ) : (
        <p className="segment-count">
          <strong data-testid="segment-count">{segment.count?.toLocaleString() ?? "—"}</strong>{" "}
          {segment.count === 1 ? "member" : "members"} now
        </p>
      )}
      {filling && <Filling segment={segment} />}
      <nav className="segment-links" aria-label="segment actions">
        <Link href={`/segments/${id}/edit`}>Edit rule</Link>
        <Link href={`/explain/${id}/`}>Explain a contact</Link>
      </nav>
      <SegmentActions segment={segment} onArchived={onArchived} />
      <div className="segment-rule">
        <h3>Rule</h3>
        {summary ? (
          <div className="rule-summary" data-testid="segment-rule-words">
            <SummaryTree summary={summary} />
          </div>
        ) : (
          <p>A static segment: no rule, its members are the contacts included by hand.</p>
        )}
        {segment.rule && (
          <details>
            <summary>The rule as JSON</summary>
            <pre data-testid="segment-rule">{JSON.stringify(segment.rule, null, 2)}</pre>
          </details>
        )}
      </div>
    </header>
  );
}
