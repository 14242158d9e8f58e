/** The segment's current members, a page at a time, each one a link to why it is a member. */
import { type FormEvent, useEffect, useState } from "react";
import { Link } from "wouter";

import { ApiError, type Members as MembersPage, type Membership } from "../api";
import { useApp } from "../context";
import { type CursorStack, describeError, firstPage, nextPage, previousPage } from "./logic";

export const MEMBERS_PER_PAGE = 50;

const explainHref = (segmentId: string, contact: string) =>
  `/explain/${encodeURIComponent(segmentId)}/${encodeURIComponent(contact)}`;

/** One contact looked up directly: quicker than paging for it, and says since when. */
function MemberCheck({ segmentId }: { segmentId: string }) {
  const { api } = useApp();
  const [contact, setContact] = useState("");
  const [answer, setAnswer] = useState<Membership | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  const check = async (event: FormEvent) => {
    event.preventDefault();
    const id = contact.trim();
    if (id === "") return;
    setAnswer(null);
    setProblem(null);
    try {
      setAnswer(await api.membership(segmentId, id));
    } catch (error) {
      setProblem(error instanceof ApiError && error.status === 404 ? `No contact “${id}” in this tenant.` : describeError(error));
    }
  };

  const when = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString() : null);
  return (
    <form className="member-check" onSubmit={check}>
      <label>
        Is this contact a member? <input value={contact} onChange={(event) => setContact(event.target.value)} placeholder="contact id" />
      </label>{" "}
      <button type="submit">Check</button>
      {answer && (
        <p role="status" data-testid="member-check">
          {answer.member
            ? `${answer.contact_id} is a member${when(answer.entered_at) ? `, since ${when(answer.entered_at)}` : ""}.`
            : `${answer.contact_id} is not a member${when(answer.exited_at) ? `; it exited ${when(answer.exited_at)}` : ""}.`}{" "}
          <Link href={explainHref(segmentId, answer.contact_id)}>Why?</Link>
        </p>
      )}
      {problem && (
        <p role="alert" className="problem">
          {problem}
        </p>
      )}
    </form>
  );
}

interface MembersProps {
  segmentId: string;
  total: number | null | undefined;
  /** An archived segment has no member list to read (the API refuses it). */
  archived: boolean;
  refreshKey: number;
}

export function Members({ segmentId, total, archived, refreshKey }: MembersProps) {
  const { api } = useApp();
  const [stack, setStack] = useState<CursorStack>(firstPage);
  /** The page on screen and its depth in the stack: the range shown is the loaded page's, not the one being read. */
  const [shown, setShown] = useState<{ depth: number; page: MembersPage } | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const depth = stack.length;
  const cursor = stack[depth - 1];

  useEffect(() => {
    if (archived) return;
    let current = true;
    setProblem(null);
    api.members(segmentId, cursor, MEMBERS_PER_PAGE).then(
      (loaded) => current && setShown({ depth, page: loaded }),
      (error: unknown) => current && setProblem(describeError(error)),
    );
    return () => {
      current = false;
    };
  }, [api, segmentId, cursor, depth, refreshKey, archived]);

  const page = shown?.page ?? null;
  const loading = shown === null || shown.depth !== depth;
  const first = ((shown?.depth ?? 1) - 1) * MEMBERS_PER_PAGE + 1;
  const count = page?.members.length ?? 0;
  return (
    <section className="panel members" aria-labelledby="members-title">
      <div className="panel-head">
        <h3 id="members-title">Members</h3>
        <div className="pager">
          <button type="button" onClick={() => setStack(previousPage)} disabled={loading || depth === 1}>
            ← Previous
          </button>
          <span data-testid="members-range" aria-live="polite">
            {count > 0 ? `${first.toLocaleString()}–${(first + count - 1).toLocaleString()}` : "—"}
            {typeof total === "number" && ` of ${total.toLocaleString()}`}
          </span>
          <button type="button" onClick={() => page?.cursor && setStack(nextPage(stack, page.cursor))} disabled={loading || !page?.cursor}>
            Next →
          </button>
        </div>
      </div>
      {archived && (
        <p className="segment-empty" data-testid="members-archived">
          An archived segment has no members to list.
        </p>
      )}
      {problem && <p role="alert" className="problem">{problem}</p>}
      {loading && !problem && !archived && <p className="hint">loading members…</p>}
      {page !== null && page.members.length === 0 && (
        <p className="segment-empty" data-testid="members-empty">
          {shown?.depth === 1 ? "No members yet." : "No more members on this page: they left since the last one."}
        </p>
      )}
      {page !== null && page.members.length > 0 && (
        <ol className="member-list" start={first} data-testid="members-list">
          {page.members.map((contact) => (
            <li key={contact}>
              <Link href={explainHref(segmentId, contact)} title={`why ${contact} is a member`}>
                {contact}
              </Link>
            </li>
          ))}
        </ol>
      )}
      {!archived && <MemberCheck segmentId={segmentId} />}
    </section>
  );
}
