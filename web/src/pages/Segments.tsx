/**
 * Every segment of the tenant: its type, live count, size trend, whether it is filling,
 * and when it last changed; searchable, filterable by type, archived ones on request.
 *
 * The list itself is one request (`GET /segments` answers each count, backfill
 * progress and users); it is asked again every few seconds only while a segment is filling. The
 * trend and the last member change take a request each per segment, so they are read
 * one request at a time for each of four segments at once, and shown as they arrive.
 */
import "./segments.css";

import { useEffect, useMemo, useRef, useState } from "react";
import { Link } from "wouter";

import { type Api, ApiError, type Segment } from "../api";
import { useApp } from "../context";
import { Sparkline } from "../sparkline";
import {
  eachLimited,
  filterSegments,
  fillingOf,
  isFilling,
  lastChangeOf,
  SEGMENT_TYPES,
  sortSegments,
  timeAgo,
  type SortKey,
  type Trend,
  trendOf,
  trendSince,
  type TypeFilter,
} from "./segmentList";

const POLL_MS = 3000;
const AT_ONCE = 4;
const TREND_DAYS = 30;

const TYPE_HELP: Record<string, string> = {
  shared: "a segment any GrowthOS module can use",
  pinned: "ANDed into every other segment of the tenant",
  static: "its manual list of contacts only",
  embedded: "belongs to one module; listed only when asked for",
};

interface Extra {
  trend?: Trend;
  lastChange?: string | null;
  problem?: string;
}

function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === "AbortError";
}

function listPath(includeArchived: boolean, embedded: boolean): string {
  const query = new URLSearchParams();
  if (includeArchived) query.set("include_archived", "true");
  if (embedded) query.set("type", "embedded");
  const text = query.toString();
  return text ? `segments?${text}` : "segments";
}

function When({ at, now, prefix }: { at: string; now: Date; prefix: string }) {
  return (
    <time dateTime={at} title={new Date(at).toLocaleString()}>
      {prefix} {timeAgo(at, now)}
    </time>
  );
}

function FillingCell({ segment, now }: { segment: Segment; now: Date }) {
  const filling = fillingOf(segment);
  switch (filling.state) {
    case "archived":
      return <span className="badge archived">archived</span>;
    case "live":
      return (
        <span className="muted" title="no backfill pending: the stream keeps its members current">
          live
        </span>
      );
    case "queued":
      return (
        <span className="badge queued" title={filling.since ? `saved ${new Date(filling.since).toLocaleString()}` : undefined}>
          queued
        </span>
      );
    case "running":
      return (
        // Progress is by slices: a backfill that evaluates only the contacts the analytical
        // copy names as candidates counts those, so contacts checked are no share of all.
        <span className="running" title="progress by slices of the tenant's contacts, evaluated in parallel; contacts checked may be only the candidates the analytical copy names">
          <progress value={filling.slicesFinished} max={filling.slices} aria-label={`${segment.name}: slices of contacts done`} />
          <span>
            filling · {filling.done.toLocaleString()} contacts checked ({filling.slicesFinished}/{filling.slices} slices)
          </span>
        </span>
      );
    case "filled":
      return filling.at ? <When at={filling.at} now={now} prefix="filled" /> : <span>filled</span>;
  }
}

function TrendCell({ segment, extra }: { segment: Segment; extra: Extra | undefined }) {
  if (extra?.problem) return <span className="muted" title={extra.problem}>unavailable</span>;
  if (!extra?.trend) return <span className="muted" aria-busy="true">…</span>;
  const { values, change, first } = extra.trend;
  if (values.length < 2) {
    const tracked = first ? `tracked since ${new Date(first).toLocaleDateString()}` : "no daily size recorded yet";
    return (
      <span className="muted" title={`${tracked}: a trend needs two days`}>
        new
      </span>
    );
  }
  const label = `${segment.name}: ${values.length} daily sizes, from ${values[0].toLocaleString()} to ${values[values.length - 1].toLocaleString()}`;
  return (
    <span className="trend">
      <Sparkline values={values} label={label} />
      {change !== null && (
        <span className={change > 0 ? "up" : change < 0 ? "down" : "muted"}>
          {change > 0 ? "+" : ""}
          {change.toLocaleString()}
        </span>
      )}
    </span>
  );
}

function ChangedCell({ segment, extra, now }: { segment: Segment; extra: Extra | undefined; now: Date }) {
  const last = lastChangeOf(segment.updated_at, extra?.lastChange);
  if (last === null) return <span className="muted">—</span>;
  return <When at={last.at} now={now} prefix={last.kind === "members" ? "member change" : "definition saved"} />;
}

/** The time relative labels count from, moved on every half minute so "just now" does not stay. */
function useNow(everyMs = 30_000): Date {
  const [now, setNow] = useState(() => new Date());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(new Date()), everyMs);
    return () => window.clearInterval(timer);
  }, [everyMs]);
  return now;
}

/**
 * Trends and last member changes already read for a connection, kept across visits of
 * the list for a minute (a trend moves once a day, the feed at most as often as the
 * list is opened), so going to a segment and back does not read them all again.
 */
const EXTRAS_KEPT_MS = 60_000;
const extrasRead = new WeakMap<Api, Map<string, { extra: Extra; at: number }>>();

function keptExtras(api: Api): Map<string, { extra: Extra; at: number }> {
  let kept = extrasRead.get(api);
  if (kept === undefined) {
    kept = new Map();
    extrasRead.set(api, kept);
  }
  const now = Date.now();
  for (const [id, entry] of kept) if (now - entry.at > EXTRAS_KEPT_MS || entry.extra.problem) kept.delete(id);
  return kept;
}

export function Segments() {
  const { api, segments: initial } = useApp();
  const [rows, setRows] = useState<Segment[]>(initial);
  const [loading, setLoading] = useState(true);
  const [problem, setProblem] = useState<string | null>(null);
  const [query, setQuery] = useState("");
  const [type, setType] = useState<TypeFilter>("all");
  const [sort, setSort] = useState<SortKey>("name");
  const [includeArchived, setIncludeArchived] = useState(false);
  const [extras, setExtras] = useState<Record<string, Extra>>(() =>
    Object.fromEntries([...keptExtras(api)].map(([id, entry]) => [id, entry.extra])),
  );
  const requested = useRef(new Set<string>(Object.keys(extras)));
  const embedded = type === "embedded";
  const path = listPath(includeArchived, embedded);

  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    api.call<{ segments: Segment[] }>("GET", path, undefined, controller.signal).then(
      (list) => {
        setRows(list.segments);
        setProblem(null);
        setLoading(false);
      },
      (error: unknown) => {
        if (isAbort(error)) return;
        setProblem((error as Error).message);
        setLoading(false);
      },
    );
    return () => controller.abort();
  }, [api, path]);

  const filling = rows.some(isFilling);
  useEffect(() => {
    if (!filling) return;
    const controller = new AbortController();
    let inFlight = false;
    const timer = window.setInterval(() => {
      if (inFlight) return;
      inFlight = true;
      api.call<{ segments: Segment[] }>("GET", path, undefined, controller.signal).then(
        (list) => {
          inFlight = false;
          setRows(list.segments);
          setProblem(null);
        },
        (error: unknown) => {
          inFlight = false;
          if (!isAbort(error)) setProblem(`refreshing the list: ${(error as Error).message}`);
        },
      );
    }, POLL_MS);
    return () => {
      window.clearInterval(timer);
      controller.abort();
    };
  }, [api, path, filling]);

  // A segment that just finished filling has new members: read its trend and feed again.
  const wasFilling = useRef(new Set<string>());
  const [refilled, setRefilled] = useState(0);
  useEffect(() => {
    const fillingNow = new Set(rows.filter(isFilling).map((segment) => segment.id));
    const done = [...wasFilling.current].filter((id) => !fillingNow.has(id));
    wasFilling.current = fillingNow;
    if (done.length === 0) return;
    const kept = keptExtras(api);
    for (const id of done) {
      requested.current.delete(id);
      kept.delete(id);
    }
    setRefilled((count) => count + 1);
  }, [api, rows]);

  const ids = rows.map((segment) => segment.id).join("\n");
  useEffect(() => {
    const controller = new AbortController();
    const wanted = ids.split("\n").filter((id) => id && !requested.current.has(id));
    const started = new Set<string>();
    void eachLimited(
      wanted,
      AT_ONCE,
      async (id) => {
        requested.current.add(id);
        started.add(id);
        try {
          const now = new Date();
          const points = await api.history(id, "day", controller.signal, trendSince(now, TREND_DAYS));
          const feed = await api.transitions(id, { limit: 1 }, controller.signal);
          const extra = { trend: trendOf(points, now, TREND_DAYS), lastChange: feed.transitions[0]?.at ?? null };
          keptExtras(api).set(id, { extra, at: Date.now() });
          setExtras((known) => ({ ...known, [id]: extra }));
        } catch (error) {
          if (isAbort(error)) return;
          const message = error instanceof ApiError ? error.message : String(error);
          setExtras((known) => ({ ...known, [id]: { problem: message } }));
        }
        started.delete(id);
      },
      controller.signal,
    );
    return () => {
      controller.abort();
      for (const id of started) requested.current.delete(id); // cut short: asked again next time
    };
  }, [api, ids, refilled]);

  const now = useNow();
  const shown = useMemo(
    () => sortSegments(filterSegments(rows, query, type), sort, (segment) => lastChangeOf(segment.updated_at, extras[segment.id]?.lastChange)?.at ?? null),
    [rows, query, type, sort, extras],
  );
  const fillingCount = rows.filter(isFilling).length;
  const archivedCount = rows.filter((segment) => segment.status === "archived").length;

  return (
    <section className="segments-page">
      <div className="segments-head">
        <h2>Segments</h2>
        <div className="actions">
          <Link className="button primary" href="/new">
            New segment
          </Link>
          <Link className="button" href="/templates">
            Start from a template
          </Link>
        </div>
      </div>

      <div className="segments-tools" role="search">
        <label>
          Search
          <input type="search" placeholder="name, id or description" value={query} onChange={(event) => setQuery(event.target.value)} />
        </label>
        <label>
          Type
          <select value={type} onChange={(event) => setType(event.target.value as TypeFilter)}>
            <option value="all">all but embedded</option>
            {SEGMENT_TYPES.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Sort by
          <select value={sort} onChange={(event) => setSort(event.target.value as SortKey)}>
            <option value="name">name</option>
            <option value="members">most members</option>
            <option value="changed">latest change</option>
          </select>
        </label>
        <label className="check">
          <input type="checkbox" checked={includeArchived} onChange={(event) => setIncludeArchived(event.target.checked)} />
          Show archived
        </label>
      </div>

      {problem && (
        <p className="node-errors" role="alert">
          {problem}
        </p>
      )}

      <p className="segments-summary" data-testid="segments-summary" aria-live="polite">
        {loading && rows.length === 0
          ? "loading segments…"
          : `${shown.length.toLocaleString()} of ${rows.length.toLocaleString()} segments` +
            (fillingCount ? ` · ${fillingCount} filling` : "") +
            (archivedCount ? ` · ${archivedCount} archived` : "")}
      </p>

      {rows.length === 0 ? (
        !loading &&
        !problem && (
        <div className="empty" data-testid="segments-empty">
          <p>{embedded ? "No embedded segments." : includeArchived ? "No segments, archived or not." : "No segments yet."}</p>
          <p>
            <Link href="/new">Build a new segment</Link> or <Link href="/templates">start from a template</Link>.
          </p>
        </div>
        )
      ) : shown.length === 0 ? (
        <div className="empty" data-testid="segments-no-match">
          <p>No segment matches{query.trim() ? ` “${query.trim()}”` : ""}{type !== "all" ? ` of type ${type}` : ""}.</p>
          <button
            type="button"
            onClick={() => {
              setQuery("");
              setType("all");
            }}
          >
            Clear search and filter
          </button>
        </div>
      ) : (
        <table className="segments" aria-label="segments">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Type</th>
              <th scope="col" className="number">
                Members
              </th>
              <th scope="col">Last {TREND_DAYS} days</th>
              <th scope="col">Filling</th>
              <th scope="col">Last change</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((segment) => (
              <tr key={segment.id} data-testid={`segment-${segment.id}`} className={segment.status === "archived" ? "archived" : undefined}>
                <td>
                  <Link href={`/segments/${encodeURIComponent(segment.id)}`}>{segment.name}</Link>
                  {segment.used_by && segment.used_by.length > 0 && (
                    <span className="badge in-use" data-testid={`in-use-${segment.id}`} title={`used by ${segment.used_by.map((usage) => usage.user).join(", ")}: changing or archiving it asks first`}>
                      in use
                    </span>
                  )}
                  <div className="id">{segment.id}</div>
                  {segment.description && (
                    <div className="description" title={segment.description}>
                      {segment.description}
                    </div>
                  )}
                </td>
                <td>
                  <span className={`badge type-${segment.type}`} title={TYPE_HELP[segment.type]}>
                    {segment.type}
                  </span>
                </td>
                <td className="number" data-testid={`count-${segment.id}`}>
                  {segment.status === "archived" ? <span className="muted">—</span> : (segment.count?.toLocaleString() ?? "—")}
                </td>
                <td data-testid={`trend-${segment.id}`}>
                  <TrendCell segment={segment} extra={extras[segment.id]} />
                </td>
                <td data-testid={`filling-${segment.id}`}>
                  <FillingCell segment={segment} now={now} />
                </td>
                <td className="when" data-testid={`changed-${segment.id}`}>
                  <ChangedCell segment={segment} extra={extras[segment.id]} now={now} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
