/**
 * Who made the segment and who relies on it, and what a marketer can do with it as a
 * whole: duplicate it, or archive it. Archiving a segment that modules target asks for
 * confirmation first, naming them (the API refuses it otherwise, and tells them on the
 * event bus once confirmed).
 */
import { useState } from "react";
import { useLocation } from "wouter";

import { inUseBy, type Segment } from "../api";
import { useApp } from "../context";
import { describeError } from "./logic";

/**
 * The question a change of a segment in use asks before it is made again with `confirm`:
 * which modules target it, and what confirming does to them.
 */
export function InUseConfirm(props: { users: string[]; consequence: string; action: string; busy?: boolean; testId: string; onConfirm: () => void; onCancel: () => void }) {
  const { users, consequence, action, busy, testId, onConfirm, onCancel } = props;
  return (
    <div className="conflict" role="alert" data-testid={testId}>
      <p>
        {users.length === 1 ? "A module targets" : `${users.length} modules target`} this segment ({users.join(", ")}). {consequence}, and they are told on the
        event bus.
      </p>
      <button type="button" disabled={busy} onClick={onConfirm}>
        {action}
      </button>{" "}
      <button type="button" onClick={onCancel}>
        Cancel
      </button>
    </div>
  );
}

export function Provenance({ segment }: { segment: Segment }) {
  const users = segment.used_by ?? [];
  return (
    <>
      <p className="segment-meta" data-testid="segment-provenance">
        created by {segment.created_by ?? "an unnamed key"} · version {segment.version} saved by {segment.updated_by ?? "an unnamed key"}
        {segment.teams.length > 0 && <> · teams {segment.teams.join(", ")}</>}
      </p>
      <p className="segment-meta" data-testid="segment-users">
        {users.length === 0 ? (
          "No module has registered that it targets this segment."
        ) : (
          <>
            In use by{" "}
            {users.map((usage, index) => (
              <span key={usage.user}>
                {index > 0 && ", "}
                <code title={`registered by ${usage.registered_by ?? "an unnamed key"} on ${new Date(usage.registered_at).toLocaleString()}`}>{usage.user}</code>
              </span>
            ))}
          </>
        )}
      </p>
    </>
  );
}

export function SegmentActions({ segment, onArchived }: { segment: Segment; onArchived: (archived: Segment) => void }) {
  const { api, reloadSegments } = useApp();
  const [, navigate] = useLocation();
  const [users, setUsers] = useState<string[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const act = async (action: () => Promise<void>) => {
    setBusy(true);
    setProblem(null);
    try {
      await action();
    } catch (error) {
      const using = inUseBy(error);
      if (using) setUsers(using);
      else setProblem(describeError(error));
    } finally {
      setBusy(false);
    }
  };
  const archive = (confirm: boolean) =>
    act(async () => {
      setUsers(null);
      onArchived(await api.archive(segment.id, confirm));
      void reloadSegments();
    });
  const duplicate = () =>
    act(async () => {
      const copy = await api.duplicate(segment.id);
      void reloadSegments();
      navigate(`/segments/${encodeURIComponent(copy.id)}`);
    });

  return (
    <div className="segment-actions">
      <button type="button" disabled={busy} onClick={() => void duplicate()}>
        Duplicate
      </button>
      {segment.status !== "archived" && (
        <button type="button" disabled={busy} onClick={() => void archive(false)}>
          Archive
        </button>
      )}
      {users && (
        <InUseConfirm
          users={users}
          consequence="Archived, it stops being kept up to date"
          action="Archive anyway"
          busy={busy}
          testId="archive-confirm"
          onConfirm={() => void archive(true)}
          onCancel={() => setUsers(null)}
        />
      )}
      {problem && (
        <p role="alert" className="problem">
          {problem}
        </p>
      )}
    </div>
  );
}
