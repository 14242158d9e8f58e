/**
 * Snapshots: the members frozen at one instant (for a campaign send), with how many
 * of them can be emailed and why the others cannot. A category's contacts are read
 * only when asked for, a page at a time.
 */
import { type FormEvent, useEffect, useRef, useState } from "react";
import { Link } from "wouter";

import type { Snapshot, SnapshotContacts } from "../api";
import { useApp } from "../context";
import { breakdown, type BreakdownRow, describeError } from "./logic";

function CategoryContacts({ segmentId, snapshot, row }: { segmentId: string; snapshot: Snapshot; row: BreakdownRow }) {
  const { api } = useApp();
  const [pages, setPages] = useState<SnapshotContacts[]>([]);
  const [problem, setProblem] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);

  const read = (cursor: string | null, shown: SnapshotContacts[]) => {
    setLoading(true);
    api.snapshotContacts(segmentId, snapshot.snapshot_id, row.key, cursor).then(
      (page) => {
        setPages([...shown, page]);
        setLoading(false);
      },
      (error: unknown) => {
        setProblem(describeError(error));
        setLoading(false);
      },
    );
  };
  const opened = useRef(false);
  useEffect(() => {
    if (opened.current) return;
    opened.current = true;
    read(null, []);
  });

  const contacts = pages.flatMap((page) => page.contacts);
  const cursor = pages.length > 0 ? pages[pages.length - 1].cursor : null;
  const segment = encodeURIComponent(segmentId);
  return (
    <div className="snapshot-contacts" data-testid={`snapshot-contacts-${row.key}`}>
      {problem && <p role="alert" className="problem">{problem}</p>}
      {pages.length > 0 && contacts.length === 0 && <p className="segment-empty">No {row.label} contacts in this snapshot.</p>}
      {contacts.length > 0 && (
        <ul className="member-list">
          {contacts.map((contact) => (
            <li key={contact}>
              <Link href={`/explain/${segment}/${encodeURIComponent(contact)}`}>{contact}</Link>
            </li>
          ))}
        </ul>
      )}
      {loading && <p>loading…</p>}
      {cursor && !loading && (
        <button type="button" onClick={() => read(cursor, pages)}>
          More {row.label} contacts
        </button>
      )}
    </div>
  );
}

function SnapshotCard({ segmentId, snapshot }: { segmentId: string; snapshot: Snapshot }) {
  const [open, setOpen] = useState<string | null>(null);
  const all = snapshot.counts.all ?? 0;
  const rows = breakdown(snapshot.counts);
  return (
    <li className="snapshot" data-testid="snapshot">
      <div className="snapshot-head">
        <strong>{snapshot.label || "(no label)"}</strong>{" "}
        <span>
          {new Date(snapshot.taken_at).toLocaleString()} · version {snapshot.segment_version ?? "—"} ·{" "}
          <span data-testid="snapshot-all">{all.toLocaleString()}</span> contacts
        </span>
      </div>
      <table className="breakdown">
        <caption className="visually-hidden">What the snapshot's contacts can receive</caption>
        <tbody>
          {rows.map((row) => (
            <tr key={row.key} data-testid={`breakdown-${row.key}`}>
              <th scope="row">{row.label}</th>
              <td className="number">{row.count.toLocaleString()}</td>
              <td>
                <span className="share">
                  <span className="track">
                    <span className="bar" style={{ width: `${Math.round(row.share * 100)}%` }} />
                  </span>
                  {Math.round(row.share * 100)} %
                </span>
              </td>
              <td>
                <button
                  type="button"
                  aria-expanded={open === row.key}
                  aria-label={`${open === row.key ? "Hide" : "Show"} the ${row.label} contacts of ${snapshot.label || "this snapshot"}`}
                  disabled={row.count === 0}
                  onClick={() => setOpen(open === row.key ? null : row.key)}
                >
                  {open === row.key ? "Hide" : "Show"}
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {open !== null && (
        <CategoryContacts key={open} segmentId={segmentId} snapshot={snapshot} row={rows.find((row) => row.key === open) as BreakdownRow} />
      )}
    </li>
  );
}

export function Snapshots({ segmentId, archived }: { segmentId: string; archived: boolean }) {
  const { api } = useApp();
  const [snapshots, setSnapshots] = useState<Snapshot[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [label, setLabel] = useState("");
  const [taking, setTaking] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);

  const load = (from: string | null, shown: Snapshot[]) =>
    api.snapshots(segmentId, from).then(
      (page) => {
        setSnapshots([...shown, ...page.snapshots]);
        setCursor(page.cursor);
      },
      (error: unknown) => setProblem(describeError(error)),
    );
  const loaded = useRef(false);
  useEffect(() => {
    if (loaded.current) return;
    loaded.current = true;
    void load(null, []);
  });

  const take = async (event: FormEvent) => {
    event.preventDefault();
    setTaking(true);
    setProblem(null);
    try {
      const taken = await api.takeSnapshot(segmentId, label.trim());
      setSnapshots((shown) => [taken, ...(shown ?? [])]);
      setLabel("");
    } catch (error) {
      setProblem(describeError(error));
    } finally {
      setTaking(false);
    }
  };

  return (
    <section className="panel snapshots" aria-labelledby="snapshots-title">
      <div className="panel-head">
        <h3 id="snapshots-title">Snapshots</h3>
      </div>
      {archived ? (
        <p className="hint">An archived segment cannot be snapshotted; its earlier snapshots stay here.</p>
      ) : (
        <form className="take-snapshot" onSubmit={take}>
          <label>
            Label <input value={label} maxLength={200} onChange={(event) => setLabel(event.target.value)} placeholder="e.g. the campaign it is for" />
          </label>
          <button type="submit" disabled={taking}>
            {taking ? "Taking…" : "Take snapshot"}
          </button>
        </form>
      )}
      {problem && <p role="alert" className="problem" data-testid="snapshot-problem">{problem}</p>}
      {snapshots === null && !problem && <p>loading snapshots…</p>}
      {snapshots !== null && snapshots.length === 0 && (
        <p className="segment-empty" data-testid="snapshots-empty">
          No snapshots yet.{archived ? "" : " Take one to freeze today's members for a send."}
        </p>
      )}
      {snapshots !== null && snapshots.length > 0 && (
        <ol className="snapshot-list">
          {snapshots.map((snapshot) => (
            <SnapshotCard key={snapshot.snapshot_id} segmentId={segmentId} snapshot={snapshot} />
          ))}
        </ol>
      )}
      {cursor && (
        <button type="button" onClick={() => void load(cursor, snapshots ?? [])}>
          Older snapshots
        </button>
      )}
    </section>
  );
}
